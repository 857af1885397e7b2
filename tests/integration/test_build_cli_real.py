"""`modelpack build` as a user runs it: a subprocess against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer

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
