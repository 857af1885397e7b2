"""The smoke judgement against the real SmolLM2 on real servers: right template passes, wrong fails.

SmolLM2-135M-Instruct speaks ChatML. Created with a wrong TEMPLATE it still loads and answers,
and what it answers depends on the template. Observed on both Ollama 0.9.3 and 0.5.4 with
temperature 0, seed 1, num_predict 64 and the prompt "What is the capital of France?":

- ChatML with stop `<|im_end|>`: "The capital of France is Paris." (finish `stop`).
- Bare `{{ .Prompt }}` (what a hand-written Modelfile without chat markup gives): one token,
  end-of-text, and an empty answer. `[INST] {{ .Prompt }} [/INST]` (Mistral/Llama 2 style) and
  a Llama 2 `<<SYS>>` template did the same.
- Gemma-style turns (`<start_of_turn>user ... <end_of_turn>`, plain text to SmolLM2) with the
  end-of-turn repeated: it echoes turn markers, on both servers
  "</start_of_turn><beginning_of_turn>2018-03-24 19:57:56.123</beginning_of_turn></end_of_turn>".
- Gemma-style turns done properly: fluent nonsense, "France has a population of 31.2 million
  people and an estimated total fertility rate of 0.85, ...". Nothing about the text is
  degenerate; only `expect` catches it, which is why the smoke test takes one.

A random-weight GGUF from `tiny_gguf` (bytes and a dozen words for a vocabulary) answers with
control bytes, stray letters of other scripts and garbled words ("N)b\x1d\x18 Paris
FrancezWd:(Z/Ih?z"); it fails with no `expect` at all.

Llama 3 headers gave a cut-off but sensible list that still names Paris ("1. The capital of France
is Paris.\n2. ..."), so it is not used here: a wrong template does not always make gibberish.
The test builds run on the CPU (OLLAMA_NUM_GPU=0), so `/api/ps` reports nothing in VRAM.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelpack.core.results.judge import Measurement, judge
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer

pytestmark = pytest.mark.integration

PROMPT = "What is the capital of France?"
OPTIONS = {"temperature": 0, "seed": 1, "num_predict": 64}
CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
GEMMA = "<start_of_turn>user\n{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n"
GEMMA_REPEATED_END = (
    "<start_of_turn>user\n{{ .Prompt }}<end_of_turn>\n<end_of_turn>\n<end_of_turn>\n"
    "<start_of_turn>model\n"
)
# The right model gets its own context size, so its runner is loaded fresh under its own name
# (a runner with equal runner options is reused, and /api/ps keeps the first model's name).
CHATML_NUM_CTX = 1024
WRONG_NUM_CTX = 2048
NS = 1e9


def _create(
    client: OllamaClient, model: str, digest: str, template: str, *, num_ctx: int, stop: list[str]
) -> None:
    """Create through the server's own protocol: structured on 0.9.3, Modelfile text on 0.5.4."""
    if client.structured_create:
        parameters: dict[str, Any] = {"num_ctx": num_ctx, **({"stop": stop} if stop else {})}
        request: dict[str, Any] = {
            "model": model,
            "files": {"smollm2.gguf": digest},
            "template": template,
            "parameters": parameters,
        }
    else:
        modelfile = f'FROM @{digest}\nTEMPLATE """{template}"""\nPARAMETER num_ctx {num_ctx}\n'
        modelfile += "".join(f'PARAMETER stop "{s}"\n' for s in stop)
        request = {"model": model, "modelfile": modelfile}
    assert client.create(request)[-1] == {"status": "success"}


def _seconds(chunk: Mapping[str, Any], key: str) -> float | None:
    value = chunk.get(key)
    return value / NS if value is not None else None


def _measure(client: OllamaClient, model: str, options: Mapping[str, Any] = OPTIONS) -> Measurement:
    """Stream one answer and build the Measurement the way the smoke runner does."""
    started = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    final: dict[str, Any] = {}
    for chunk in client.generate(model, PROMPT, options=OPTIONS):
        if ttft is None and chunk.get("response"):
            ttft = time.perf_counter() - started
        parts.append(chunk.get("response", ""))
        final = chunk
    assert final.get("done") is True
    loaded = httpx.get(f"{client.base_url}/api/ps", timeout=10).json().get("models") or []
    ps: dict[str, Any] = next((m for m in loaded if m.get("name") == model), {})
    return Measurement(
        text="".join(parts),
        done_reason=final.get("done_reason"),
        num_predict=OPTIONS["num_predict"],
        ttft_s=ttft,
        load_s=_seconds(final, "load_duration"),
        prompt_tokens=final.get("prompt_eval_count"),
        prompt_s=_seconds(final, "prompt_eval_duration"),
        eval_tokens=final.get("eval_count"),
        eval_s=_seconds(final, "eval_duration"),
        size=ps.get("size"),
        size_vram=ps.get("size_vram"),
    )


