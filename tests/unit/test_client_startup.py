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


def test_preload_imports_the_official_package_on_another_thread() -> None:
    """A build calls preload before its upload, so the import overlaps the wait."""
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
