"""The stable tag and the build record always agree (issue 13), against a real Ollama 0.9.3.

Faults a real server cannot produce on cue go through `FaultProxy`, which forwards everything
to the real server and drops or holds one chosen request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.fault_proxy import FaultProxy, Rule
from helpers.projects import build, digest, make_project, package

from modelpack.core.package.tags import archive_tag
from modelpack.core.results.record import BuildRecord
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.history import history_dir, record_path
from modelpack.edge.server import OllamaServer
from modelpack.jobs.build import Builder
from modelpack.jobs.events import Event, EventKind
from modelpack.jobs.stable import StableMoveFailed

pytestmark = pytest.mark.integration

ONE = "      - {name: a, template: lightweight}\n"
# The stable copy's JSON names the stable tag as its destination, followed by a quote; the
# pin copies name `smol:pkg.<digest>` and the variant tags `smol:pkg-a`.
STABLE_COPY = 'smol:pkg"'


def _package_tags(host: str) -> dict[str, str]:
    with OllamaClient(host) as client:
        return {t: d for t, d in client.model_digests().items() if t.startswith("smol:pkg")}


def _record(project_dir: Path) -> BuildRecord:
    return BuildRecord.model_validate_json((project_dir / "modelfiles/pkg/build.json").read_text())


def test_the_stable_tag_is_the_model_that_was_tested(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """Another process recreates the variant tag while its smoke test runs (what a second
    build did): the stable tag still gets the tested model, from its per-digest tag."""
    project = make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    host = ollama_current.host
    replaced: list[str] = []

    def intruder(event: Event) -> None:
        if event.kind == EventKind.LOAD and not replaced:
            with OllamaClient(host) as other:
                blob = DigestCache(tmp_path / ".cache" / "digests.json").digest(smollm2_path)
                other.create(
                    {
                        "model": "smol:pkg-a",
                        "files": {"smol.gguf": blob},
                        "parameters": {"temperature": 1.5, "num_ctx": 512},
                    }
                )
                replaced.append(other.model_digest("smol:pkg-a") or "")

    cache = DigestCache(tmp_path / ".cache" / "digests.json")
    with OllamaClient(host) as client:
        record = Builder(project, client, cache=cache, on_event=intruder).build("pkg")
    tested = record.variants[0].model_digest
    assert replaced and replaced[0] != tested
    assert record.variants[0].verdict == "passed"
    assert digest(host, "smol:pkg") == record.stable_digest == tested
    assert digest(host, archive_tag("smol:pkg", tested or "")) == tested
    assert record.history[-1].archive == archive_tag("smol:pkg", tested or "")


def test_a_dropped_connection_on_the_stable_move_keeps_the_record(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """The server moves the tag and the connection drops before it answers: the build
    settles from the server, and build.json, its history copy and the server agree."""
    project = make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    with FaultProxy(f"http://{ollama_current.host}") as proxy:
        rule = proxy.add(Rule("POST", "/api/copy", "drop_after", body_contains=STABLE_COPY))
        record, _, _ = build(project, proxy.host)
    assert rule.fired == 1
    on_server = digest(ollama_current.host, "smol:pkg")
    assert record.stable_digest == on_server == record.variants[0].model_digest
    assert record.pending is None
    saved = _record(tmp_path)
    assert saved.stable_digest == on_server and saved.history[-1].digest == on_server
    assert [p.name for p in history_dir(project, "pkg").glob("*.json")]  # the verdicts stay


def test_a_move_that_cannot_be_confirmed_stays_pending_and_status_says_so(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """The move drops and the server then stops answering: the record keeps the move as
    pending, with every verdict; status reports it and how to finish or undo it."""
    project = make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    with FaultProxy(f"http://{ollama_current.host}") as proxy:
        # The move is dropped, and then every read of /api/tags that settles it too.
        tags = Rule("GET", "/api/tags", "drop_after", times=10)
        proxy.add(Rule("POST", "/api/copy", "drop_after", body_contains=STABLE_COPY, then=tags))
        cache = DigestCache(tmp_path / ".cache" / "digests.json")
        with OllamaClient(proxy.host) as client, pytest.raises(StableMoveFailed) as failed:
            Builder(project, client, cache=cache).build("pkg")
        assert tags.fired >= 1
    assert "may or may not have moved" in failed.value.message
    saved = _record(tmp_path)
    assert saved.pending is not None and saved.variants[0].verdict == "passed"
    result = subprocess.run(
        [sys.executable, "-m", "modelpack", "status", "pkg"],
        cwd=tmp_path,
        env={**os.environ, "OLLAMA_HOST": ollama_current.host},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "was interrupted" in result.stdout and "it happened" in result.stdout
    assert "modelpack promote pkg a --no-verify" in result.stdout
    # The next build settles it: the move happened, so it enters the history.
    record, _, _ = build(project, ollama_current.host)
    assert record.pending is None
    assert record.history[-1].digest == digest(ollama_current.host, "smol:pkg")


def test_ctrl_c_during_the_stable_move_prints_what_is_true(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """SIGINT while the stable copy is on the wire: the message, the record and the server
    agree (it used to say "not changed" when the tag had moved)."""
    make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    with FaultProxy(f"http://{ollama_current.host}") as proxy:
        held = proxy.add(Rule("POST", "/api/copy", "hold", body_contains=STABLE_COPY))
        child = subprocess.Popen(
            [sys.executable, "-m", "modelpack", "build", "pkg"],
            cwd=tmp_path,
            env={**os.environ, "OLLAMA_HOST": proxy.host},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert held.reached.wait(300), "the build never reached the stable move"
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=60)
        finally:
            held.released.set()
            if child.poll() is None:
                child.kill()
                child.communicate()
    assert child.returncode == 130, err
    assert "Traceback" not in err
    on_server = digest(ollama_current.host, "smol:pkg")
    saved = _record(tmp_path)
    assert saved.pending is None
    assert saved.stable_digest == on_server  # the copy reached the server before the hold
    assert "interrupted after smol:pkg was pointed at a" in " ".join(err.split())


def test_an_unwritable_record_fails_before_the_server_is_touched(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    project = make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    builds = history_dir(project, "pkg")
    builds.parent.mkdir(parents=True)
    builds.write_text("not a folder")  # root ignores permissions; a file in the way does not
    before = _package_tags(ollama_current.host)
    result = subprocess.run(
        [sys.executable, "-m", "modelpack", "build", "pkg"],
        cwd=tmp_path,
        env={**os.environ, "OLLAMA_HOST": ollama_current.host},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("error:") == 1 and "cannot write the build record" in result.stderr
    assert "Traceback" not in result.stderr
    assert _package_tags(ollama_current.host) == before
    assert not record_path(project, "pkg").exists()


def test_a_second_build_of_the_package_is_refused_while_one_runs(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    make_project(tmp_path, package(ONE), {"smol.gguf": smollm2_path})
    env = {**os.environ, "OLLAMA_HOST": ollama_current.host}
    first = subprocess.Popen(
        [sys.executable, "-m", "modelpack", "build", "pkg", "--json"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = tmp_path / "modelfiles" / "pkg" / ".lock"
        for _ in range(600):
            if lock.exists() and json.loads(lock.read_text() or "{}").get("pid") == first.pid:
                break
            assert first.poll() is None, first.communicate()
            subprocess.run(["sleep", "0.1"], check=True)
        second = subprocess.run(
            [sys.executable, "-m", "modelpack", "build", "pkg"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2
        assert f"pkg is busy: pid {first.pid} (build)" in second.stderr
        out, err = first.communicate(timeout=600)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert json.loads(out)["stable_digest"] == digest(ollama_current.host, "smol:pkg")
