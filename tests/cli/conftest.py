"""Fixtures for the CLI tests: a small offline project, and a service that is not Ollama."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf

TWO_VARIANTS_SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    system: Be brief.
    variants: [full, lightweight]
"""


@pytest.fixture
def offline_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`pkg` (variants full and lightweight) on a tiny GGUF, as the working directory, with
    OLLAMA_HOST pointing where nothing answers: a command that needs a server says so."""
    write_tiny_gguf(tmp_path / "m.gguf")
    (tmp_path / "modelpack.yaml").write_text(TWO_VARIANTS_SPEC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    return tmp_path


class _FakeWrongService(BaseHTTPRequestHandler):
    """Answers as no Ollama ever does: JSON of the wrong shape for the API paths modelpack
    asks first, an HTML page for anything else (OLLAMA_HOST pointing at another service)."""

    def do_GET(self) -> None:
        replies: dict[str, object] = {"/api/version": [], "/api/tags": {"models": "nope"}}
        if self.path in replies:
            body, kind = json.dumps(replies[self.path]).encode(), "application/json"
        else:
            body, kind = b"<html><title>Welcome</title>not an API</html>", "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_wrong_service() -> Iterator[str]:
    """A fake, for a fault no real Ollama can be made to produce: a host that is some other
    service. Its `host:port`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeWrongService)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
