"""The rendered llama-server command really runs: the real server (xllamacpp's, parsed by
llama.cpp's own argument parser) starts from it on SmolLM2 and answers healthy."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from helpers.control_vector import write_control_vector
from helpers.llama_argv import ArgvLlamaServer

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
