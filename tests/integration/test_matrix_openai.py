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
    (target,) = data["targets"]  # the package has no serve block: what the server reports
    assert (target["engine"], target["tag"], target["declared"]) == ("llama-server", "smol", {})
    assert target["reported"]["model"] == smollm2_path.name
    assert target["reported"]["n_ctx per slot"] == "1024"
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


SERVED = (
    SPEC
    + """\
    serve:
      engine: llama-server
      version: b11549
      alias: smol
      ctx_size: 1024
      parallel: 1
      threads: 1
"""
)


def test_baseline_names_the_server_config_that_changed(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of one package on llama-servers started with different --ctx-size: the second's
    baseline comparison says which setting changed, from /props and the command line."""
    from helpers.llama_argv import ArgvLlamaServer

    from modelpack.core.package.spec import load_spec
    from modelpack.core.serve.launch import ServeRenderer

    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SERVED)
    monkeypatch.chdir(tmp_path)
    loaded = load_spec(SERVED, source=str(tmp_path / "modelpack.yaml"))
    (launch,) = ServeRenderer(loaded, spec_dir=tmp_path).render_package("pkg")
    launch.path.parent.mkdir(parents=True)
    outputs = []
    for ctx, name in (("1024", "base.json"), ("2048", "now.json")):
        argv = list(launch.argv)
        argv[argv.index("--ctx-size") + 1] = ctx
        args = ["matrix", "pkg", "--model", "smol", "--json", name]
        if name == "now.json":
            args += ["--baseline", "base.json", "--threshold", "10"]
        with ArgvLlamaServer(argv, cwd=launch.path.parent, log_dir=tmp_path) as server:
            outputs.append(CliRunner().invoke(cli, [*args, "--openai", server.base_url]))
    assert outputs[0].exit_code == 0, outputs[0].output
    assert outputs[1].exit_code == 0, outputs[1].output
    (target,) = json.loads((tmp_path / "now.json").read_text())["targets"]
    assert target["declared"]["ctx_size"] == "1024"
    assert target["reported"]["ctx_size"] == "2048"  # from its command line
    note = "note        pkg (smol): config ctx_size 1024 -> 2048, n_ctx per slot 1024 -> 2048"
    assert note in outputs[1].stdout.splitlines()
