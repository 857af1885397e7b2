"""`modelpack matrix --openai`: the same smoke prompts against a real llama.cpp server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.llama_server import LlamaServer

from modelpack.cli import cli

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: mx
    from: smol.gguf
    chat_template: chatml
    variants: [lightweight]
    smoke:
      prompts:
        - prompt: What is the capital of France?
          system: You are a helpful assistant.
          expect: Paris
          num_predict: 16
"""


def test_matrix_against_llama_server(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    with LlamaServer(smollm2_path, alias="smol") as server:
        result = CliRunner().invoke(
            cli,
            ["matrix", "pkg", "--openai", server.base_url, "--model", "smol", "--json", "m.json"],
        )
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["target"] == "openai"
    (cell,) = data["cells"]
    (run,) = cell["runs"]
    assert "Paris" in run["answer"]
    assert run["ttft_ms"] > 0
    assert run["decode_tps"] > 0


def test_openai_needs_a_model_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "smol.gguf").write_bytes(b"GGUF")
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["matrix", "--openai", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--openai needs --model" in result.output
