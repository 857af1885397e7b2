"""What a build does before any model work: list models, choose TLS, stay light, and know
which files to hash first.

The real servers' listings are checked by the integration tests (a rebuild's unchanged check
reads them); these cover what a real Ollama cannot produce: a reply that is not Ollama's.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from modelpack.edge.client import OllamaClient
from modelpack.edge.tls import verify_for
from modelpack.errors import NotOllamaError

TAGS_093 = {
    "models": [
        {"name": "smol:pkg", "model": "smol:pkg", "digest": "ab" * 32, "size": 1},
        {"name": "smol:pkg-full", "model": "smol:pkg-full", "digest": "cd" * 32, "size": 1},
        {"name": "odd", "model": "odd", "digest": None},
    ]
}


def fake_tags(body: object, *, content: bytes | None = None) -> OllamaClient:
    """A client whose network is a fake answering GET /api/tags with `body` (or raw bytes)."""

    def answer(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("GET", "/api/tags")
        if content is not None:
            return httpx.Response(200, content=content)
        return httpx.Response(200, json=body)

    return OllamaClient("127.0.0.1:11434", transport=httpx.MockTransport(answer))


def test_model_digests_reads_the_listing_by_name() -> None:
    with fake_tags(TAGS_093) as client:
        assert client.model_digests() == {"smol:pkg": "ab" * 32, "smol:pkg-full": "cd" * 32}
        assert client.model_digest("smol:pkg-full") == "cd" * 32
        assert client.model_digest("smol") is None


@pytest.mark.parametrize(
    ("body", "content"),
    [({"error": "nope"}, None), ([1, 2], None), (None, b"<html>a web page</html>")],
)
def test_a_listing_that_is_not_ollamas_is_one_server_error(
    body: object, content: bytes | None
) -> None:
    with fake_tags(body, content=content) as client, pytest.raises(NotOllamaError) as caught:
        client.model_digests()
    assert "not Ollama's reply" in str(caught.value)
    assert "OLLAMA_HOST" in str(caught.value)


def test_plain_http_loads_no_ca_bundle_and_https_shares_one_context() -> None:
    assert verify_for("http://127.0.0.1:11434") is False
    secure = verify_for("https://ollama.example:443")
    assert isinstance(secure, ssl.SSLContext)
    assert secure.verify_mode == ssl.CERT_REQUIRED and secure.check_hostname
    assert verify_for("HTTPS://other.example:8443") is secure


def test_a_client_imports_the_official_package_only_when_it_needs_it() -> None:
    """Opening a client and listing models (what a no-op rebuild does) leaves `ollama` out."""
    code = """
import json, sys, httpx
from modelpack.edge.client import OllamaClient
tags = {"models": [{"model": "a:b", "digest": "ef" * 32}]}
client = OllamaClient(":1", transport=httpx.MockTransport(lambda r: httpx.Response(200, json=tags)))
listed = client.model_digests()
before = "ollama" in sys.modules
client.close()
print(json.dumps([listed, before, "ollama" in sys.modules]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [{"a:b": "ef" * 32}, False, False]


def test_create_and_copy_send_what_the_official_client_sends_without_importing_it() -> None:
    """A build's create and copy go through httpx, with the very bodies the official client
    sends (every StructuredCreate field set): the `ollama` package stays out until asked."""
    code = """
import json, sys, httpx
from modelpack.core.modelfile.request import StructuredCreate
from modelpack.edge.client import OllamaClient
sent = []
def answer(request):
    sent.append([request.url.path, json.loads(request.content)])
    return httpx.Response(200, text='{"status":"success"}\\n')
request = StructuredCreate(
    model="m:full", from_="base:latest", files={"m.gguf": "sha256:" + "ab" * 32},
    adapters={"a.gguf": "sha256:" + "cd" * 32}, template="{{ .Prompt }}", system="Be brief.",
    parameters={"temperature": 0.2, "num_ctx": 4096, "stop": ["<|im_end|>"], "use_mmap": True},
    messages=[{"role": "user", "content": "hi"}], license=["MIT", "Apache-2.0"],
)
with OllamaClient(":1", transport=httpx.MockTransport(answer)) as client:
    lines = list(client.create_stream(request))
    client.copy("m:full", "m:pinned")
ours, before = sent[:], "ollama" in sys.modules
sent.clear()
import ollama
official = ollama.Client(host="http://127.0.0.1:1", transport=httpx.MockTransport(answer))
list(official.create(model=request.model, from_=request.from_, files=request.files,
    adapters=request.adapters, template=request.template, license=request.license,
    system=request.system, parameters=request.parameters, messages=request.messages,
    stream=True))
official.copy("m:full", "m:pinned")
print(json.dumps({"ours": ours, "official": sent, "loaded": before, "lines": lines}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["loaded"] is False
    assert result["lines"] == [{"status": "success"}]
    assert [path for path, _ in result["ours"]] == ["/api/create", "/api/copy"]
    assert result["ours"] == result["official"]


def test_preload_imports_the_official_package_on_another_thread() -> None:
    """A smoke test calls preload before its first generation, so the import overlaps
    the model's load."""
    code = """
import json, sys, threading, httpx
from modelpack.edge.client import OllamaClient
client = OllamaClient(":1", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
client.preload()
workers = [t for t in threading.enumerate() if t is not threading.main_thread()]
for worker in workers:
    worker.join()
loaded = "ollama" in sys.modules
client.preload()
again = [t for t in threading.enumerate() if t is not threading.main_thread()]
print(json.dumps([len(workers), loaded, len(again), type(client._official).__name__]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [1, True, 0, "Client"]


def test_local_files_are_the_files_a_render_uploads(tmp_path: Path) -> None:
    """What build prefetches into the digest cache: the files FROM names, the package's and
    its variants', resolved as the renderer resolves them; a model name is no file."""
    from helpers.tiny_gguf import write_tiny_gguf

    from modelpack.edge.project import open_project

    (tmp_path / "sub").mkdir()
    write_tiny_gguf(tmp_path / "m.gguf")
    write_tiny_gguf(tmp_path / "sub" / "other.gguf")
    (tmp_path / "modelpack.yaml").write_text(
        "packages:\n"
        "  pkg:\n"
        "    model: acme\n"
        "    from: m.gguf\n"
        "    chat_template: chatml\n"
        "    variants:\n"
        "      - full\n"
        "      - {name: other, template: simple, from: sub/other.gguf}\n"
        "      - {name: again, template: simple, from: ./m.gguf}\n"
        "      - {name: remote, template: lightweight, from: 'llama3:8b'}\n"
    )
    project = open_project(tmp_path / "modelpack.yaml")
    files = project.local_files("pkg")
    assert files == [(tmp_path / "m.gguf").resolve(), (tmp_path / "sub" / "other.gguf").resolve()]
    rendered = project.renderer().render_package("pkg")
    assert {p for item in rendered for p in item.files.values()} == set(files)
