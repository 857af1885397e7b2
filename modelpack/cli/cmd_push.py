"""`modelpack push PACKAGE` and `modelpack verify-pull PACKAGE`: publish to a registry, and
prove that a clean Ollama pulls the stable tag and runs it."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import click

from modelpack.cli.options import spec_file_option
from modelpack.cli.progress import ProgressLine

registry_option = click.option(
    "--registry",
    "namespace",
    metavar="HOST:PORT/NS",
    default=None,
    help="The registry namespace to use instead of the spec's registry.namespace.",
)
insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="Allow a plain-HTTP registry (also set by the spec's registry.insecure).",
)


@click.command("push", short_help="Push a package's tags to a registry.")
@click.argument("package")
@spec_file_option
@registry_option
@insecure_option
@click.option(
    "--serve",
    is_flag=True,
    help="Push from modelpack's managed Ollama (the one `build --serve` uses).",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was pushed as JSON.")
def push_command(
    package: str,
    spec_file: Path | None,
    namespace: str | None,
    *,
    insecure: bool,
    serve: bool,
    as_json: bool,
) -> None:
    """Push PACKAGE's passing variant tags, then its stable tag, to the registry.

    Each tag is read back through the registry's v2 API; a failed push leaves no tag that
    points at missing blobs. Prints `name -> manifest digest` per tag.

    Exit status: 0 pushed, 1 a push failed, 2 usage or setup error (registry down).
    """
    from rich.console import Console

    from modelpack.edge.project import managed_server, open_project
    from modelpack.jobs.publish import Publisher

    err = Console(stderr=True)
    project = open_project(spec_file)
    project.loaded.package(package)
    server = managed_server(project.home) if serve else None
    try:
        host = server.host if server else project.server_host(offers_serve=True)
        with project.client(host) as client:
            display = _Display(err)
            publisher = Publisher(
                project, client, namespace=namespace, insecure=insecure, on_event=display.event
            )
            err.print(
                f"pushing [bold]{package}[/] from Ollama {client.version()} at "
                f"{client.base_url} to {publisher.namespace}"
            )
            with display:
                result = publisher.push(package)
    finally:
        if server is not None:
            server.stop()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "registry": result.registry,
                    "pushed": [p.model_dump(mode="json") for p in result.pushed],
                    "skipped": [{"tag": t, "reason": r} for t, r in result.skipped],
                    "seconds": round(result.seconds, 3),
                },
                indent=2,
            )
        )
        return
    for tag, reason in result.skipped:
        err.print(f"[yellow]not pushed:[/] {tag} ({reason})")
    for published in result.pushed:
        click.echo(f"{published.name} -> {published.manifest_digest}")
    err.print(f"[green]pushed {len(result.pushed)} tag(s) in {result.seconds:.1f} s[/]")


@click.command("verify-pull", short_help="Prove a clean Ollama can pull and run the package.")
@click.argument("package")
@spec_file_option
@registry_option
@insecure_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks and the answer as JSON.")
def verify_pull_command(
    package: str, spec_file: Path | None, namespace: str | None, *, insecure: bool, as_json: bool
) -> None:
    """Pull PACKAGE's pushed stable tag into a clean, separate Ollama (own port, own models
    dir), run the template gate and the first smoke prompt on it: what a user will experience.

    The pulled digest must be the registry's and the one recorded at push, with the pushed
    layers. Exit status: 0 verified, 1 a check or the smoke test failed, 2 usage or setup error.
    """
    from rich.console import Console

    from modelpack.edge.project import find_build, open_project
    from modelpack.jobs.verify_pull import PullVerifier

    err = Console(stderr=True)
    project = open_project(spec_file)
    project.loaded.package(package)
    # The same binary `build --serve` runs, on its own port and models dir.
    build = find_build(project.home)
    run_dir = project.home / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="verify-pull-", dir=run_dir))
    try:
        display = _Display(err)
        verifier = PullVerifier(
            project, namespace=namespace, insecure=insecure, on_event=display.event
        )
        with display:
            result = verifier.verify(package, build=build, workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _verify_report(result, err)
    if not result.passed:
        raise click.exceptions.Exit(1)


def _verify_report(result: Any, err: Any) -> None:
    from modelpack.cli.output import markup

    for check in result.checks:
        mark = "[green]ok[/]" if check.ok else "[red]MISMATCH[/]"
        detail = check.actual if check.ok else f"expected {check.expected}, got {check.actual}"
        err.print(f"{mark} {markup(check.what)}: {markup(str(detail))}")
    smoke = result.smoke
    color = "green" if smoke.verdict == "passed" else "red"
    why = f": {markup(smoke.reason)}" if smoke.reason else ""
    err.print(
        f"[{color}]smoke test {smoke.verdict}[/]{why} (Ollama {result.server_version}, "
        f"pulled in {result.pull_s:.1f} s)"
    )
    for note in result.notes:
        err.print(f"[yellow]note:[/] {markup(note)}")
    click.echo(f"{result.name} -> {result.digest}")
    runs = smoke.prompts[0].runs if smoke.prompts else []
    if runs:
        from modelpack.cli.output import sanitize

        answer = sanitize(runs[0].answer.strip(), keep_newlines=True)
        click.echo(f"{result.name} answers {smoke.prompts[0].prompt!r}:\n{answer}")


class _Display(ProgressLine):
    """A transient progress bar for push and pull, and a line for each retry and tag pushed."""

    def event(self, event: Any) -> None:
        from modelpack.cli.output import markup
        from modelpack.jobs.events import EventKind

        if event.kind == EventKind.RETRY:
            self.console.print(f"[yellow]retry:[/] {markup(event.message)}")
            return
        if event.kind == EventKind.PUSHED:
            digest = markup(event.digest.removeprefix("sha256:")[:12])
            self.console.print(f"[green]pushed[/] {markup(event.subject)} (sha256:{digest})")
            return
        if event.kind in (EventKind.CHECK, EventKind.PARITY):
            self.console.print(markup(event.message))
            return
        label = f"[bold]{markup(event.subject)}[/] " if event.subject else ""
        self.progress.update(
            self.task,
            description=f"{label}{markup(event.message)}",
            completed=event.done or 0,
            total=event.total,
        )
