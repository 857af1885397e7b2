"""`modelpack schema`: the JSON Schema of modelpack.yaml, for editors and validators."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("schema", short_help="Print or write the JSON Schema of modelpack.yaml.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file instead of printing it.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 if the --output file differs from the schema (for CI).",
)
def schema_command(output: Path | None, *, check: bool) -> None:
    """The JSON Schema (draft 2020-12) of the package spec, generated from the models that
    modelpack validates specs with.

    Point an editor at it with a first line `# yaml-language-server: $schema=<path or URL>`
    (`modelpack init` writes one), or check a spec with any validator, e.g. check-jsonschema.
    """
    from modelpack.core.package.schema import schema_text

    text = schema_text()
    if check:
        if output is None:
            raise click.UsageError("--check needs --output FILE: the schema file to compare")
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != text:
            state = "missing" if current is None else "out of date"
            click.echo(f"{output}: {state}; run `modelpack schema --output {output}`", err=True)
            raise click.exceptions.Exit(1)
        click.echo(f"{output}: up to date", err=True)
        return
    if output is None:
        click.echo(text, nl=False)
        return
    from modelpack.edge.files import atomic_write_text

    atomic_write_text(output, text)
    click.echo(f"wrote {output}", err=True)
