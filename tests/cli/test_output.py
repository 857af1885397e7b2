"""The CLI's output layer: untrusted text is escaped before it reaches the terminal."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.cli.output import sanitize


def test_sanitize_escapes_control_and_bidi_characters() -> None:
    assert sanitize("blk.0.attn_q.weight") == "blk.0.attn_q.weight"
    assert sanitize("ünïcödé ✓ 中文") == "ünïcödé ✓ 中文"
    assert sanitize("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert sanitize("x\ry\nz\t") == "x\\ry\\nz\\t"
    assert sanitize("\x9b31m\x7f") == "\\x9b31m\\x7f"
    assert sanitize("abc\u202edef\u2066") == "abc\\u202edef\\u2066"
    assert sanitize("line1\nline2\t\x1b", keep_newlines=True) == "line1\nline2\t\\x1b"
    assert sanitize("abcdefgh", max_len=4) == "abc…"


def test_error_lines_are_escaped(tmp_path: Path) -> None:
    """A spec key with an escape sequence is printed escaped, on one line."""
    spec = tmp_path / "modelpack.yaml"
    spec.write_text('packages:\n  p:\n    model: m\n    from: x\n    "evil\\e[2J": 1\n')
    result = CliRunner().invoke(cli, ["render", "p", "-f", str(spec)])
    assert result.exit_code == 2
    assert "\x1b" not in result.output
    assert "evil\\x1b[2J" in result.output
    assert result.output.count("\n") == result.output.count("error: ")
