"""Terminal tables, drawn with rich: the matrix's (from the core's plain rows) and a build's."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from modelpack.core.matrix import MatrixResult
from modelpack.core.record import BuildRecord
from modelpack.core.reports import COLUMNS, is_numeric, table_rows, table_title

_STYLE = {"passed": "green", "failed": "red", "not run": "yellow", "skipped": "yellow"}


def terminal_table(result: MatrixResult) -> Table:
    """Verdicts in green, red or yellow; every cell escaped, since answers contain anything."""
    title, caption = table_title(result)
    table = Table(title=escape(title), caption=escape(caption))
    for column in COLUMNS:
        table.add_column(column, justify="right" if is_numeric(column) else "left", overflow="fold")
    for row in table_rows(result):
        texts = [escape(text) for text in row.texts]
        table.add_row(*texts[:3], f"[{_STYLE[row.state]}]{escape(row.verdict)}[/]", *texts[3:])
    return table


def build_table(record: BuildRecord) -> tuple[Table, list[str]]:
    """The build's figures as a table narrow enough for 80 columns, and its notes (why a
    variant failed or was skipped, its warnings) as lines for below it: long sentences do not
    fit in cells. Variants with the same note share one line."""

    def num(value: float | None, fmt: str) -> str:
        return format(value, fmt) if value is not None else "-"

    table = Table(title=escape(f"{record.package} on Ollama {record.ollama_version}"))
    for column in ("variant", "verdict", "template"):
        table.add_column(column)
    for column in ("load s", "TTFT ms", "tok/s", "GPU %"):
        table.add_column(column, justify="right")
    notes: dict[str, list[str]] = {}
    for v in record.variants:
        stable = " (stable)" if v.variant == record.stable_variant else ""
        kept = " (kept)" if not v.created and v.verdict == "passed" else ""
        table.add_row(
            escape(v.variant) + stable,
            f"[{_STYLE.get(v.verdict, 'yellow')}]{v.verdict}[/]{kept}",
            {True: "= GGUF", False: "[yellow]differs[/]", None: "-"}[v.template_parity],
            num(v.metric("load_s"), ".2f"),
            f"{num(v.metric('ttft_cold_ms'), '.0f')}/{num(v.metric('ttft_warm_ms'), '.0f')}",
            num(v.metric("decode_tps"), ".1f"),
            num(v.gpu_fraction * 100 if v.gpu_fraction is not None else None, ".0f"),
        )
        for note in [v.reason] if v.reason else v.warnings:
            notes.setdefault(note, []).append(v.variant)
    if any(not v.created and v.verdict == "passed" for v in record.variants):
        table.caption = "TTFT: cold/warm; kept: unchanged since the last build, not recreated"
    else:
        table.caption = "TTFT: cold/warm"
    lines = [f"{', '.join(variants)}: {note}" for note, variants in notes.items()]
    return table, lines
