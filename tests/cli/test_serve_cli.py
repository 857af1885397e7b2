"""`render` writes and checks the launch scripts; `inspect` names a control vector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.control_vector import write_control_vector
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
    serve:
      engine: llama-server
      version: b11549
      ctx_size: 2048
      control_vectors: [{file: v.gguf, scale: 12.0}]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_gguf(tmp_path / "m.gguf", n_layer=4, extra={"tokenizer.chat_template": CHATML})
    write_control_vector(tmp_path / "v.gguf", n_embd=64, layers=[1, 2, 3])
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": ""})


def test_render_writes_the_launch_script_and_check_covers_it(project: Path) -> None:
    result = run("render")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "modelfiles/pkg/full.Modelfile",
        "modelfiles/pkg/serve-llama-server.sh",
    ]
    script = project / "modelfiles/pkg/serve-llama-server.sh"
    assert os.access(script, os.X_OK)
    assert "  --control-vector-scaled v.gguf:12.0" not in script.read_text()
    assert "  --control-vector-scaled ../../v.gguf:12.0" in script.read_text()
    assert run("render", "--check").exit_code == 0
    # a forgotten flag (the spec changed, the committed script did not) fails the check
    (project / "modelpack.yaml").write_text(SPEC.replace("ctx_size: 2048", "ctx_size: 4096"))
    result = run("render", "--check")
    assert result.exit_code == 1
    assert "modelfiles/pkg/serve-llama-server.sh: differs from what the spec renders" in (
        result.stdout
    )
    (project / "modelpack.yaml").write_text(SPEC)
    (project / "modelfiles/pkg/serve-vllm.sh").write_text("#!/bin/sh\n")
    result = run("render", "--check")
    assert result.exit_code == 1
    assert "modelfiles/pkg/serve-vllm.sh: not produced by the spec (remove it)" in result.stdout


def test_a_wrong_vector_fails_render_and_writes_nothing(project: Path) -> None:
    write_control_vector(project / "v.gguf", n_embd=4096, layers=[1, 2, 3])
    result = run("render")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: modelpack.yaml:12: packages.pkg.serve.control_vectors[0].file: v.gguf does not "
        "fit m.gguf: a control vector for a 4096-wide model does not fit the base's embedding "
        "length 64"
    )
    assert "Traceback" not in result.output
    assert not (project / "modelfiles").exists()


def test_inspect_names_a_control_vector(project: Path) -> None:
    result = run("inspect", "v.gguf")
    assert result.exit_code == 0, result.output
    assert "a model, not" not in result.output
    lines = [line.split(None, 1) for line in result.stdout.splitlines()[1:]]
    shown = {parts[0]: parts[1].strip() for parts in lines if len(parts) == 2}
    assert shown["kind"] == "control-vector"
    assert "steers layers" in result.stdout and "1-3 (3 directions)" in result.stdout
    assert shown["width"] == "64"
