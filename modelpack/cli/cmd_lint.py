"""`modelpack lint PATH...`: check Modelfiles against what a given Ollama version accepts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelpack.core.modelfile.diagnostics import Diagnostic
    from modelpack.core.modelfile.lint import LintReport
    from modelpack.core.versions import OllamaVersion

FORMATS = ("text", "json", "github")
MODELFILE_NAMES = ("Modelfile", "*.Modelfile", "*.modelfile")


@click.command("lint", short_help="Check Modelfiles against an Ollama version.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--ollama-version",
    "version_text",
    metavar="X.Y.Z",
    help="Target Ollama version. Default: the server at OLLAMA_HOST if one answers, "
    "else the newest version modelpack knows.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--fix",
    "apply_fix",
    is_flag=True,
    help="Remove removed/deprecated parameters and normalise quoting, rewriting files atomically.",
)
def lint_command(
    paths: tuple[Path, ...], version_text: str | None, fmt: str, *, apply_fix: bool
) -> None:
    """Lint Modelfiles (files, or folders searched for Modelfile and *.Modelfile).

    Exit status: 0 no errors (warnings allowed), 1 errors found, 2 usage error.
    """
    from modelpack.core.inputs import MODELFILE_LIMIT, read_bytes
    from modelpack.core.modelfile.lint import fix, lint
    from modelpack.edge.project import explicit_host, target_version
    from modelpack.errors import ModelfileError

    version, origin = target_version(version_text, host=explicit_host())
    files = _collect(paths)
    reports = []
    for path in files:
        data = read_bytes(path, limit=MODELFILE_LIMIT, what="Modelfile")
        if apply_fix:
            try:
                result = fix(data, source=str(path), version=version)
            except ModelfileError:
                result = None  # does not parse: lint reports why, nothing is rewritten
            if result is not None and result.changed:
                from modelpack.edge.files import atomic_write_text

                atomic_write_text(path, result.text)
                data = result.text.encode()
                click.echo(
                    f"fixed {path}: removed {len(result.removed)} parameter(s), "
                    f"rewrote {len(result.rewritten)} instruction(s)",
                    err=True,
                )
        reports.append(_trained_context(lint(data, source=str(path), version=version), path))

    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    if fmt == "json":
        click.echo(json.dumps(_json(reports, version, origin), indent=2))
    else:
        for report in reports:
            for diagnostic in report.diagnostics:
                click.echo(
                    _github(diagnostic, report.source)
                    if fmt == "github"
                    else diagnostic.format(report.source)
                )
        click.echo(
            f"{len(reports)} file(s) checked for Ollama {version} ({origin}): "
            f"{errors} error(s), {warnings} warning(s)",
            err=True,
        )
    if errors:
        raise click.exceptions.Exit(1)


def _trained_context(report: LintReport, path: Path) -> LintReport:
    """The report with num_ctx checked against the trained context of a FROM that names a local
    GGUF (its header only is read; a file that is not one is left to the build to report)."""
    from modelpack.core.gguf.reader import GGUFError, read_gguf
    from modelpack.core.modelfile.lint import with_trained_context
    from modelpack.core.modelfile.request import local_file

    source = report.modelfile.from_ if report.modelfile is not None else None
    gguf = local_file(source, path.parent) if source else None
    if gguf is None or "num_ctx" not in report.parameters:
        return report
    try:
        trained = read_gguf(gguf).context_length
    except (GGUFError, OSError):
        return report
    return with_trained_context(report, trained)


def _collect(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted({p for name in MODELFILE_NAMES for p in path.rglob(name) if p.is_file()})
            if not found:
                raise click.BadParameter(
                    f"no Modelfile or *.Modelfile under {path}", param_hint="PATHS"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise click.BadParameter(f"{path} does not exist", param_hint="PATHS")
    return files


def _json(reports: Sequence[LintReport], version: OllamaVersion, origin: str) -> dict[str, Any]:
    return {
        "ollama_version": str(version),
        "version_from": origin,
        "errors": sum(len(r.errors) for r in reports),
        "warnings": sum(len(r.warnings) for r in reports),
        "files": [
            {
                "path": r.source,
                "ok": r.ok,
                "parameters": r.parameters,
                "diagnostics": [
                    {
                        "line": d.line,
                        "severity": d.severity.value,
                        "code": d.code,
                        "message": d.message,
                        "hint": d.hint,
                    }
                    for d in r.diagnostics
                ],
            }
            for r in reports
        ],
    }


def _github(diagnostic: Diagnostic, source: str) -> str:
    """A GitHub Actions workflow command, escaped as the runner expects."""

    def data(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def prop(text: str) -> str:
        return data(text).replace(":", "%3A").replace(",", "%2C")

    level = "error" if diagnostic.is_error else "warning"
    props = f"file={prop(source)}"
    if diagnostic.line is not None:
        props += f",line={diagnostic.line}"
    props += f",title={prop('modelpack ' + diagnostic.code)}"
    message = diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint else "")
    return f"::{level} {props}::{data(message)}"
