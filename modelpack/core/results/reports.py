"""Reports of a smoke-test matrix: JSON to keep, JUnit XML for CI, Markdown for release notes, and
a rich table for the terminal.

Every renderer takes a `MatrixResult`; a build record (`modelfiles/<package>/build.json`) is
converted into one (`as_matrix`), so `modelpack report` re-renders either the same way. Answers
are model output and may hold anything (markup, control characters, `]]>`), so every renderer
escapes for its own format. Pure: strings and renderables in and out, no files, no clock.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from modelpack.core.results.baseline import Comparison, format_value, status, summary
from modelpack.core.results.matrix import (
    MATRIX_FORMAT,
    READABLE_MATRIX_VERSIONS,
    Cell,
    MatrixResult,
    Run,
)
from modelpack.core.results.record import READABLE_VERSIONS, BuildRecord, VariantResult
from modelpack.core.results.runs import NO_EXPECT_NOTE, pass_notes
from modelpack.errors import InputError

M = TypeVar("M", bound=BaseModel)

JUNIT_XSD = Path(__file__).parent / "schemas" / "junit.xsd"
"""The schema `to_junit` output is tested against (Ant's JUnit format with properties per case)."""

NOT_RUN = "(not run)"
"""The prompt of a build record's cell for a variant that failed or was skipped before a prompt."""

COLUMNS = (
    "package",
    "variant",
    "prompt",
    "verdict",
    "TTFT ms",
    "load s",
    "tok/s",
    "GPU %",
    "reason",
)

# Characters that are not allowed in XML 1.0 or that a terminal would act on (C0 but tab and
# newlines, DEL, C1), lone surrogates (JSON can carry them) and the two non-characters.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# Markdown punctuation that could start emphasis, code, links, HTML, entities or a table cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")


# -- loading ----------------------------------------------------------------------------------


def to_json(result: MatrixResult) -> str:
    """The result as indented JSON in field order, so saved files diff cleanly."""
    return result.model_dump_json(indent=2) + "\n"


def load_result(text: str, *, source: str) -> MatrixResult | BuildRecord:
    """Parse a saved matrix result or a build record, telling which by its version field."""
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg}", source=source, line=exc.lineno) from None
    except RecursionError:
        # Python's decoder recurses once per nested array or object; a modelpack report nests
        # five levels, so a file that reaches the interpreter's limit is not one.
        raise InputError(
            "not a modelpack report: its JSON is nested too deeply to read",
            source=source,
            hint="give the JSON that `modelpack matrix --json` wrote, or a build.json",
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"expected a JSON object, found {type(data).__name__}: "
            "not a modelpack matrix result or build record",
            source=source,
        )
    if data.get("format") == MATRIX_FORMAT:
        return _validate(
            MatrixResult, data, "matrix result", ("version", READABLE_MATRIX_VERSIONS), source
        )
    if "record_version" in data:
        return _validate(
            BuildRecord, data, "build record", ("record_version", READABLE_VERSIONS), source
        )
    raise InputError(
        f'not a modelpack matrix result (no "format": "{MATRIX_FORMAT}") '
        'or build record (no "record_version")',
        source=source,
    )


def as_matrix(loaded: MatrixResult | BuildRecord) -> MatrixResult:
    """What `load_result` gave, as a matrix result for the renderers."""
    return loaded if isinstance(loaded, MatrixResult) else from_record(loaded)


def from_record(record: BuildRecord) -> MatrixResult:
    """A build record as a one-run matrix: a cell per variant and smoke prompt.

    Build and matrix share their rows (`PromptRuns`), so each prompt that ran is a cell as it is
    (the first prompt of a variant includes the load, in both). A variant that failed before or
    between its prompts (create failed, load failed, timeout) gets a `(not run)` cell carrying
    the reason as its error; a skipped variant gets a `(not run)` cell with no runs, which
    reports show as skipped.
    """
    cells: list[Cell] = []
    for variant in record.variants:
        cells += _record_cells(record.package, variant)
    return MatrixResult(
        target="ollama",
        server_version=record.ollama_version,
        host=record.host,
        started_at=record.started_at,
        finished_at=record.finished_at,
        wall_s=_wall_s(record.started_at, record.finished_at, cells),
        repeat=1,
        cells=cells,
    )


