"""The CLI's output layer: every untrusted string is escaped here before it reaches a terminal.

Names, templates, answers and server messages come from files and servers modelpack does not
control; a hostile one could otherwise rewrite the screen (ESC sequences, carriage returns, C1
controls) or reorder what is shown (bidirectional overrides). `sanitize` shows each such
character as an escape such as `\\x1b`; the error funnel runs every error line through it, and
`markup` is what every rich line uses.
"""

from __future__ import annotations

from typing import Final

__all__ = ["markup", "sanitize"]

_ESCAPES: Final[dict[int, str]] = {
    **{c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))},
    **{c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, 0x2028, 0x2029)},
    **{c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))},
    0x09: "\\t",
    0x0A: "\\n",
    0x0D: "\\r",
}
_ESCAPES_KEEP_LINES: Final = {c: e for c, e in _ESCAPES.items() if c not in (0x09, 0x0A)}


def sanitize(text: str, *, keep_newlines: bool = False, max_len: int | None = None) -> str:
    """`text` safe to print on a terminal: control characters and bidirectional overrides are
    shown as escapes. `keep_newlines` leaves newlines and tabs as they are (for multi-line
    values such as templates); `max_len` shortens the result with an ellipsis."""
    table = _ESCAPES if not keep_newlines else _ESCAPES_KEEP_LINES
    escaped = text if text.isprintable() else text.translate(table)
    if max_len is not None and len(escaped) > max_len:
        return escaped[: max(max_len - 1, 0)] + "…"
    return escaped


def markup(text: str) -> str:
    """`text` for rich markup: sanitized, and its square brackets escaped so that a server's
    or model's words are never read as styles."""
    from rich.markup import escape

    return escape(sanitize(text))
