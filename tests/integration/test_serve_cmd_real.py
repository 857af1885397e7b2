"""`modelpack serve PACKAGE` and `matrix --engine llama-server` against the real llama-server
(xllamacpp's), started from the package's declared serve block."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  smol:
    model: smollm2
    from: gguf/smol.gguf
    chat_template: auto
    system: You are a helpful assistant.
    variants: [full]
    smoke:
      prompts: [{{prompt: "What is the capital of France?", expect: {expect}, num_predict: 16}}]
    serve:
      engine: llama-server
      version: b11549
      ctx_size: 1024
      n_gpu_layers: 0
      parallel: 1
      threads: 1
      port: {port}
  broken:
    model: broken
    from: gguf/broken.gguf
    chat_template: {{text: "{{{{ .Prompt }}}}"}}
    variants: [full]
    serve: {{engine: llama-server, version: b11549, threads: 1, chat_template: {{file: t.jinja}}}}
  plain:
    model: plain
    from: gguf/smol.gguf
    chat_template: auto
    variants: [full]
"""


def project(root: Path, smollm2: Path, *, expect: str = "Paris", port: int = 8080) -> Path:
    (root / "gguf").mkdir()
    (root / "gguf/smol.gguf").symlink_to(smollm2)
    # llama.cpp aborts on a MoE count without experts used; modelpack's checks pass it.
    write_tiny_gguf(root / "gguf/broken.gguf", extra={"llama.expert_count": 4})
    (root / "t.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    (root / "modelpack.yaml").write_text(SPEC.format(expect=expect, port=port))
    return root


def default_signals() -> None:
    """SIGINT and SIGTERM at their defaults, as a terminal gives (a suite run in the
    background inherits SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def serve(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelpack", "serve", *args],
        cwd=root,
        env={**os.environ, "MODELPACK_HOME": str(root / ".mp")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_signals,
    )


def servers_in(folder: Path) -> list[int]:
    """Live processes whose working folder is `folder` (a llama-server runs from its script's)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if Path(os.readlink(proc / "cwd")) == folder:
                    found.append(int(proc.name))
    return found


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_serve_smoke_tests_then_serves_until_interrupted(
    smollm2_path: Path, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    root = project(tmp_path, smollm2_path)
    process = serve(root, "smol", "--port", "0")
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("serving smol at http://127.0.0.1:"), process.communicate()[1]
    url = line.split(" at ")[1].split()[0]
    port = int(url.rsplit(":", 1)[1])
    pid = int(line.split("llama-server pid ")[1].split(")")[0])
    assert servers_in(root / "modelfiles/smol") == [pid]
    reply = httpx.post(
        f"{url}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
        timeout=60,
    )
    assert reply.status_code == 200, reply.text
    props = httpx.get(f"{url}/props", timeout=10).json()
    assert props["default_generation_settings"]["n_ctx"] == 1024  # the block's ctx_size

    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "1/1 passed" in err
    assert gone(pid)
    assert not answers(port)
    assert servers_in(root / "modelfiles/smol") == []


def test_serve_stops_the_server_when_the_smoke_test_fails(
    smollm2_path: Path, tmp_path: Path
) -> None:
    root = project(tmp_path, smollm2_path, expect="Berlin")
    process = serve(root, "smol", "--port", "0")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1, err
    assert "serving" not in out
    assert "answer does not match expect /Berlin/" in " ".join(err.split())
    assert servers_in(root / "modelfiles/smol") == []


def test_serve_uses_the_declared_port_and_refuses_a_taken_one(
    smollm2_path: Path, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        root = project(tmp_path, smollm2_path, port=port)
        process = serve(root, "smol")
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is already in use" in err
    assert "--port 0" in err


def test_a_server_that_dies_at_load_is_one_line_with_its_cause(
    smollm2_path: Path, tmp_path: Path
) -> None:
    root = project(tmp_path, smollm2_path)
    process = serve(root, "broken", "--port", "0")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    (line,) = err.strip().splitlines()[-1:]
    assert line.startswith("error: llama-server exited with code")
    assert "GGML_ASSERT(n_expert_used_max > 0) failed" in line
    assert servers_in(root / "modelfiles/broken") == []


def test_serve_needs_a_llama_server_block(smollm2_path: Path, tmp_path: Path) -> None:
    root = project(tmp_path, smollm2_path)
    process = serve(root, "plain")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "error: package plain declares no llama-server serve block" in err


def test_matrix_engine_llama_server(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, smollm2_path)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MODELPACK_HOME", str(root / ".mp"))
    result = CliRunner().invoke(
        cli, ["matrix", "--engine", "llama-server", "--json", "m.json"], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output  # broken fails; smol still runs
    data = json.loads((root / "m.json").read_text())
    assert data["target"] == "openai"
    assert data["server_version"].startswith("llama-server b")
    cells = {c["package"]: c for c in data["cells"]}
    assert set(cells) == {"smol", "broken"}  # plain declares no llama-server
    assert cells["smol"]["variant"] == "llama-server"
    (run,) = cells["smol"]["runs"]
    assert run["passed"] and "Paris" in run["answer"]
    assert run["ttft_ms"] > 0
    assert "GGML_ASSERT" in cells["broken"]["error"]
    deadline = time.monotonic() + 10
    while servers_in(root / "modelfiles/smol") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert servers_in(root / "modelfiles/smol") == []
