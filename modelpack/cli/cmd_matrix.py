"""`modelpack matrix` and `modelpack report`: the smoke-test matrix and its reports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from modelpack.cli.options import spec_file_option

_OUT = click.Path(dir_okay=False, path_type=Path)


def _report_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--json", "json_file", type=_OUT, help="Write the result as JSON."),
            click.option("--junit", "junit_file", type=_OUT, help="Write JUnit XML for CI."),
            click.option(
                "--markdown",
                "markdown_file",
                type=_OUT,
                help="Write a Markdown table for release notes.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.command("matrix", short_help="Run the smoke-test matrix and write reports.")
@click.argument("packages", nargs=-1)
@spec_file_option
@click.option("--variant", "variants", multiple=True, help="Only this variant (repeatable).")
@click.option(
    "--prompt", "prompts", multiple=True, help="Only prompts containing this text (repeatable)."
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    default=1,
    show_default=True,
    help="Runs per prompt, for medians and spread.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first failing variant.")
@click.option("--build", "build_first", is_flag=True, help="Build the packages first.")
@click.option(
    "--shard",
    "shard_text",
    metavar="I/N",
    help="Run only shard I of N: a deterministic, balanced share of the cells, for spreading "
    "the matrix over CI jobs (join their --json reports with `modelpack report merge`).",
)
@_report_options
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A previous matrix JSON to compare with.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 10),
    default=0.2,
    show_default=True,
    help="Relative change counted as a regression.",
)
@click.option(
    "--match",
    default="package,variant,prompt",
    show_default=True,
    help="Match cells with the baseline's by these fields; package,prompt compares an Ollama "
    "run with an --openai run of the same package.",
)
@click.option(
    "--openai",
    "openai_url",
    metavar="URL",
    help="Run the prompts against an OpenAI-compatible server (vLLM, llama-server) at URL.",
)
@click.option("--model", "openai_model", help="The model name to ask the --openai server for.")
@click.option(
    "--engine",
    type=click.Choice(["ollama", "llama-server"]),
    default="ollama",
    show_default=True,
    help="llama-server: start each package's declared llama-server and run its prompts there.",
)
def matrix_command(
    packages: tuple[str, ...],
    spec_file: Path | None,
    variants: tuple[str, ...],
    prompts: tuple[str, ...],
    repeat: int,
    json_file: Path | None,
    junit_file: Path | None,
    markdown_file: Path | None,
    baseline_file: Path | None,
    threshold: float,
    match: str,
    openai_url: str | None,
    openai_model: str | None,
    shard_text: str | None,
    engine: str,
    *,
    fail_fast: bool,
    build_first: bool,
) -> None:
    """Run the smoke prompts of PACKAGES (default: all) on every variant's existing tag.

    Exit status: 0 all passed (and no regression against --baseline), 1 a failure or a
    regression, 2 a usage or setup error (unknown package, no server).
    """
    from rich.console import Console

    from modelpack.cli.output import markup
    from modelpack.core.results.baseline import compare, to_text
    from modelpack.core.results.reports import as_matrix
    from modelpack.core.results.shard import Shard
    from modelpack.edge.project import open_project
    from modelpack.jobs.matrix import MatrixRunner

    err = Console(stderr=True)
    shard = Shard.parse(shard_text) if shard_text is not None else None
    if shard is not None and (openai_url or engine != "ollama"):
        raise click.UsageError("--shard is for Ollama targets, not --openai or --engine")
    project = open_project(spec_file)
    if engine == "llama-server":
        if openai_url or variants or build_first:
            raise click.UsageError("--engine llama-server takes no --openai, --variant or --build")
        from modelpack.jobs.serve import llama_packages

        packages = packages or tuple(llama_packages(project))
        if not packages:
            raise click.UsageError("no package declares a llama-server serve block")
    names = list(packages) or list(project.loaded.spec.packages)
    for name in names:
        project.loaded.package(name)
    if variants and len(names) != 1:
        raise click.UsageError("--variant needs exactly one PACKAGE")
    fields = tuple(f.strip() for f in match.split(",") if f.strip())
    if not fields or any(f not in ("package", "variant", "prompt") for f in fields):
        raise click.BadParameter(
            f"{match!r}: give fields among package, variant, prompt, comma-separated "
            "(e.g. package,prompt)",
            param_hint="--match",
        )
    baseline = None
    if baseline_file is not None:
        baseline = as_matrix(load_report(baseline_file))
    if engine == "llama-server":
        from modelpack.jobs.serve import run_llama_matrix

        result = run_llama_matrix(
            project,
            names,
            prompts=prompts,
            repeat=repeat,
            fail_fast=fail_fast,
            on_event=lambda e: err.print(f"[dim]{markup(f'{e.subject}: {e.message}')}[/]"),
        )
    elif openai_url:
        result = _openai(
            project,
            names,
            openai_url,
            openai_model,
            prompts,
            repeat,
            variants=variants,
            build_first=build_first,
        )
    else:
        with project.client(project.server_host()) as client:
            if build_first:
                _build(project, client, names, err)
            runner = MatrixRunner(
                project,
                client,
                on_event=lambda e: err.print(f"[dim]{markup(f'{e.subject}: {e.message}')}[/]"),
            )
            result = runner.run(
                names,
                variants=variants,
                prompts=prompts,
                repeat=repeat,
                fail_fast=fail_fast,
                shard=shard,
            )
    comparison = None
    if baseline is not None:
        try:
            comparison = compare(result, baseline, threshold=threshold, match=fields)
        except ValueError as exc:
            _emit(result, None, json_file, junit_file, markdown_file)  # the run is kept
            raise click.UsageError(
                f"{exc}; run this matrix with --variant to keep one, or match by "
                "package,variant,prompt"
            ) from None
    _emit(result, comparison, json_file, junit_file, markdown_file)
    if comparison is not None:
        click.echo(to_text(comparison))
    # More shards than cells leaves some with none: nothing failed there.
    empty_shard = result.shard is not None and not result.cells
    if empty_shard and result.shard is not None:
        click.echo(
            f"shard {result.shard} has no cells ({result.shard.planned} in the matrix)", err=True
        )
    if (not result.passed and not empty_shard) or (comparison is not None and not comparison.ok):
        raise click.exceptions.Exit(1)


def load_report(path: Path) -> Any:
    """A saved matrix or build record, read within the report size limit."""
    from modelpack.core.inputs import REPORT_LIMIT, read_text
    from modelpack.core.results.reports import load_result
    from modelpack.errors import InputError

    try:
        text = read_text(path, limit=REPORT_LIMIT, what="report")
    except FileNotFoundError:
        raise InputError("no such file", source=str(path), hint="check the path") from None
    return load_result(text, source=str(path))


def _emit(
    result: Any,
    comparison: Any,
    json_file: Path | None,
    junit_file: Path | None,
    markdown_file: Path | None,
) -> None:
    from rich.console import Console

    from modelpack.cli.output import markup
    from modelpack.cli.tables import terminal_table
    from modelpack.core.results.reports import to_json, to_junit, to_markdown
    from modelpack.edge.files import atomic_write_text

    table, notes = terminal_table(result)
    out = Console()
    out.print(table)
    for note in notes:
        out.print(markup(note), highlight=False)
    outputs: dict[Path | None, Callable[[], str]] = {
        json_file: lambda: to_json(result),
        junit_file: lambda: to_junit(result),
        markdown_file: lambda: to_markdown(result, comparison=comparison),
    }
    for path, render in outputs.items():
        if path is not None:
            atomic_write_text(path, render())


def _openai(
    project: Any,
    names: list[str],
    url: str,
    model: str | None,
    prompts: tuple[str, ...],
    repeat: int,
    *,
    variants: tuple[str, ...],
    build_first: bool,
) -> Any:
    from modelpack.edge.openai_target import OpenAITarget
    from modelpack.jobs.matrix import run_openai

    if not model:
        raise click.UsageError("--openai needs --model: the name the server serves")
    if variants or build_first:
        raise click.UsageError("--variant and --build are for Ollama targets, not --openai")
    with OpenAITarget(url) as target:
        return run_openai(project, target, model, names, prompts=prompts, repeat=repeat)


def _build(project: Any, client: Any, names: list[str], err: Any) -> None:
    from modelpack.cli.output import markup
    from modelpack.edge.blobs import DigestCache
    from modelpack.jobs.build import Builder
    from modelpack.jobs.events import EventKind

    def show(event: Any) -> None:
        if event.kind == EventKind.VERDICT:
            line = f"build {event.subject}: {event.verdict}" + (
                f": {event.message}" if event.message else ""
            )
            err.print(f"[dim]{markup(line)}[/]")
        elif event.kind == EventKind.STABLE:
            err.print(f"[dim]{markup(f'build {event.subject}: {event.message}')}[/]")

    builder = Builder(project, client, cache=DigestCache.in_home(project.home), on_event=show)
    for name in names:
        builder.build(name)
