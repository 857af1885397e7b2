"""`modelpack render [PACKAGE] [--variant V]`: write a package's Modelfile variants, and the
launch script of each of its serve blocks (`serve-<engine>.sh`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelpack.cli.options import spec_file_option

if TYPE_CHECKING:
    from modelpack.core.package.render import Rendered, Renderer
    from modelpack.core.serve.launch import Launch


@click.command("render", short_help="Render a package's Modelfiles from the spec.")
@click.argument("package", required=False)
@spec_file_option
@click.option("--variant", "variants", multiple=True, help="Only this variant (repeatable).")
@click.option(
    "--ollama-version",
    "version",
    metavar="X.Y.Z",
    help="Target Ollama version (default: the spec's, else the server's, else newest).",
)
@click.option("--stdout", "to_stdout", is_flag=True, help="Print instead of writing files.")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 if the files on disk differ from what would be rendered (for CI).",
)
def render_command(
    package: str | None,
    spec_file: Path | None,
    variants: tuple[str, ...],
    version: str | None,
    *,
    to_stdout: bool,
    check: bool,
) -> None:
    """Render PACKAGE's variants (default: every package) to modelfiles/<package>/, and each
    serve block's launch command to modelfiles/<package>/serve-<engine>.sh.

    Everything is rendered and checked before anything is written, and files are replaced
    atomically: a failed render leaves the old files as they were.
    """
    from modelpack.core.serve.launch import ServeRenderer
    from modelpack.edge.files import atomic_write_many
    from modelpack.edge.project import open_project

    if variants and not package:
        raise click.UsageError("--variant needs a PACKAGE")
    project = open_project(spec_file, version=version)
    renderer = project.renderer()
    names = [package] if package else list(project.loaded.spec.packages)
    rendered = [r for name in names for r in renderer.render_package(name, variants or None)]
    # --variant narrows the Modelfiles; the launch scripts belong to the package as a whole.
    serve = ServeRenderer(project.loaded, spec_dir=renderer.spec_dir)
    launches = [] if variants else [x for name in names for x in serve.render_package(name)]
    for result in rendered:
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)

    if to_stdout:
        click.echo("\n".join([*(r.text for r in rendered), *(x.text for x in launches)]), nl=False)
        return
    if check:
        stale = _stale(rendered, launches, names, renderer, all_variants=not variants)
        for line in stale:
            click.echo(line)
        if stale:
            click.echo("run `modelpack render` and commit the result", err=True)
            raise click.exceptions.Exit(1)
        scripts = f" and {len(launches)} launch script(s)" if launches else ""
        click.echo(
            f"{len(rendered)} Modelfile(s){scripts} up to date (Ollama {project.version})",
            err=True,
        )
        return
    atomic_write_many({**{r.path: r.text for r in rendered}, **{x.path: x.text for x in launches}})
    _executable([x.path for x in launches])
    for path in [*(r.path for r in rendered), *(x.path for x in launches)]:
        click.echo(_relative(path))


def _executable(paths: Sequence[Path]) -> None:
    """A launch script runs as ./serve-<engine>.sh: add the execute bits its read bits allow."""
    for path in paths:
        mode = path.stat().st_mode
        path.chmod(mode | ((mode & 0o444) >> 2))


def _stale(
    rendered: Sequence[Rendered],
    launches: Sequence[Launch],
    names: Sequence[str],
    renderer: Renderer,
    *,
    all_variants: bool,
) -> list[str]:
    out: list[str] = []
    pairs = [*((r.path, r.text) for r in rendered), *((x.path, x.text) for x in launches)]
    for path, text in pairs:
        if not path.is_file():
            out.append(f"{_relative(path)}: missing")
        elif path.read_text(encoding="utf-8") != text:
            out.append(f"{_relative(path)}: differs from what the spec renders")
    if all_variants:
        expected = {r.path for r in rendered} | {x.path for x in launches}
        for name in names:
            folder = renderer.output_path(name, "x").parent
            found = [*folder.glob("*.Modelfile"), *folder.glob("serve-*.sh")]
            for path in sorted(found) if folder.is_dir() else []:
                if path not in expected:
                    out.append(f"{_relative(path)}: not produced by the spec (remove it)")
    return out


def _relative(path: Path) -> str:
    from modelpack.edge.project import shown

    return str(shown(path))
