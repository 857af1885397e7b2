"""`modelpack report`: re-render a saved matrix or build record, or merge matrix shards.

`modelpack report FILE` is short for `modelpack report show FILE`, as it was before `merge`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from modelpack.cli.cmd_matrix import _emit, _report_options, load_report


class _DefaultShow(click.Group):
    """A group whose first argument, when it names no subcommand, is a file for `show`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group(
    "report", cls=_DefaultShow, short_help="Re-render a saved matrix or build; merge shards."
)
def report_command() -> None:
    """Re-render a saved matrix JSON or build record (`report FILE`), or join the JSON reports
    of matrix shards into one (`report merge`)."""


@report_command.command("show", short_help="Re-render a saved matrix or build record.")
@click.argument("result_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_report_options
def show_command(
    result_file: Path,
    json_file: Path | None,
    junit_file: Path | None,
    markdown_file: Path | None,
) -> None:
    """Re-render a saved matrix JSON or build record (modelfiles/<package>/build.json)."""
    from modelpack.core.results.reports import as_matrix

    result = as_matrix(load_report(result_file))
    _emit(result, None, json_file, junit_file, markdown_file)


@report_command.command("merge", short_help="Join matrix shards' JSON reports into one.")
@click.argument(
    "result_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)
@_report_options
def merge_command(
    result_files: tuple[Path, ...],
    json_file: Path | None,
    junit_file: Path | None,
    markdown_file: Path | None,
) -> None:
    """Join the --json reports of `modelpack matrix --shard I/N` (every shard, each once) into
    one report; each cell keeps the host and server version it ran on.

    Exit status: 0 every cell passed, 1 a cell failed, 2 the reports do not make one matrix
    (a shard missing or given twice, shards of different runs).
    """
    from modelpack.core.results.reports import as_matrix
    from modelpack.core.results.shard import merge
    from modelpack.errors import InputError

    loaded: list[tuple[str, Any]] = []
    for path in result_files:
        result = as_matrix(load_report(path))
        if not result.cells and result.shard is None:
            raise InputError("holds no cells", source=str(path), hint="give matrix JSON reports")
        loaded.append((str(path), result))
    merged = merge(loaded)
    _emit(merged, None, json_file, junit_file, markdown_file)
    if not merged.passed:
        raise click.exceptions.Exit(1)
