"""`modelpack build PACKAGE`: create, smoke-test, fall back, publish the stable tag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from modelpack.cli.options import spec_file_option
from modelpack.cli.progress import ProgressLine


@click.command("build", short_help="Create and smoke-test variants, then move the stable tag.")
@click.argument("package")
@spec_file_option
@click.option(
    "--serve",
    is_flag=True,
    help="Start a managed Ollama for the build (the `ollama` on PATH, else the CPU build "
    "`modelpack server install` installs) and stop it afterwards; it is restarted if it crashes.",
)
@click.option("--force", is_flag=True, help="Re-create and re-test even unchanged variants.")
@click.option(
    "--no-smoke",
    "no_smoke",
    is_flag=True,
    help="Only create the variant tags; the stable tag does not move.",
)
@click.option(
    "--dry-run", is_flag=True, help="Render, lint and print the plan without touching the server."
)
@click.option(
    "--vram",
    metavar="SIZE",
    help="GPU memory of the target machine (e.g. 24GiB; 0 for CPU only): variants that "
    "cannot fit are skipped before create. Overrides ollama.memory in the spec.",
)
@click.option("--ram", metavar="SIZE", help="System memory of the target machine (e.g. 64GiB).")
@click.option("--json", "as_json", is_flag=True, help="Print the build record as JSON.")
def build_command(
    package: str,
    spec_file: Path | None,
    *,
    serve: bool,
    force: bool,
    no_smoke: bool,
    dry_run: bool,
    vram: str | None,
    ram: str | None,
    as_json: bool,
) -> None:
    """Build PACKAGE on a real Ollama: every variant created and smoke-tested in order; the
    stable tag <model>:<package> moves to the first that passed, and never otherwise.

    Exit status: 0 a variant passed, 1 none passed (or the server went away), 2 setup error.
    """
    from rich.console import Console

    from modelpack.cli.output import markup
    from modelpack.core.package.spec import memory_budget
    from modelpack.edge.project import managed_server, open_project
    from modelpack.errors import stop_reason

    err = Console(stderr=True)
    project = open_project(spec_file)
    spec = project.loaded.package(package)
    budget = memory_budget(project.loaded.spec.ollama.memory, vram=vram, ram=ram)
    if dry_run:
        _dry_run(project, package, budget, err)
        return
    from modelpack.edge.blobs import DigestCache

    cache = DigestCache.in_home(project.home)
    cache.prefetch(project.local_files(package))  # hashed while the build sets up
    from modelpack.edge.project import no_server
    from modelpack.errors import ServerGoneError
    from modelpack.jobs.build import Builder

    server = managed_server(project.home) if serve else None
    host = server.host if server else project.host
    try:
        with project.client(host) as client:
            try:  # the one probe: the build reuses the version it reads
                version = client.version()
            except ServerGoneError:  # nothing answers (a reply that is not Ollama's says so)
                if server is not None:
                    raise
                raise no_server(host, offers_serve=True) from None
            err.print(
                f"building [bold]{package}[/] ({spec.model}) on Ollama "
                f"{version} at {client.base_url}"
            )
            display = _Display(err)
            builder = Builder(
                project,
                client,
                cache=cache,
                server=server,
                on_event=display.event,
            )
            try:
                with display:
                    record = builder.build(package, force=force, smoke=not no_smoke, budget=budget)
            except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM as Terminated
                word, code = stop_reason(interrupt)
                message = builder.after_interrupt(package, word=word)
                err.print(f"[yellow]{markup(message)}[/]")
                raise click.exceptions.Exit(code) from None
    finally:
        if server is not None:
            server.stop()
    if as_json:
        click.echo(json.dumps(record.model_dump(mode="json"), indent=2))
    else:
        _table(record)
    if no_smoke:
        failed = [v.variant for v in record.variants if v.verdict == "failed"]
        err.print(f"created without smoke tests; {record.stable_tag} was not moved")
        if failed:
            raise click.exceptions.Exit(1)
        return
    if record.stable_variant is None:
        err.print(f"[red]no variant passed: {record.stable_tag} was left as it was[/]")
        raise click.exceptions.Exit(1)
    stable = record.variant(record.stable_variant)
    assert stable is not None
    err.print(f"[green]{record.stable_tag} -> {stable.tag}[/]")
    runs = stable.prompts[0].runs if stable.prompts else []
    if runs and not as_json:
        from modelpack.cli.output import sanitize

        answer = sanitize(runs[0].answer.strip(), keep_newlines=True)
        click.echo(f"{record.stable_tag} answers {stable.prompts[0].prompt!r}:\n{answer}")


def _dry_run(project: Any, package: str, budget: Any, err: Any) -> None:
    """The plan: each variant's tag, Modelfile and blobs, judged against the memory budget
    exactly as a build judges it (see `modelpack.jobs.build.does_not_fit`)."""
    from modelpack.core.package.tags import stable_tag, variant_tag
    from modelpack.jobs.build import does_not_fit

    spec = project.loaded.package(package)
    rendered = project.renderer().render_package(package)
    err.print(
        f"plan for {package} (Ollama {project.version}, {project.version_from}); nothing is sent"
    )
    for item in rendered:
        tag = variant_tag(spec.model, package, item.variant)
        too_big = does_not_fit(item, project.version, budget, spec.smoke) if budget else None
        if too_big is not None:
            click.echo(f"{tag}: skip, {too_big}")
            continue
        files = dict.fromkeys(item.files.values())
        uploads = ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.0f} MB)" for p in files)
        click.echo(
            f"{tag}: create from {item.path.relative_to(project.spec_dir)}"
            + (f", blobs: {uploads}" if uploads else "")
        )
        for warning in item.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
    click.echo(
        f"{stable_tag(spec.model, package)}: copy of the first variant that passes its smoke test"
    )


_VERDICT_STYLE = {"passed": "green", "skipped": "yellow"}


class _Display(ProgressLine):
    """A live progress line (with a bar for uploads and create progress) and a line per verdict."""

    def event(self, event: Any) -> None:
        from modelpack.cli.output import markup
        from modelpack.jobs.events import EventKind

        label = f"[bold]{markup(event.subject)}[/] " if event.subject else ""
        if event.kind == EventKind.VERDICT:
            verdict = str(event.verdict)
            mark = f"[{_VERDICT_STYLE.get(verdict, 'red')}]{verdict}[/]"
            rest = markup(event.message)
            self.console.print(f"{label}{mark}" + (f": {rest}" if rest else ""))
            return
        if event.kind == EventKind.RESTART:
            self.console.print(f"{label}[yellow]{markup(event.message)}[/]")
        self.progress.update(
            self.task,
            description=f"{label}{markup(event.message)}",
            completed=event.done or 0,
            total=event.total,
        )


def _table(record: Any) -> None:
    from rich.console import Console

    from modelpack.cli.output import markup
    from modelpack.cli.tables import build_table

    table, notes = build_table(record)
    out = Console()
    out.print(table)
    for note in notes:
        out.print(markup(note), highlight=False)
    err = Console(stderr=True)
    for v in record.variants:
        difference = v.template_difference
        # The template gate already made it the reason (require) or a warning (warn).
        said = [v.reason or "", *v.warnings]
        if difference and not any(difference in line for line in said):
            err.print(f"[yellow]warning:[/] {markup(v.tag)}: {markup(difference)}")
