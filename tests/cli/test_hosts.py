"""Malformed hosts and servers that answer the wrong shape: one error line, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import base_url
from modelpack.errors import NotOllamaError, UsageError

SPEC = """\
packages:
  pkg:
    model: acme
    from: acme/base
    chat_template: chatml
    variants: [full]
"""


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("localhost", "http://localhost:11434"),
        (":8080", "http://127.0.0.1:8080"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("https://ollama.example.com", "https://ollama.example.com:443"),
        ("http://proxy:8000/ollama/", "http://proxy:8000/ollama"),
    ],
)
def test_host_forms(host: str, url: str) -> None:
    assert base_url(host) == url


@pytest.mark.parametrize("host", ["http://[::1", "127.0.0.1:99999", ":abc", "ftp://x", "h:1?x=1"])
def test_malformed_hosts_are_refused(host: str) -> None:
    with pytest.raises(UsageError, match="is not an Ollama host"):
        base_url(host)


@pytest.mark.parametrize("command", [["build", "pkg"], ["lint", "Modelfile"], ["status"]])
@pytest.mark.parametrize("host", ["http://[::1", "127.0.0.1:99999", ":abc"])
def test_a_malformed_ollama_host_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], host: str
) -> None:
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    (tmp_path / "Modelfile").write_text("FROM llama3\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, command, env={"OLLAMA_HOST": host})
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: OLLAMA_HOST: ") and result.output.count("\n") == 1
    assert "is not an Ollama host" in result.output


def test_replies_of_the_wrong_shape_are_server_errors(fake_wrong_service: str) -> None:
    with OllamaClient(fake_wrong_service) as client:
        for call in (client.version, client.model_digests):
            with pytest.raises(NotOllamaError, match="not Ollama's reply") as error:
                call()
            assert error.value.exit_code == 2