def _validate(
    model: type[M],
    data: dict[str, object],
    what: str,
    version: tuple[str, tuple[int, ...]],
    source: str,
) -> M:
    field, supported = version
    if data.get(field, supported[-1]) not in supported:
        readable = ", ".join(map(str, supported))
        raise InputError(
            f"{what} {field} {data[field]!r} is not supported (this modelpack reads {readable})",
            source=source,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        message = " ".join(f"invalid {what}: {where}: {first['msg']}{more}".split())
        raise InputError(message, source=source) from None


def _record_cells(package: str, variant: VariantResult) -> list[Cell]:
    base = Cell(
        package=package,
        variant=variant.variant,
        tag=variant.tag,
        prompt=NOT_RUN,
        gpu_fraction=variant.gpu_fraction,
        memory=variant.memory,
    )
    cells = [
        base.model_copy(update={"prompt": p.prompt, "expect": p.expect, "runs": p.runs})
        for p in variant.prompts
        if p.error is None
    ]
    if variant.verdict == "skipped":
        cells.append(base)
    elif variant.verdict == "failed" and all(cell.passed for cell in cells):
        cells.append(base.model_copy(update={"error": variant.reason or "failed"}))
    return cells


def _wall_s(started_at: str, finished_at: str, cells: list[Cell]) -> float:
    """The record's own span, but never less than its generations took (it has whole seconds)."""
    generating = sum(_cell_seconds(cell) for cell in cells)
    start, end = _parse_time(started_at), _parse_time(finished_at)
    if start is None or end is None or (start.utcoffset() is None) != (end.utcoffset() is None):
        return generating
    return max(generating, (end - start).total_seconds())


# -- JUnit XML --------------------------------------------------------------------------------


def to_junit(result: MatrixResult) -> str:
    """JUnit XML: a testsuite per package, a testcase per cell, timings as properties.

    Failed cells get a `<failure>` with the reason and the answer, cells that could not run an
    `<error>`, cells never run `<skipped>`. Characters XML 1.0 forbids are written visibly
    (`\\x1b`), so the document always parses.
    """
    cells = result.cells
    root = ET.Element("testsuites", {"name": "modelpack", **_counts(cells)})
    root.set("time", _seconds(result.wall_s))
    timestamp = _junit_timestamp(result.started_at)
    if timestamp:
        root.set("timestamp", timestamp)
    for index, (package, group) in enumerate(_by_package(cells)):
        suite = ET.SubElement(root, "testsuite", {"name": _xml(package), **_counts(group)})
        suite.set("time", _seconds(sum(_cell_seconds(cell) for cell in group)))
        if timestamp:
            suite.set("timestamp", timestamp)
        suite.set("hostname", _xml(urlsplit(result.host).hostname or result.host or "unknown"))
        suite.set("id", str(index))
        _properties(
            suite,
            {
                "target": result.target,
                "server_version": result.server_version,
                "host": result.host,
                "repeat": str(result.repeat),
                "started_at": result.started_at,
                "finished_at": result.finished_at,
            },
        )
        for cell in group:
            _testcase(suite, cell)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


def _counts(cells: list[Cell]) -> dict[str, str]:
    errors = sum(1 for cell in cells if cell.error is not None)
    skipped = sum(1 for cell in cells if _skipped(cell))
    failures = sum(1 for cell in cells if not cell.passed) - errors - skipped
    return {
        "tests": str(len(cells)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
    }


def _testcase(suite: ET.Element, cell: Cell) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        {
            "name": _xml(cell.prompt) or "(empty prompt)",
            "classname": _xml(f"modelpack.{cell.package}.{cell.variant}"),
            "time": _seconds(_cell_seconds(cell)),
        },
    )
    values: dict[str, str | None] = {"tag": cell.tag, "expect": cell.expect}
    values["host"], values["server_version"] = cell.host, cell.server_version
    values["runs"] = str(len(cell.runs))
    if cell.gpu_fraction is not None:
        values["gpu_fraction"] = f"{cell.gpu_fraction:.3f}"
    if cell.memory is not None:
        values["memory_size"] = str(cell.memory.size)
        values["memory_size_vram"] = _optional(cell.memory.size_vram)
        values["memory_estimated"] = _optional(cell.memory.estimated)
        values["memory"] = cell.memory.line()
    for metric in ("ttft_ms", "load_s", "decode_tps", "prompt_tps", "total_s"):
        stat = cell.stat(metric)
        if stat is not None:
            values[metric] = f"{stat.median:.3f}"
            if stat.count > 1:
                values[f"{metric}_spread"] = f"{stat.spread:.3f}"
    _properties(case, values)
    if cell.error is not None:
        error = ET.SubElement(case, "error", message=_xml(_one_line(cell.error)), type="error")
        error.text = _xml(cell.error)
    elif _skipped(cell):
        ET.SubElement(case, "skipped", message="not run")
    elif not cell.passed:
        failure = ET.SubElement(
            case, "failure", message=_xml(_one_line(cell.failure or "failed")), type="smoke"
        )
        failure.text = _xml(_failure_details(cell))
    if cell.runs:
        ET.SubElement(case, "system-out").text = _xml(_run_log(cell.runs))


def _optional(value: int | None) -> str | None:
    return str(value) if value is not None else None


def _properties(parent: ET.Element, values: dict[str, str | None]) -> None:
    properties = ET.SubElement(parent, "properties")
    for name, value in values.items():
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=_xml(value))


