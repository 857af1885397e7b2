"""`modelpack status --openai` errors that need no running engine: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli
from modelpack.edge.server import free_port

SPEC = """\
packages:
  plain:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
  served:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
    serve: {engine: llama-server, version: b11549, ctx_size: 1024}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_gguf(tmp_path / "m.gguf", n_embd=128)
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_openai_needs_a_package(project: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--openai", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--openai needs PACKAGE" in result.output


def test_a_package_without_a_serve_block(project: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "plain", "--openai", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "package plain declares no serve: block" in result.output
    assert "Traceback" not in result.output


def test_no_server_is_a_setup_error(project: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["status", "served", "--openai", url])
    assert result.exit_code == 2
    assert f"the server at {url} went away during GET /props" in result.output
    assert "Traceback" not in result.output
