"""Thinking off, proven on real templates and real servers (`smoke.think: false`).

- llama-server (xllamacpp's): a Qwen3-style Jinja template on a tiny GGUF, where
  `/apply-template` shows the prompt with and without the switch; then the smoke cells of
  SmolLM2 (which speaks ChatML, as Qwen3's template does) under three templates: Qwen3-style
  (thinking off, proven: the cell passes), one that always opens `<think>` (fails), and
  SmolLM2's own ChatML with no switch at all (not proven: fails).
- Ollama: 0.9.3 takes `think`; a TEMPLATE with Qwen3's `.IsThinkSet`/`.Think` switch closes an
  empty block, and the prompt the real server built (read from its TRACE log) is the one
  modelpack proves it on. 0.5.4 has no `think`: only a TEMPLATE that closes the block itself
  proves it there, and the run says so.

Random-weight and 135M models never reason on their own, so an answer carrying reasoning is
covered by tests/unit/test_thinking.py; here every failure comes from the real prompt.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama_server as rig
import pytest
from click.testing import CliRunner
from helpers.llama_argv import ArgvLlamaServer
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli
from modelpack.core.chat import THINK_SINCE
from modelpack.core.gotmpl.execute import go_unquote
from modelpack.core.package.spec import Smoke, SmokePrompt
from modelpack.core.results.thinking import prompt_problem
from modelpack.edge.client import OllamaClient
from modelpack.edge.openai_target import OpenAITarget
from modelpack.edge.server import OllamaServer
from modelpack.jobs.smoke import SmokeTester

pytestmark = pytest.mark.integration

QWEN3_JINJA = """\
{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {%- set content = message.content %}
        {%- if '</think>' in content %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {{- '<|im_start|>assistant\\n' + content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}
"""
"""Qwen3's chat template, tools left out: the switch and the history's <think> stripping."""

ALWAYS_THINKS_JINJA = """\
{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}
"""
"""DeepSeek-R1 style: the generation prompt opens the block whatever the switch says."""

PROMPT = "What is the capital of France?"
SYSTEM = "You are a helpful assistant."


def test_apply_template_shows_the_qwen3_switch_on_a_tiny_gguf(tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "q.gguf", extra={"tokenizer.chat_template": QWEN3_JINJA})
    argv = ["llama-server", "--model", "q.gguf", "--port", "0", "--jinja", "--threads", "1"]
    with (
        ArgvLlamaServer(argv, cwd=model.parent, log_dir=tmp_path) as server,
        OpenAITarget(server.base_url) as target,
    ):
        off = target.prompt("q", PROMPT, system=SYSTEM, thinking=False)
        on = target.prompt("q", PROMPT, system=SYSTEM, thinking=True)
    assert off is not None and on is not None
    assert off == on + "<think>\n\n</think>\n\n"
    assert on.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
                       "<|im_start|>assistant\n")  # fmt: skip
    assert prompt_problem(off) is None
    problem = prompt_problem(on)
    assert problem is not None and "not proven" in problem


LLAMA_SPEC = """\
packages:
{packages}
"""
LLAMA_PACKAGE = """\
  {name}:
    model: {name}
    from: gguf/smol.gguf
    chat_template: auto
    system: You are a helpful assistant.
    variants: [full]
    smoke:
      think: false
      prompts: [{{prompt: "What is the capital of France?", expect: Paris, num_predict: 24}}]
    serve:
      engine: llama-server
      version: b11549
      threads: 1
      ctx_size: 1024
      {template}
"""


def test_llama_server_cells_pass_only_when_the_prompt_turns_thinking_off(
    smollm2_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf/smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "qwen3.jinja").write_text(QWEN3_JINJA)
    (tmp_path / "r1.jinja").write_text(ALWAYS_THINKS_JINJA)
    templates = {
        "qwen3": "chat_template: {file: qwen3.jinja}",
        "r1": "chat_template: {file: r1.jinja}",
        "chatml": "chat_template: auto",  # SmolLM2's own: no switch
    }
    packages = "".join(LLAMA_PACKAGE.format(name=n, template=t) for n, t in templates.items())
    (tmp_path / "modelpack.yaml").write_text(LLAMA_SPEC.format(packages=packages))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELPACK_HOME", str(tmp_path / ".mp"))
    result = CliRunner().invoke(
        cli, ["matrix", "--engine", "llama-server", "--json", "m.json"], catch_exceptions=False
    )
    assert result.exit_code == 1, result.output
    runs = {c["package"]: c["runs"][0] for c in json.loads(Path("m.json").read_text())["cells"]}
    assert runs["qwen3"]["passed"], runs["qwen3"]
    assert "Paris" in runs["qwen3"]["answer"]
    assert runs["r1"]["failures"] == [
        "thinking is not off: the prompt ends inside an open <think> block, so the model "
        "reasons before it answers"
    ]
    assert runs["chatml"]["failures"] == [
        "thinking off is not proven: the prompt does not end with an empty <think></think> "
        "block (the chat template ignores the switch, or has none)"
    ]
    # Without the proof all three answer Paris and would pass.
    assert all("Paris" in run["answer"] for run in runs.values())


# --- Ollama ----------------------------------------------------------------------------------

CHATML_GO = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n"
)
QWEN3_GO = CHATML_GO + "{{ if and .IsThinkSet (not .Think) }}<think>\n\n</think>\n\n{{ end }}"
"""Ollama's qwen3 TEMPLATE's switch (0.9.0 on): an empty block when think is false."""
CLOSED_GO = CHATML_GO + "<think>\n\n</think>\n\n"
"""For versions without `think`: the TEMPLATE closes the block itself."""

# slog's text handler writes the prompt Go-quoted after `prompt=`: 0.9.3 at TRACE
# ("completion request"), 0.5.4 at DEBUG ("generate request").
_LOGGED_PROMPT = re.compile(
    r'msg="(?:completion|generate) request"(?: images=\d+)? prompt=("(?:[^"\\]|\\.)*")'
)


@pytest.fixture(scope="module", params=[("current", "2"), ("legacy", "1")], ids=["0.9.3", "0.5.4"])
def debug_ollama(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smollm2_path: Path
) -> Iterator[tuple[OllamaServer, str]]:
    """A real Ollama that logs the prompts it builds, with the SmolLM2 blob uploaded."""
    name, level = request.param
    build = rig.install(name)
    build = dataclasses.replace(build, env={**build.env, "OLLAMA_DEBUG": level})
    workdir = tmp_path_factory.mktemp(f"think-{name}")
    with OllamaServer(build, workdir, ready_timeout=60) as server:
        with OllamaClient(server.host) as client:
            digest = client.push_blob(smollm2_path)
        yield server, digest


def _create(client: OllamaClient, model: str, digest: str, template: str) -> None:
    if client.structured_create:
        request: dict[str, Any] = {
            "model": model,
            "files": {"smollm2.gguf": digest},
            "template": template,
            "parameters": {"stop": ["<|im_end|>"], "temperature": 0},
        }
    else:
        request = {
            "model": model,
            "modelfile": f'FROM @{digest}\nTEMPLATE """{template}"""\n'
            'PARAMETER stop "<|im_end|>"\nPARAMETER temperature 0\n',
        }
    assert client.create(request)[-1] == {"status": "success"}


def _logged(server: OllamaServer) -> list[str]:
    text = server.log_path.read_text("utf-8", errors="replace")
    return [go_unquote(m.group(1)) for m in _LOGGED_PROMPT.finditer(text)]


SMOKE = Smoke(
    think=False,
    gpu="ignore",
    prompts=[SmokePrompt(prompt=PROMPT, system=SYSTEM, expect="Paris", num_predict=16)],
)


def test_ollama_think_false_is_proven_on_the_prompt_the_server_built(
    debug_ollama: tuple[OllamaServer, str],
) -> None:
    server, digest = debug_ollama
    with OllamaClient(server.host) as client:
        takes_think = client.ollama_version().release >= THINK_SINCE
        switch = QWEN3_GO if takes_think else CLOSED_GO
        _create(client, "think-switch:t", digest, switch)
        _create(client, "think-none:t", digest, CHATML_GO)
        tester = SmokeTester(client)
        seen = len(_logged(server))
        proven = tester.run("think-switch:t", SMOKE)
        built = _logged(server)[seen:]
        ours = tester.prober.prompt("think-switch:t", SMOKE.prompts[0], SMOKE)
        unproven = tester.run("think-none:t", SMOKE)
        seen = len(_logged(server))
        for _ in client.generate("think-switch:t", PROMPT, options={"num_predict": 1}):
            pass
        think_unset = _logged(server)[seen:]

    # What modelpack proved thinking off on is what the real server fed the model.
    assert built and set(built) == {ours}
    assert ours is not None and ours.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert proven.passed, proven.failure
    assert "Paris" in proven.prompts[0].runs[0].answer
    assert unproven.failure is not None and "thinking off is not proven" in unproven.failure
    if takes_think:
        # The block came from the switch: think=false was sent and reached the TEMPLATE; with
        # think unset the same TEMPLATE leaves the assistant turn open.
        assert not any("no think switch" in w for w in proven.warnings)
        assert len(think_unset) == 1 and think_unset[0].endswith("<|im_start|>assistant\n")
    else:
        assert "Ollama 0.5.4-ipexllm-20250407 has no think switch" in " ".join(proven.warnings)
