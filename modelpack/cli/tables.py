"""The matrix's terminal table, drawn with rich from the core's plain rows."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from modelpack.core.matrix import MatrixResult
from modelpack.core.reports import COLUMNS, is_numeric, table_rows, table_title

_STYLE = {"passed": "green", "failed": "red", "not run": "yellow"}


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
