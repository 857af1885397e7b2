"""`modelpack init GGUF`: write a starter spec for a GGUF."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("init", short_help="Write a starter modelpack.yaml for a GGUF.")
@click.argument("gguf", type=click.Path(path_type=Path))
@click.option(
    "--chat-template",
    default="auto",
    show_default=True,
    metavar="FORMAT",
    help="The model's chat format (e.g. chatml); auto detects it from the GGUF's own chat "
    "template and fails, naming the nearest format, unless one matches exactly.",
)
@click.option("--package", default="main", show_default=True, help="Package name.")
@click.option("--model", default=None, help="Ollama tag prefix (default: from the file name).")
@click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.Path(path_type=Path),
    default=Path("modelpack.yaml"),
    show_default=True,
)
@click.option(
    "--ollama-version",
    "version",
    default=None,
    metavar="X.Y.Z",
    help="Target Ollama version (default: the newest stable release modelpack knows).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing spec.")
def init_command(
    gguf: Path,
    chat_template: str,
    package: str,
    model: str | None,
    spec_file: Path,
    version: str | None,
    *,
    force: bool,
) -> None:
    """Write a starter spec (modelpack.yaml) for GGUF, then check that it renders.

    The spec's first line points editors (yaml-language-server) at modelpack.schema.json, the
    spec's JSON Schema, which init writes next to it; `modelpack schema --output` refreshes it.
    """
    from modelpack.core.modelfile.params import NEWEST_STABLE
    from modelpack.core.package.schema import SCHEMA_FILE, schema_text
    from modelpack.core.package.spec import load_spec
    from modelpack.core.package.starter import model_name, starter_spec
    from modelpack.core.versions import OllamaVersion
    from modelpack.edge.files import atomic_write_many
    from modelpack.edge.project import open_project
    from modelpack.errors import UsageError

    if not gguf.is_file():
        raise UsageError(f"{gguf} is not a file", hint="give the path of a .gguf model file")
    if spec_file.exists() and not force:
        raise UsageError(f"{spec_file} already exists", hint="use --force to overwrite it")
    schema_file = spec_file.parent / SCHEMA_FILE
    schema = schema_text()
    schema_new = not schema_file.exists()
    if not schema_new and not force and schema_file.read_bytes() != schema.encode():
        raise UsageError(
            f"{schema_file} already exists and is not this modelpack's spec schema",
            hint="use --force to overwrite it, or `modelpack schema --output` to refresh it",
        )
    target = OllamaVersion.parse(version) if version else NEWEST_STABLE
    project_dir = spec_file.resolve().parent
    source = (
        os.path.relpath(gguf.resolve(), project_dir)
        if gguf.resolve().is_relative_to(project_dir)
        else str(gguf.resolve())
    )
    try:
        text = starter_spec(
            package=package,
            model=model or model_name(gguf.stem),
            source=source,
            chat_template=chat_template,
            version=str(target),
        )
    except ValueError as exc:
        raise UsageError(str(exc), hint="use lowercase letters, digits, '.', '_' and '-'") from None
    load_spec(text, source=str(spec_file))
    atomic_write_many({spec_file: text, schema_file: schema})
    try:
        rendered = open_project(spec_file).renderer().render_package(package)
    except BaseException:  # not a half-made project: the spec goes if it cannot render
        spec_file.unlink()
        if schema_new:
            schema_file.unlink()
        raise
    detected = rendered[0].chat_format if chat_template == "auto" else None
    chat = f", chat format {detected} (detected)" if detected else ""
    chosen = (
        "" if version else " (the newest stable release modelpack knows; --ollama-version to pick)"
    )
    click.echo(
        f"wrote {spec_file} (and its schema, {schema_file.name}): package {package!r}{chat}, "
        f"for Ollama {target}{chosen}; "
        f"next: modelpack render {package}"
    )
