"""The pure parts of publishing: names, retry policy, the record's new field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.results.record import BuildRecord, VariantResult
from modelpack.edge.project import Project, open_project
from modelpack.errors import ServerError, ServerGoneError, UsageError
from modelpack.jobs.events import Event as PublishEvent
from modelpack.jobs.publish import Publisher, PushFailed
from modelpack.jobs.transfers import is_transient, registry_ref

SPEC = """\
ollama: {version: "0.9.3"}
registry: {namespace: "127.0.0.1:5000/acme", insecure: true}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full, lightweight]
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    write_tiny_gguf(tmp_path / "m.gguf", n_embd=64)
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    return open_project(tmp_path / "modelpack.yaml")


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ('Head "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused', True),
        ("max retries exceeded: http status 502 Bad Gateway: <html>", True),
        ("on upload registry responded with code 500: internal", True),
        ("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer", True),
        ("unexpected EOF", True),
        ("unauthorized: authentication required", False),
        ("http status 404 Not Found", False),
        ("file does not exist", False),
    ],
)
def test_transient_errors(message: str, transient: bool) -> None:
    assert is_transient(message) is transient


def test_registry_names() -> None:
    ref = registry_ref("127.0.0.1:5000/acme", "smollm2:main-gpu-full")
    assert ref.name == "127.0.0.1:5000/acme/smollm2:main-gpu-full"
    assert (ref.host, ref.repo, ref.tag) == ("127.0.0.1:5000", "acme/smollm2", "main-gpu-full")
    with pytest.raises(UsageError, match="lowercase"):
        registry_ref("127.0.0.1:5000/Acme", "smollm2:main-gpu")


def test_registry_settings_from_spec_and_flags(project: Project) -> None:
    publisher = Publisher(project, None)
    assert (publisher.namespace, publisher.insecure) == ("127.0.0.1:5000/acme", True)
    other = Publisher(project, None, namespace="reg.example:443/team/")
    assert other.namespace == "reg.example:443/team"


def _record(**changes: Any) -> BuildRecord:
    variants = [
        VariantResult(variant="full", tag="acme:pkg-full", verdict="failed", reason="500"),
        VariantResult(
            variant="lightweight",
            tag="acme:pkg-lightweight",
            verdict="passed",
            model_digest="ab" * 32,
        ),
    ]
    fields: dict[str, Any] = {
        "package": "pkg",
        "spec_digest": "x",
        "ollama_version": "0.9.3",
        "host": "h",
        "started_at": "t",
        "finished_at": "t",
        "variants": variants,
        "stable_tag": "acme:pkg",
        "stable_variant": "lightweight",
        "stable_digest": "ab" * 32,
    }
    return BuildRecord(**{**fields, **changes})


def test_only_passed_variants_then_the_stable_tag(project: Project) -> None:
    targets, skipped = Publisher(project, None).targets(_record())
    assert [t.name for t in targets] == [
        "127.0.0.1:5000/acme/acme:pkg-lightweight",
        "127.0.0.1:5000/acme/acme:pkg",
    ]
    assert targets[-1].stable
    assert skipped == [("acme:pkg-full", "failed: 500")]
    with pytest.raises(UsageError, match="no stable tag to push"):
        Publisher(project, None).targets(_record(stable_variant=None, stable_digest=None))


def test_old_records_load_without_published() -> None:
    data = _record().model_dump(mode="json")
    del data["published"]
    assert BuildRecord.model_validate_json(json.dumps(data)).published == []


def _stream(*lines: dict[str, Any], error: Exception | None = None) -> Iterator[dict[str, Any]]:
    yield from lines
    if error is not None:
        raise error


def test_retry_transient_then_succeed(project: Project) -> None:
    events: list[PublishEvent] = []
    slept: list[float] = []
    attempts = iter(
        [
            _stream({"status": "pushing"}, error=ServerError("x", server_message="unexpected EOF")),
            _stream({"status": "pushing", "digest": "sha256:1", "completed": 1, "total": 1}),
        ]
    )
    publisher = Publisher(project, None, on_event=events.append, sleep=slept.append, backoff=2)
    assert publisher.retrier.run("push", "n", lambda: next(attempts)) == ["sha256:1"]
    assert slept == [2]
    assert [e.message for e in events if e.kind == "retry"] == [
        "push attempt 1/3 failed (unexpected EOF); retrying in 2 s"
    ]


def test_retries_are_bounded_and_permanent_errors_are_not_retried(project: Project) -> None:
    slept: list[float] = []
    publisher = Publisher(project, None, sleep=slept.append, attempts=3, backoff=1)
    refused = ServerError("x", server_message="connect: connection refused")
    with pytest.raises(PushFailed, match="failed 3 times, last: connect: connection refused"):
        publisher.retrier.run("push", "n", lambda: _stream(error=refused))
    assert slept == [1, 2]
    slept.clear()
    denied = ServerError("x", server_message="unauthorized")
    with pytest.raises(ServerError, match="x"):
        publisher.retrier.run("push", "n", lambda: _stream(error=denied))
    with pytest.raises(ServerGoneError):
        publisher.retrier.run("push", "n", lambda: _stream(error=ServerGoneError("gone")))
    assert slept == []


def test_progress_that_does_not_move_is_a_stall(project: Project) -> None:
    slept: list[float] = []
    stuck = {"status": "pushing", "digest": "sha256:1", "completed": 5, "total": 9}
    publisher = Publisher(project, None, sleep=slept.append, attempts=2, stall_timeout=0)
    with pytest.raises(PushFailed, match="no progress for 0 s"):
        publisher.retrier.run("push", "n", lambda: _stream(stuck, stuck, stuck))
    assert slept == [2.0]
