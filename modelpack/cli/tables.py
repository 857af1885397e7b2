"""Terminal tables, drawn with rich: the matrix's (from the core's plain rows) and a build's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from modelpack.cli.output import markup
from modelpack.core.results.record import BuildRecord
from modelpack.core.results.runs import pass_notes

if TYPE_CHECKING:  # the matrix's report code loads with its table, not with a build's
    from modelpack.core.results.matrix import MatrixResult
    from modelpack.core.results.reports import TableRow

_STYLE = {"passed": "green", "failed": "red", "not run": "yellow", "skipped": "yellow"}


def terminal_table(result: MatrixResult) -> tuple[Table, list[str]]:
    """The matrix as a table narrow enough for 80 columns (CI logs), and the lines to print
    below it: each prompt's text by number, then each reason or note with the cells it applies
    to (a pass without an expect says that it only proves the output is not degenerate).

    Verdicts in green, red or yellow; every text escaped, since answers contain anything. The
    package column is left out when there is one package (the title names it).
    """
    from modelpack.core.results.reports import (
        COLUMNS,
        is_numeric,
        memory_lines,
        table_rows,
        table_title,
    )

    title, caption = table_title(result)
    rows = table_rows(result)
    packages = list(dict.fromkeys(row.texts[0] for row in rows))
    prompts = list(dict.fromkeys(row.texts[2] for row in rows))
    if len(packages) == 1:
        title = f"{packages[0]} on {title}"
    table = Table(title=markup(title), caption=markup(caption))
    shown = [c for c in COLUMNS if c != "reason" and (c != "package" or len(packages) > 1)]
    for column in shown:
        if is_numeric(column):
            table.add_column(column, justify="right")
        else:  # names stay whole; the figures wrap instead
            table.add_column(column, no_wrap=True, min_width=_longest(rows, column))
    reasons: list[tuple[str, str]] = []
    for row in rows:
        package, variant, prompt, *figures, reason = row.texts
        number = f"#{prompts.index(prompt) + 1}"
        verdict = f"[{_STYLE[row.state]}]{markup(row.verdict)}[/]"
        texts = [markup(t) for t in ([package] if len(packages) > 1 else []) + [variant, number]]
        table.add_row(*texts, verdict, *(markup(f) for f in figures))
        where = f"{package}/{variant}" if len(packages) > 1 else variant
        reasons += [(note, f"{where} {number}") for note in ([reason] if reason else [])]
        reasons += [(note, f"{where} {number}") for note in row.notes]
    notes = [f"#{n}: {prompt}" for n, prompt in enumerate(prompts, 1)]
    return table, notes + memory_lines(result) + _grouped(reasons)


def _grouped(notes: list[tuple[str, str]]) -> list[str]:
    """`(note, where)` pairs as one line per distinct note, naming every place it applies to."""
    places: dict[str, list[str]] = {}
    for note, where in notes:
        places.setdefault(note, []).append(where)
    return [f"{', '.join(where)}: {note}" for note, where in places.items()]


def _longest(rows: list[TableRow], column: str) -> int:
    index = {"package": 0, "variant": 1}.get(column)
    texts = [row.texts[index] for row in rows] if index is not None else []
    return max([len(column), *map(len, texts)])


def build_table(record: BuildRecord) -> tuple[Table, list[str]]:
    """The build's figures as a table narrow enough for 80 columns, and its notes (why a
    variant failed or was skipped, its warnings, a pass with a prompt that had no expect) as
    lines for below it: long sentences do not fit in cells. Variants with the same note share
    one line."""

    def num(value: float | None, fmt: str) -> str:
        return format(value, fmt) if value is not None else "-"

    table = Table(title=markup(f"{record.package} on Ollama {record.ollama_version}"))
    labels = [
        v.variant + (" *" if v.variant == record.stable_variant else "") for v in record.variants
    ]
    table.add_column("variant", no_wrap=True, min_width=max(map(len, ["variant", *labels])))
    table.add_column("verdict", no_wrap=True)
    table.add_column("template", no_wrap=True)
    for column in ("load s", "TTFT ms", "tok/s", "GPU %"):
        table.add_column(column, justify="right")
    notes: list[tuple[str, str]] = []
    for v, label in zip(record.variants, labels, strict=True):
        kept = " (kept)" if not v.created and v.verdict == "passed" else ""
        table.add_row(
            markup(label),
            f"[{_STYLE.get(v.verdict, 'yellow')}]{v.verdict}[/]{kept}",
            {True: "= GGUF", False: "[yellow]differs[/]", None: "-"}[v.template_parity],
            num(v.metric("load_s"), ".2f"),
            f"{num(v.metric('ttft_ms'), '.0f')}/{num(v.metric('ttft_warm_ms'), '.0f')}",
            num(v.metric("decode_tps"), ".1f"),
            num(v.gpu_fraction * 100 if v.gpu_fraction is not None else None, ".0f"),
        )
        notes += [(note, v.variant) for note in ([v.reason] if v.reason else v.warnings)]
        if v.verdict == "passed":
            notes += [(note, v.variant) for p in v.prompts for note in pass_notes(p)][:1]
        if v.memory is not None:
            notes.append((v.memory.line(), v.variant))
    caption = ["* stable"] if record.stable_variant else []
    caption.append("TTFT: cold/warm")
    if any(not v.created and v.verdict == "passed" for v in record.variants):
        caption.append("kept: unchanged since the last build")
    table.caption = "; ".join(caption)
    return table, _grouped(notes)
