"""Reading a failed load's cause out of real server logs (tests/data/serverlogs/, README there)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.core.results.serverlog import EXTERNAL_LOG, explained, log_cause
from modelpack.edge.server import ServerLog

LOGS = Path(__file__).resolve().parents[1] / "data" / "serverlogs"
BLOB = "/tmp/explain/exp/srv-current/models/blobs/sha256-"

# The answer each logged request got, as the smoke loop words it.
CASES = [
    (
        "0.9.3-unknown-architecture",
        f"load failed: HTTP 500: unable to load model: {BLOB}6ab4d92599bf",
        "error loading model: error loading model architecture: unknown model architecture: "
        "'so8tvl'",
    ),
    (
        "0.5.4-unknown-architecture",
        "load failed: HTTP 500: llama runner process has terminated: this model is not "
        "supported by your version of Ollama. You may need to upgrade",
        "error loading model: error loading model architecture: unknown model architecture: "
        "'so8tvl'",
    ),
    (
        "0.9.3-exit-status",
        "load failed: HTTP 500: llama runner process has terminated: exit status 2",
        "insufficient memory (attempted to allocate 78125.51 MB)",
    ),
    (
        "0.5.4-exit-status",
        "load failed: HTTP 500: llama runner process has terminated: exit status 2",
        "insufficient memory (attempted to allocate 39063.01 MB)",
    ),
    (
        "0.9.3-ollama-engine-panic",
        "load failed: HTTP 500: llama runner process has terminated: error:index out of range "
        "[0] with length 0",
        "llama runner terminated: exit status 2",
    ),
    (
        "0.5.4-server-panic",
        "server went away: the Ollama server at http://127.0.0.1:49589 went away during POST "
        "/api/generate: Server disconnected without sending a response.",
        "panic: runtime error: integer divide by zero",
    ),
]


@pytest.mark.parametrize(("log", "reason", "cause"), CASES, ids=[c[0] for c in CASES])
def test_the_telling_line_of_each_real_failure(log: str, reason: str, cause: str) -> None:
    text = (LOGS / f"{log}.log").read_text()
    assert log_cause(text, reason=reason) == cause
    assert explained(reason, text) == f"{reason}; server log: {cause}"


@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (
            "0.9.3-system-memory",
            "load failed: HTTP 500: model requires more system memory (95.4 GiB) than is "
            "available (21.6 GiB)",
        ),
        (
            "0.9.3-missing-key",
            "load failed: HTTP 500: llama runner process has terminated: error loading model: "
            "error loading model hyperparameters: key not found in model: llama.block_count "
            "llama_model_load_from_file_impl: failed to load model",
        ),
    ],
)
def test_nothing_is_added_when_the_answer_already_names_the_cause(log: str, reason: str) -> None:
    assert log_cause((LOGS / f"{log}.log").read_text(), reason=reason) is None
    assert explained(reason, (LOGS / f"{log}.log").read_text()) == reason


@pytest.mark.parametrize("log", ["0.9.3-loaded", "0.5.4-loaded"])
def test_a_successful_load_has_no_cause(log: str) -> None:
    """`level=INFO ... status="llm server error"` and "system memory" lines are not causes."""
    reason = "load failed: HTTP 500: unable to load model"
    assert log_cause((LOGS / f"{log}.log").read_text(), reason=reason) is None


def test_the_part_of_the_log_before_the_load_is_not_read(tmp_path: Path) -> None:
    """Only what was written since the loop began: an old failure must not explain a new one."""
    path = tmp_path / "server.log"
    path.write_text((LOGS / "0.9.3-unknown-architecture.log").read_text())
    log = ServerLog(path)
    mark = log.position()
    with path.open("a") as handle:
        handle.write((LOGS / "0.9.3-exit-status.log").read_text())
    new = log.since(mark)
    assert "so8tvl" not in new
    reason = "load failed: HTTP 500: llama runner process has terminated: exit status 2"
    assert (
        log_cause(new, reason=reason) == "insufficient memory (attempted to allocate 78125.51 MB)"
    )


def test_the_read_is_bounded_to_the_newest_bytes(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    path.write_text("x" * 10_000 + "\nllama_model_load: error loading model: tail\n")
    log = ServerLog(path, limit=100)
    text = log.since(0)
    assert len(text.encode()) <= 100
    assert text.endswith("error loading model: tail\n")


def test_a_log_that_shrank_or_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "server.log"
    log = ServerLog(path)
    assert log.position() == 0 and log.since(0) == ""
    path.write_text("panic: boom\n")
    assert log.since(10_000) == "panic: boom\n"  # replaced by a shorter file: read it all


def test_an_external_server_says_where_its_log_is() -> None:
    reason = "load failed: HTTP 500: unable to load model: /blobs/sha256-x"
    assert explained(reason, None) == f"{reason} ({EXTERNAL_LOG})"
    assert "journalctl -u ollama" in EXTERNAL_LOG and "docker logs" in EXTERNAL_LOG
    assert "~/.ollama/logs/server.log" in EXTERNAL_LOG
    assert "%LOCALAPPDATA%\\Ollama\\server.log" in EXTERNAL_LOG
    # An answer that names the cause needs no pointer to the log.
    oom = "load failed: HTTP 500: model requires more system memory (9 GiB) than is available"
    assert explained(oom, None) == oom


def test_slog_values_are_unquoted_and_long_lines_cut() -> None:
    line = (
        'time=2026-01-01T00:00:00Z level=ERROR source=sched.go:1 msg="error loading llama '
        'server" error="llama runner process has terminated: ' + "y" * 400 + '\\nsecond"'
    )
    cause = log_cause(line, reason="server went away")
    assert cause is not None
    assert cause.startswith("error loading llama server: llama runner process has terminated")
    assert len(cause) == 300 and cause.endswith("…")
