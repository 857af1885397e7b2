"""`modelpack builds PACKAGE`: the recorded builds, with the references `diff` takes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelpack.cli.options import spec_file_option


@click.command("builds", short_help="List a package's recorded builds (refs for diff).")
@click.argument("package")
@spec_file_option
@click.option("--json", "as_json", is_flag=True, help="Print the builds as JSON.")
def builds_command(package: str, spec_file: Path | None, *, as_json: bool) -> None:
    """List PACKAGE's recorded builds, newest first: the reference and id to give `diff`
    (`build:PACKAGE@previous`, `build:PACKAGE@<id>`), the Ollama version, the variant made
    stable and each variant's verdict. Reads modelfiles/PACKAGE/builds/; no server needed.

    Exit status: 0 listed, 2 no such package or no recorded build.
    """
    from modelpack.edge.history import build_summaries
    from modelpack.edge.project import open_project

    summaries = build_summaries(open_project(spec_file), package)
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    for s in summaries:
        verdicts = ", ".join(f"{variant} {verdict}" for variant, verdict in s.verdicts.items())
        stable = f"stable {s.stable_variant}" if s.stable_variant else "no stable variant"
        click.echo(
            f"{s.ref:<9} {s.id}  Ollama {s.ollama_version}  {stable}  ({verdicts or 'no variant'})"
        )