def test_right_template_passes(ollama_server: OllamaServer, smollm2_path: Path) -> None:
    with OllamaClient(ollama_server.host) as client:
        digest = client.push_blob(smollm2_path)
        _create(
            client,
            "smoke-chatml:test",
            digest,
            CHATML,
            num_ctx=CHATML_NUM_CTX,
            stop=["<|im_end|>"],
        )
        m = _measure(client, "smoke-chatml:test")

    verdict = judge(m, expect="Paris", gpu="prefer")
    assert verdict.passed, (m.text, verdict.failures)
    assert "Paris" in m.text
    assert m.done_reason == "stop"
    assert verdict.decode_tps is not None and verdict.decode_tps > 0
    assert verdict.prompt_tps is not None and verdict.prompt_tps > 0
    assert m.ttft_s is not None and m.ttft_s > 0
    # The CPU builds keep the whole model in system memory: prefer warns, require fails.
    assert m.size is not None and m.size > 0, "the model was not listed under its name in /api/ps"
    assert verdict.gpu_fraction == 0.0
    assert verdict.warnings == ["not fully on the GPU (0% offloaded)"]
    required = judge(m, expect="Paris", gpu="require")
    assert required.failures == ["not fully on the GPU (0% offloaded)"]


NO_PARIS = "answer does not match expect /Paris/"
WRONG = [
    pytest.param("bare", "{{ .Prompt }}", ["empty answer", NO_PARIS], id="bare prompt"),
    pytest.param(
        "gemma-end",
        GEMMA_REPEATED_END,
        ["degenerate output: leaked chat-template token '</start_of_turn>'", NO_PARIS],
        id="gemma, repeated end of turn",
    ),
    pytest.param("gemma", GEMMA, [NO_PARIS], id="gemma"),
]


@pytest.mark.parametrize(("name", "template", "failures"), WRONG)
def test_wrong_template_fails(
    ollama_server: OllamaServer,
    smollm2_path: Path,
    name: str,
    template: str,
    failures: list[str],
) -> None:
    model = f"smoke-wrong-{name}:test"
    with OllamaClient(ollama_server.host) as client:
        digest = client.push_blob(smollm2_path)
        _create(client, model, digest, template, num_ctx=WRONG_NUM_CTX, stop=[])
        m = _measure(client, model)

    verdict = judge(m, expect="Paris", gpu="ignore")
    assert not verdict.passed
    assert verdict.failures == failures, repr(m.text)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_weight_answer_fails_without_expect(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path], seed: int
) -> None:
    """Issue 14: a random-weight model's answer (`۶ a a\\` France-6 ParisZ< a:1 the'hW9):hr.)`)
    passed when the prompt had no expect. Its vocabulary is bytes and a few words, so it emits
    control bytes, stray scripts and garbled words; the judgement of the text alone must fail
    it. (Both servers sometimes end such a stream without its `done` line, after a few dozen
    tokens, so the finish is not what is tested here.)"""
    path = tiny_gguf(f"random-{seed}.gguf", seed=seed)
    model = f"smoke-random-{seed}:test"
    # One thread: a tiny model on a busy machine is otherwise slowed by spinning threads.
    options = {**OPTIONS, "num_thread": 1}
    with OllamaClient(ollama_server.host) as client:
        digest = client.push_blob(path)
        _create(client, model, digest, "{{ .Prompt }}", num_ctx=WRONG_NUM_CTX, stop=[])
        chunks = list(client.generate(model, PROMPT, options=options))
    text = "".join(chunk.get("response", "") for chunk in chunks)
    m = Measurement(text=text, done_reason=chunks[-1].get("done_reason"), num_predict=64)

    verdict = judge(m, expect=None, gpu="ignore", prompt=PROMPT)
    assert not verdict.passed, repr(text)
    assert verdict.failures[0].startswith(("degenerate output: ", "empty answer")), (
        text,
        verdict.failures,
    )
