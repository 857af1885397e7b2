"""`modelpack build` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ollama_server as rig
import pytest

from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaBuild, OllamaServer

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: clirun
    from: smol.gguf
    chat_template: chatml
    parameters: {{temperature: {temperature}, stop: ["<|im_end|>"]}}
    variants: [lightweight]
    smoke:
      prompts: [{{prompt: "Tell me a long story about Paris.", num_predict: {n}}}]
"""


def default_signals() -> None:
    """Runs in the child before exec: SIGINT and SIGTERM at their defaults, as a terminal gives.

    A suite started in the background (`scripts/test.sh &`) inherits SIGINT ignored; Python
    then installs no KeyboardInterrupt handler and the build would shrug off the test's Ctrl-C.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run(
    project: Path, host: str | None, *args: str, home: Path | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "MODELPACK_HOME": str(home or project / ".mp")}
    if host is not None:
        env["OLLAMA_HOST"] = host
    return subprocess.Popen(
        [sys.executable, "-m", "modelpack", "build", "pkg", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )


def test_json_record_then_ctrl_c_leaves_the_stable_tag(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC.format(temperature=0, n=8))
    first = run(tmp_path, ollama_current.host, "--json")
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    record = json.loads(out)
    assert record["stable_variant"] == "lightweight"
    with OllamaClient(ollama_current.host) as client:
        before = client.model_digest("clirun:pkg")
    assert before == record["stable_digest"]

    # A changed parameter makes a new model; interrupt while its long smoke answer streams.
    (tmp_path / "modelpack.yaml").write_text(SPEC.format(temperature=0.5, n=400))
    second = run(tmp_path, ollama_current.host)
    time.sleep(4)
    assert second.poll() is None, "the build ended before it could be interrupted"
    second.send_signal(signal.SIGINT)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 130, err
    assert "interrupted: the stable tag was not changed" in err
    assert "Traceback" not in err
    with OllamaClient(ollama_current.host) as client:
        assert client.model_digest("clirun:pkg") == before
        assert client.model_digest("clirun:pkg-lightweight") != before


def test_sigterm_during_the_smoke_test_leaves_the_stable_tag_and_stops_the_server(
    smollm2_path: Path, tmp_path: Path
) -> None:
    """How CI cancels a job: SIGTERM to `build --serve` while the new variant answers."""
    home = tmp_path / ".mp"
    (home / "ollama").mkdir(parents=True)
    rig.install("current")  # the managed server is the rig's 0.9.3, in a home of its own
    (home / "ollama" / "current").symlink_to(rig.modelpack_home() / "ollama" / "current")
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC.format(temperature=0, n=8))
    first = run(tmp_path, None, "--serve", "--json", home=home)
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    before = json.loads(out)["stable_digest"]
    [workdir] = (home / "run").glob("serve-*")
    log = workdir / "server.log"
    assert served_from(workdir) == [], "the first build left its server running"

    (tmp_path / "modelpack.yaml").write_text(SPEC.format(temperature=0.5, n=400))
    seen = log.stat().st_size
    second = run(tmp_path, None, "--serve", home=home)
    # The new variant is created, then loaded for its smoke test; its answer takes seconds.
    deadline = time.monotonic() + 120
    while b"llama runner started" not in log.read_bytes()[seen:]:
        assert second.poll() is None, second.communicate()[1]
        assert time.monotonic() < deadline, "the smoke test never loaded the model"
        time.sleep(0.1)
    time.sleep(1)
    serving = served_from(workdir)
    assert serving, "no managed server to stop"
    assert second.poll() is None, "the build ended before it could be terminated"
    second.send_signal(signal.SIGTERM)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 143, err
    assert "terminated: the stable tag was not changed" in err
    assert "Traceback" not in err
    assert served_from(workdir) == [], f"the managed server {serving} outlived the build"

    # Read the tags back from that server's own models dir, on a server started for it.
    build = OllamaBuild.on_path() or OllamaBuild.installed(home, "current")
    with OllamaServer(build, workdir, ready_timeout=60) as server, OllamaClient(server.host) as c:
        assert c.model_digest("clirun:pkg") == before
        assert c.model_digest("clirun:pkg-lightweight") not in (None, before)


def served_from(workdir: Path) -> list[int]:
    """The pids of live processes (a server, its runners) serving models from `workdir`."""
    wanted = f"OLLAMA_MODELS={workdir / 'models'}\0".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if wanted in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
    return found
