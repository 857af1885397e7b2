"""The rendered llama-server command really runs: the real server (xllamacpp's, parsed by
llama.cpp's own argument parser) starts from it on SmolLM2 and answers healthy."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from helpers.control_vector import write_control_vector
from helpers.llama_argv import ArgvLlamaServer

from modelpack.cli import cli
from modelpack.core.package.spec import load_spec
from modelpack.core.serve.launch import ServeRenderer

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  smol:
    model: smollm2
    from: gguf/SmolLM2-135M-Instruct.Q4_1.gguf
    chat_template: auto
    variants: [full]
    serve:
      engine: llama-server
      version: b11549
      ctx_size: 1024
      n_gpu_layers: 0
      parallel: 1
      threads: 1
      thinking: false
      control_vectors: [{file: cvec/smol.gguf, scale: 0.5, layers: [1, 29]}]
      extra_flags: [--flash-attn, "off"]
"""


def test_rendered_argv_starts_a_healthy_server(smollm2_path: Path, tmp_path: Path) -> None:
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / smollm2_path.name).symlink_to(smollm2_path)
    (tmp_path / "cvec").mkdir()
    write_control_vector(tmp_path / "cvec/smol.gguf", n_embd=576, layers=range(1, 30))
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    loaded = load_spec(SPEC, source=str(tmp_path / "modelpack.yaml"))
    (launch,) = ServeRenderer(loaded, spec_dir=tmp_path).render_package("smol")
    assert launch.argv[:3] == ["llama-server", "--model", "../../gguf/" + smollm2_path.name]
    launch.path.parent.mkdir(parents=True)
    with ArgvLlamaServer(launch.argv, cwd=launch.path.parent, log_dir=tmp_path) as server:
        props = httpx.get(f"{server.base_url}/props", timeout=10).json()
        assert props["default_generation_settings"]["n_ctx"] == 1024
        assert props["model_path"].endswith(smollm2_path.name)
        answer = httpx.post(
            f"{server.base_url}/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text


DRIFT_SPEC = """\
packages:
  smol:
    model: smollm2
    from: gguf/SmolLM2-135M-Instruct.Q4_1.gguf
    chat_template: auto
    variants: [full]
    serve:
      engine: llama-server
      version: b11549
      alias: smol
      ctx_size: 1024
      parallel: 1
      threads: 1
      extra_flags: [--flash-attn, "off"]
"""


def _drift_project(tmp_path: Path, smollm2_path: Path) -> tuple[Path, list[str], Path]:
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / smollm2_path.name).symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(DRIFT_SPEC)
    loaded = load_spec(DRIFT_SPEC, source=str(tmp_path / "modelpack.yaml"))
    (launch,) = ServeRenderer(loaded, spec_dir=tmp_path).render_package("smol")
    launch.path.parent.mkdir(parents=True)
    return tmp_path / "modelpack.yaml", launch.argv, launch.path.parent


def _status(spec: Path, url: str, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["status", "smol", "--file", str(spec), "--openai", url, *extra])


def test_status_openai_names_a_wrong_flag(smollm2_path: Path, tmp_path: Path) -> None:
    """The server is started with --ctx-size 2048 and --flash-attn on where the spec says 1024
    and off: both its /props and its real command line (found through its port) say so."""
    spec, argv, cwd = _drift_project(tmp_path, smollm2_path)
    wrong = list(argv)
    wrong[wrong.index("--ctx-size") + 1] = "2048"
    wrong[wrong.index("--flash-attn") + 1] = "on"
    with ArgvLlamaServer(wrong, cwd=cwd, log_dir=tmp_path) as server:
        result = _status(spec, server.base_url)
        as_json = _status(spec, server.base_url, "--json")
        pid = server.pid
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "n_ctx per slot is 2048 on the server, 1024 in the spec (/props; " in result.stdout
    assert (
        "    - ctx_size is 2048 on the server, 1024 in the spec (command line --ctx-size)" in lines
    )
    assert "    - --flash-attn is on on the server, off in the spec (command line)" in lines
    assert f"  process: pid {pid}: {sys.executable} " in result.stdout
    assert "build not reported" in lines[0]  # xllamacpp's build_info is b0-unknown
    data = json.loads(as_json.stdout)
    assert data["drift"] is True
    settings = {d["setting"] for d in data["differences"]}
    assert settings == {"n_ctx per slot", "ctx_size", "--flash-attn"}
    assert data["reported"]["parallel"] == "1"


def test_status_openai_no_drift_on_the_rendered_argv(smollm2_path: Path, tmp_path: Path) -> None:
    """Started from the spec's own argv (the port aside), nothing differs: the relative model
    path is resolved against the process's working folder, the template is the GGUF's."""
    spec, argv, cwd = _drift_project(tmp_path, smollm2_path)
    other = tmp_path / "vllm-only.yaml"
    vllm_block = "      engine: vllm\n      version: 0.10.1.1\n      model: HuggingFaceTB/SmolLM2\n"
    other.write_text(DRIFT_SPEC.split("      engine:")[0] + vllm_block)
    with ArgvLlamaServer(argv, cwd=cwd, log_dir=tmp_path) as server:
        result = _status(spec, server.base_url)
        mismatch = _status(other, server.base_url)
    assert mismatch.exit_code == 2, mismatch.output
    assert "is llama-server, but package smol serves on vllm only" in mismatch.output
    assert result.exit_code == 0, result.output
    assert "  serve block  ok" in result.stdout.splitlines()
    assert "no drift" in result.stderr
