"""`modelpack serve PACKAGE`: the package's declared llama-server, smoke-tested, until Ctrl-C."""

from __future__ import annotations

from pathlib import Path

import click

from modelpack.cli.options import spec_file_option


@click.command("serve", short_help="Serve a package on its declared llama-server.")
@click.argument("package")
@spec_file_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="The loopback port (default: the serve block's; 0 picks a free one).",
)
def serve_command(package: str, spec_file: Path | None, port: int | None) -> None:
    """Start PACKAGE's llama-server (its `serve:` block) on loopback, run the package's smoke
    prompts against it, print its URL and serve until Ctrl-C (or SIGTERM), which stops it.

    Exit status: 1 a smoke prompt failed or the server died (it is stopped either way), 2 a
    usage or setup error (no llama-server block, port taken, server not starting), 130 on
    Ctrl-C, 143 on SIGTERM.
    """
    from rich.console import Console

    from modelpack.cli.output import markup, sanitize
    from modelpack.cli.tables import terminal_table
    from modelpack.edge.project import open_project
    from modelpack.errors import ServerGoneError
    from modelpack.jobs.serve import served, smoke

    err = Console(stderr=True)
    project = open_project(spec_file)
    project.loaded.package(package)
    with served(
        project,
        package,
        port=port,
        on_event=lambda e: err.print(f"[dim]{markup(e.message)}[/]"),
    ) as serving:
        for note in serving.notes:
            err.print(f"note: {markup(note)}", highlight=False)
        result = smoke(project, serving)
        table, notes = terminal_table(result)
        err.print(table)
        for line in notes:
            err.print(markup(line), highlight=False)
        if not result.passed:
            err.print(f"{markup(package)} failed its smoke test on llama-server; stopping it")
            raise click.exceptions.Exit(1)
        click.echo(
            f"serving {sanitize(package)} at {serving.url} (model {sanitize(serving.model)}, "
            f"llama-server pid {serving.server.pid}); Ctrl-C stops it"
        )
        code = serving.server.wait()
        raise ServerGoneError(
            f"llama-server for {package} exited with code {code}: {serving.server.tail()}"
        )
