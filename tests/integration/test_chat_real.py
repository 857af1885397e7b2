"""render_go against the real servers: what goexec renders is what Ollama itself renders.

Each shipped chat format becomes a model on the real SmolLM2 blob (uploaded once; creating a
model from an existing blob is fast, and the server keeps one runner per blob, so the model
loads once). The probe conversation goes through /api/chat with num_predict 1, and the prompt
the server built is read back from its own log: 0.9.3 logs it at TRACE (`OLLAMA_DEBUG=2`,
llm/server.go "completion request"), 0.5.4 at DEBUG (server/routes.go "chat request").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama_server as rig
import pytest

from modelpack.core.chat import PROBE, ChatFormat, chat_formats, render_go
from modelpack.core.gotmpl.execute import go_unquote
from modelpack.core.versions import OllamaVersion
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FORMATS = chat_formats([REPO / "templates"])

# slog's text handler writes the prompt Go-quoted (strconv.Quote) after `prompt=`.
_LOGGED_PROMPT = re.compile(
    r'msg="(?:completion|chat) request"(?: images=\d+)? prompt=("(?:[^"\\]|\\.)*")'
)


def _server(name: str, level: str, workdir: Path) -> OllamaServer:
    build = rig.install(name)
    build = dataclasses.replace(build, env={**build.env, "OLLAMA_DEBUG": level})
    return OllamaServer(build, workdir, ready_timeout=60)


@pytest.fixture(scope="module", params=[("current", "2"), ("legacy", "1")], ids=["0.9.3", "0.5.4"])
def debug_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path
) -> Iterator[tuple[OllamaServer, str]]:
    """A real server that logs rendered prompts, with the SmolLM2 blob already uploaded."""
    name, level = request.param
    with _server(name, level, tmp_path_factory.mktemp(f"chat-{name}")) as server:
        with OllamaClient(server.host) as client:
            digest = client.push_blob(smollm2_path)
        yield server, digest


def _create(client: OllamaClient, model: str, digest: str, fmt: ChatFormat) -> None:
    if client.structured_create:
        client.create({"model": model, "files": {"m.gguf": digest}, "template": fmt.template})
    else:
        client.create(
            {"model": model, "modelfile": f'FROM @{digest}\nTEMPLATE """{fmt.template}"""\n'}
        )


def _logged_prompts(log: Path) -> list[str]:
    return [go_unquote(m.group(1)) for m in _LOGGED_PROMPT.finditer(log.read_text("utf-8"))]


def test_render_go_equals_the_prompt_the_real_server_builds(
    debug_server: tuple[OllamaServer, str],
) -> None:
    server, digest = debug_server
    messages = [{"role": m.role, "content": m.content} for m in PROBE]
    mismatches = {}
    with OllamaClient(server.host) as client:
        version = client.ollama_version()
        for name, fmt in sorted(FORMATS.items()):
            model = f"chat-{name}:probe"
            _create(client, model, digest, fmt)
            seen = len(_logged_prompts(server.log_path))
            response = httpx.post(
                f"{server.url}/api/chat",
                json={
                    "model": model,
                    "messages": messages,
                    "stream": False,
                    "options": {"num_predict": 1},
                },
                timeout=120,
            )
            assert response.status_code == 200, (name, response.text)
            logged = _logged_prompts(server.log_path)[seen:]
            assert len(logged) == 1, (name, logged)
            ours = render_go(fmt.template, PROBE, version=version)
            if logged[0] != ours:
                mismatches[name] = (logged[0], ours)
    assert mismatches == {}
    assert version.release in {OllamaVersion(0, 9, 3), OllamaVersion(0, 5, 4)}
    assert len(FORMATS) >= 11


def test_legacy_prompt_template_renders_like_the_real_server(
    debug_server: tuple[OllamaServer, str],
) -> None:
    """A template without .Messages takes Ollama's .System/.Prompt/.Response path, which cuts
    the last turn after {{ .Response }}: goexec must reproduce that too."""
    server, digest = debug_server
    legacy = ChatFormat(
        "legacy",
        "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
        "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n",
        [],
    )
    with OllamaClient(server.host) as client:
        _create(client, "chat-legacy:probe", digest, legacy)
        seen = len(_logged_prompts(server.log_path))
        response = httpx.post(
            f"{server.url}/api/chat",
            json={
                "model": "chat-legacy:probe",
                "messages": [{"role": m.role, "content": m.content} for m in PROBE],
                "stream": False,
                "options": {"num_predict": 1},
            },
            timeout=120,
        )
        assert response.status_code == 200, response.text
        logged = _logged_prompts(server.log_path)[seen:]
        ours = render_go(legacy.template, PROBE, version=client.ollama_version())
    assert logged == [ours]
    assert ours.endswith("<|im_start|>assistant\n")
    assert "ASSISTANT-PROBE-1: 2.<|im_end|>\n<|im_start|>user" in ours
