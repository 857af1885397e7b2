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
    help="Start a managed Ollama for the build (the `ollama` on PATH, else the "
    "installed CPU build) and stop it afterwards; it is restarted if it crashes.",
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

    from modelpack.edge.project import ollama_host, open_project
    from modelpack.errors import stop_reason

    err = Console(stderr=True)
    project = open_project(spec_file)
    spec = project.loaded.package(package)
    budget = _budget(project, vram, ram)
    if dry_run:
        _dry_run(project, package, err)
        return
    from modelpack.edge.blobs import DigestCache
    from modelpack.edge.client import OllamaClient
    from modelpack.jobs.build import Builder

    server = _managed_server(project.home) if serve else None
    host = server.host if server else ollama_host(project)
    try:
        with OllamaClient(host) as client:
            err.print(
                f"building [bold]{package}[/] ({spec.model}) on Ollama "
                f"{client.version()} at {client.base_url}"
            )
            display = _Display(err)
            builder = Builder(
                project,
                client,
                cache=DigestCache.in_home(project.home),
                server=server,
                on_event=display.event,
            )
            try:
                with display:
                    record = builder.build(package, force=force, smoke=not no_smoke, budget=budget)
            except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM as Terminated
                word, code = stop_reason(interrupt)
                err.print(f"[yellow]{word}: the stable tag was not changed[/]")
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
    err.print(f"[green]{record.stable_tag} -> {record.stable_tag}-{record.stable_variant}[/]")
    stable = record.variant(record.stable_variant)
    if stable is not None and stable.prompts and not as_json:
        first = stable.prompts[0]
        click.echo(f"{record.stable_tag} answers {first.prompt!r}:\n{first.answer.strip()}")


def _budget(project: Any, vram: str | None, ram: str | None) -> Any:
    """The spec's ollama.memory with --vram/--ram applied; None when neither gives one."""
    from modelpack.core.gguf.memory import parse_size
    from modelpack.core.package.spec import MemoryBudget
    from modelpack.errors import UsageError

    for option, value in (("--vram", vram), ("--ram", ram)):
        if value is not None:
            try:
                parse_size(value)
            except ValueError as exc:
                raise UsageError(f"{option}: {exc}") from None
    declared = project.loaded.spec.ollama.memory
    if vram is None and ram is None:
        return declared
    base = declared or MemoryBudget()
    return base.model_copy(
        update={"vram": vram if vram is not None else base.vram, "ram": ram or base.ram}
    )


def _managed_server(home: Path) -> Any:
    from modelpack.edge.server import OllamaBuild, OllamaServer

    build = OllamaBuild.on_path() or OllamaBuild.installed(home, "current")
    return OllamaServer(build, home / "run" / f"serve-{build.name}", ready_timeout=60).start()


def _dry_run(project: Any, package: str, err: Any) -> None:
    from modelpack.core.modelfile.request import local_files
    from modelpack.core.modelfile.syntax import parse

    spec = project.loaded.package(package)
    rendered = project.renderer().render_package(package)
    err.print(
        f"plan for {package} (Ollama {project.version}, {project.version_from}); nothing is sent"
    )
    for item in rendered:
        files = local_files(parse(item.text), item.path.parent)
        uploads = ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.0f} MB)" for p in files)
        click.echo(
            f"{spec.model}:{package}-{item.variant}: create from "
            f"{item.path.relative_to(project.spec_dir)}"
            + (f", blobs: {uploads}" if uploads else "")
        )
        for warning in item.warnings:
            err.print(f"[yellow]warning:[/] {warning}")
    click.echo(f"{spec.model}:{package}: copy of the first variant that passes its smoke test")


_VERDICT_STYLE = {"passed": "green", "skipped": "yellow"}


class _Display(ProgressLine):
    """A live progress line (with a bar for uploads and create progress) and a line per verdict."""

    def event(self, event: Any) -> None:
        from rich.markup import escape

        label = f"[bold]{escape(event.variant)}[/] " if event.variant else ""
        if event.kind == "verdict":
            verdict = event.message.split(":", 1)[0]
            mark = f"[{_VERDICT_STYLE.get(verdict, 'red')}]{verdict}[/]"
            rest = escape(event.message.split(":", 1)[1].strip()) if ":" in event.message else ""
            self.console.print(f"{label}{mark}" + (f": {rest}" if rest else ""))
            return
        if event.kind == "restart":
            self.console.print(f"{label}[yellow]{escape(event.message)}[/]")
        self.progress.update(
            self.task,
            description=f"{label}{escape(event.message)}",
            completed=event.done or 0,
            total=event.total,
        )


def _table(record: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    from modelpack.cli.tables import build_table

    table, notes = build_table(record)
    out = Console()
    out.print(table)
    for note in notes:
        out.print(escape(note), highlight=False)
    err = Console(stderr=True)
    for v in record.variants:
        if v.template_difference:
            err.print(f"[yellow]warning:[/] {escape(v.tag)}: {escape(v.template_difference)}")