def _failure_details(cell: Cell) -> str:
    parts = []
    for index, run in enumerate(cell.runs, start=1):
        if not run.passed:
            reasons = "; ".join(run.failures or ["failed"])
            parts.append(f"run {index}: {reasons}\nanswer:\n{run.answer}")
    return "\n\n".join(parts)


def _run_log(runs: list[Run]) -> str:
    parts = []
    for index, run in enumerate(runs, start=1):
        verdict = "passed" if run.passed else "failed"
        warnings = "".join(f"\nwarning: {warning}" for warning in run.warnings)
        parts.append(f"run {index}: {verdict}{warnings}\nanswer:\n{run.answer}")
    return "\n\n".join(parts)


def _xml(text: str) -> str:
    """Text XML 1.0 can carry; ElementTree escapes markup and quotes when writing."""
    return _visible(text)


def _seconds(value: float) -> str:
    return f"{value:.3f}" if math.isfinite(value) and value > 0 else "0.000"


def _junit_timestamp(text: str) -> str | None:
    """Ant's timestamp form, UTC to the second without a zone suffix, which every reader takes."""
    moment = _parse_time(text)
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat()


# -- Markdown ---------------------------------------------------------------------------------


def to_markdown(result: MatrixResult, comparison: Comparison | None = None) -> str:
    """A GitHub-flavoured Markdown table for release notes, with the baseline comparison if any.

    Repeated cells show the median with ± half the runs' range relative to it (`812 ±4%`).
    """
    lines = [_markdown_header(result), ""]
    lines.append(_markdown_row(COLUMNS))
    lines.append("|" + "|".join("---:" if _numeric(c) else "---" for c in COLUMNS) + "|")
    for cell in result.cells:
        verdict = {"passed": "✅", "failed": "❌", "not run": "⏭️"}[status(cell)]
        if len(cell.runs) > 1 and not cell.passed:
            verdict += f" {sum(run.passed for run in cell.runs)}/{len(cell.runs)}"
        texts = [_md(text) for text in _plain_texts(cell)]
        lines.append(_markdown_row((*texts[:3], verdict, *texts[3:])))
    unexpected = sum(bool(pass_notes(cell)) for cell in result.cells)
    if unexpected:
        lines += ["", f"{unexpected} passing cell(s) had {NO_EXPECT_NOTE}."]
    origins = _origins(result)
    if len(origins) > 1:  # a merged matrix: which server ran which cells
        lines += ["", "Cells by server:", ""]
        lines += [f"- {_md(origin)}: {count}" for origin, count in origins.items()]
    memory = memory_lines(result)
    if memory:
        lines += ["", "### Memory", ""] + [f"- {_md(line)}" for line in memory]
    if comparison is not None:
        lines += ["", "### Compared with the baseline", "", _md(summary(comparison)), ""]
        for mark, findings in (
            ("❌", comparison.regressions),
            ("✅", comparison.improvements),
            ("\N{INFORMATION SOURCE}\ufe0f", comparison.notes),
        ):
            lines += [f"- {mark} {_md(finding.message)}" for finding in findings]
    return "\n".join(lines) + "\n"


def _origins(result: MatrixResult) -> dict[str, int]:
    """`host (version)` -> how many cells ran there, in order of first appearance."""
    origins: dict[str, int] = {}
    for cell in result.cells:
        host = cell.host or result.host
        version = cell.server_version or result.server_version or "version unknown"
        origin = f"{host} ({result.target} {version})"
        origins[origin] = origins.get(origin, 0) + 1
    return origins


def _markdown_header(result: MatrixResult) -> str:
    passed = sum(cell.passed for cell in result.cells)
    failed = sum(status(cell) == "failed" for cell in result.cells)
    skipped = len(result.cells) - passed - failed
    moment = _parse_time(result.started_at)
    when = moment.strftime("%Y-%m-%d %H:%M") if moment else result.started_at
    if moment is not None and moment.utcoffset() is not None:
        when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    counts = f"**{passed}/{len(result.cells)} passed**"
    counts += f", {failed} failed" if failed else ""
    counts += f", {skipped} not run" if skipped else ""
    repeat = f", each run {result.repeat} times" if result.repeat > 1 else ""
    shard = f" (shard {result.shard} of the matrix)" if result.shard else ""
    server = f"{result.target} {result.server_version or '(version unknown)'}"
    return (
        f"**modelpack matrix**{shard}: {_md(server)} at {_md(result.host)}, {_md(when)}: "
        f"{counts}{repeat}"
    )


