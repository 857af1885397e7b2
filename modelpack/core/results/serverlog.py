"""Why a load failed, in the server's own words: the telling line of an Ollama server log.

Ollama's answer to a failed load often hides the cause: 0.9.3 answers `unable to load model:
<blob path>` where its log says `unknown model architecture: 'so8tvl'`, and `llama runner
process has terminated: exit status 2` where llama.cpp logged `insufficient memory (attempted
to allocate 78125.51 MB)`. With a server modelpack manages, the smoke loop reads the part of
the log written since the load began and appends the line that says more than the answer did
(`explained`). With a server it does not manage it says where Ollama writes that log.

The patterns come from real logs of the rig's Ollama 0.9.3 and 0.5.4 (tests/data/serverlogs/):
llama.cpp's loader errors, ggml's allocation failures, the scheduler's memory check, the
runner's exit status, a Go panic and the server's `level=ERROR` lines.
"""

from __future__ import annotations

import json
import re

__all__ = ["EXTERNAL_LOG", "explained", "log_cause"]

EXTERNAL_LOG = (
    "see the server's log: journalctl -u ollama (Linux, systemd), "
    "~/.ollama/logs/server.log (macOS), %LOCALAPPDATA%\\Ollama\\server.log (Windows), "
    "docker logs <container> (Docker), else the terminal running `ollama serve`"
)
"""Where Ollama writes its log, from Ollama's docs/troubleshooting.md (v0.9.3)."""

_KINDS: tuple[re.Pattern[str], ...] = (
    re.compile(r"unknown model architecture"),
    re.compile(r"error loading model"),
    re.compile(
        r"insufficient memory|out of memory|requires more system memory|"
        r"request too large for system|failed to allocate"
    ),
    re.compile(r"exit status -?\d+|signal: [a-z]+"),
    re.compile(r"^panic: "),
    re.compile(r"\b(?:failed|unable) to\b"),
)
"""What a line can say, the most telling first: its index is the line's rank."""

_SAYS_WHY = 3
"""Ranks below this name the cause itself (an architecture, a loader error, memory)."""
_LEVEL_ERROR = len(_KINDS)
"""The rank of any other `level=ERROR` line."""

_SLOG = re.compile(r"^time=\S+ level=(?P<level>[A-Z]+) ")
_ATTR = re.compile(r'(?P<key>[A-Za-z_][\w.]*)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
_FUNCTION = re.compile(r"^[A-Za-z_]\w*: (?=\S)")
_SKIP_ATTRS = frozenset({"time", "level", "source", "msg", "error"})
_MAX_CHARS = 300


def _unquote(value: str) -> str:
    if value.startswith('"'):
        try:
            return str(json.loads(value))
        except ValueError:
            return value[1:-1]
    return value


def _message(line: str) -> tuple[str, bool]:
    """A log line as a message, and whether slog logged it at ERROR level."""
    slog = _SLOG.match(line)
    if slog is None:
        text = line.strip()
        return (text if text.startswith("panic: ") else _FUNCTION.sub("", text)), False
    attrs = {m["key"]: _unquote(m["value"]) for m in _ATTR.finditer(line)}
    text = attrs.get("msg", "")
    if attrs.get("error"):
        text = f"{text}: {attrs['error']}" if text else attrs["error"]
    else:
        rest = " ".join(f"{k}={v}" for k, v in attrs.items() if k not in _SKIP_ATTRS)
        text = f"{text} ({rest})" if rest else text
    return " ".join(text.split()), slog["level"] == "ERROR"


def _rank(text: str, *, error_level: bool = False) -> int | None:
    for rank, pattern in enumerate(_KINDS):
        if pattern.search(text):
            return rank
    return _LEVEL_ERROR if error_level else None


def _flat(text: str) -> str:
    return " ".join(text.split())


def log_cause(log: str, *, reason: str) -> str | None:
    """The line of `log` (what the server wrote during one load) that says more about the
    failure than `reason` (the answer the client got): the first line of the most telling kind,
    and only of a kind more telling than anything `reason` says already. None when the log adds
    nothing."""
    known = _flat(reason)
    ceiling = _rank(known)
    best: tuple[int, str] | None = None
    for line in log.splitlines():
        text, error_level = _message(line)
        rank = _rank(text, error_level=error_level)
        if rank is None or (ceiling is not None and rank >= ceiling):
            continue
        if not text or _flat(text) in known:
            continue
        if best is None or rank < best[0]:
            best = (rank, text)
    if best is None:
        return None
    text = best[1]
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def explained(reason: str, log: str | None) -> str:
    """`reason` with its cause from a managed server's `log` (the part written since the load
    began). With no log (a server modelpack does not manage), where Ollama writes it, unless
    `reason` already says what went wrong."""
    if log is None:
        rank = _rank(_flat(reason))
        if rank is not None and rank < _SAYS_WHY:
            return reason
        return f"{reason} ({EXTERNAL_LOG})"
    cause = log_cause(log, reason=reason)
    return f"{reason}; server log: {cause}" if cause else reason