def _markdown_row(texts: Iterable[str]) -> str:
    return "| " + " | ".join(texts) + " |"


def _md(text: str) -> str:
    """Text for one table cell or list item: literal, on one line, with `|` escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(_visible(text)))


def _numeric(column: str) -> bool:
    return column in ("TTFT ms", "load s", "tok/s", "GPU %")


# -- terminal ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TableRow:
    """One terminal-table row as plain text (one line, control characters made visible);
    the CLI draws it, styling the verdict by `state`."""

    state: Literal["passed", "failed", "not run"]
    verdict: str
    texts: list[str]
    """Every column but the verdict: package, variant, prompt, TTFT, load, tok/s, GPU %, reason."""
    notes: list[str] = field(default_factory=list)
    """What to read beside the verdict: a pass without an expect only proves the output is not
    degenerate."""


def table_title(result: MatrixResult) -> tuple[str, str]:
    """(title, caption) of the terminal table."""
    passed = sum(cell.passed for cell in result.cells)
    server = f"{result.target} {result.server_version or '(version unknown)'}"
    return f"{server}: {passed}/{len(result.cells)} passed", f"{result.host}, {result.started_at}"


def table_rows(result: MatrixResult) -> list[TableRow]:
    """The Markdown report's columns, for a terminal."""
    rows = []
    for cell in result.cells:
        state = status(cell)
        verdict = {"passed": "pass", "failed": "FAIL", "not run": "not run"}[state]
        if len(cell.runs) > 1 and not cell.passed:
            verdict += f" {sum(run.passed for run in cell.runs)}/{len(cell.runs)}"
        texts = [_one_line(_visible(text)) for text in _plain_texts(cell)]
        rows.append(TableRow(state, verdict, texts, pass_notes(cell)))
    return rows


def is_numeric(column: str) -> bool:
    """Whether a column holds figures (right-aligned in tables)."""
    return _numeric(column)


# -- shared -----------------------------------------------------------------------------------


def _plain_texts(cell: Cell) -> list[str]:
    """Every column but the verdict, not yet escaped nor on one line: package to GPU %, reason."""
    gpu = f"{cell.gpu_fraction * 100:.0f}" if cell.gpu_fraction is not None else "-"
    return [
        cell.package,
        cell.variant,
        _shorten(cell.prompt, 60),
        _metric_text(cell, "ttft_ms"),
        _metric_text(cell, "load_s"),
        _metric_text(cell, "decode_tps"),
        gpu,
        _shorten(_reason(cell), 160),
    ]


def _metric_text(cell: Cell, metric: str) -> str:
    stat = cell.stat(metric)
    if stat is None:
        return "-"
    text = f"{stat.median:.0f}" if metric == "ttft_ms" else format_value(stat.median)
    return f"{text} ±{stat.spread / 2:.0%}" if stat.count > 1 else text


def _reason(cell: Cell) -> str:
    if not cell.passed:
        return "not run" if _skipped(cell) else cell.failure or "failed"
    warnings = [warning for run in cell.runs for warning in run.warnings]
    memory = cell.memory.warning() if cell.memory is not None else None
    return "; ".join(dict.fromkeys([*warnings, *([memory] if memory else [])]))


def memory_lines(result: MatrixResult) -> list[str]:
    """`package/variant: memory: measured X, estimated Y (+Z%)`, once per variant loaded."""
    lines: dict[str, None] = {}
    for cell in result.cells:
        if cell.memory is not None:
            lines[f"{cell.package}/{cell.variant}: {cell.memory.line()}"] = None
    return list(lines)


def _skipped(cell: Cell) -> bool:
    return not cell.runs and cell.error is None


def _cell_seconds(cell: Cell) -> float:
    return sum(run.total_s for run in cell.runs if run.total_s is not None)


def _by_package(cells: list[Cell]) -> list[tuple[str, list[Cell]]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(cell.package, []).append(cell)
    return list(groups.items())


def _visible(text: str) -> str:
    r"""Control characters, surrogates and non-characters as visible escapes (`\x1b`)."""
    return _UNSAFE.sub(lambda match: _escape_char(match.group()), text)


def _escape_char(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
