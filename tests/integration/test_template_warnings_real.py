"""Two public Modelfiles that both real servers accept and that then answer nothing useful, and
lint warning about each (tests/data/public_modelfiles/, README there).

Created FROM the real SmolLM2 (ChatML, like the Qwen models the files were written for) and
asked with temperature 0:

- the `{{ .Output }}<|im_end|>` file answers "\\n" on both servers and endpoints: the prompt
  ends with `<|im_end|>` after the assistant's opener, so the model's turn is over;
- the reranker file answers the same words whatever the question, with the same prompt token
  count: `.Instruction`, `.Query` and `.Document` are never set, so the question never reaches
  the model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.request import plan_create
from modelpack.core.modelfile.syntax import parse
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer

pytestmark = pytest.mark.integration

PUBLIC = Path(__file__).resolve().parents[1] / "data" / "public_modelfiles"
OUTPUT_MODELFILE = (PUBLIC / "qwen-researcher.Modelfile").read_text()
RERANK_MODELFILE = (PUBLIC / "qwen3-reranker.Modelfile").read_text()

QUESTIONS = ("What is the capital of France?", "Name three colours of the rainbow.")
OPTIONS = {"temperature": 0, "seed": 1, "num_predict": 32}


def create(client: OllamaClient, text: str, name: str, gguf: Path) -> None:
    source = parse(text, source=name).from_
    assert source is not None
    text = text.replace(f"FROM {source}", "FROM ./smol.gguf")
    digest = client.push_blob(gguf)
    request = plan_create(
        parse(text, source=name),
        name=name,
        files={"./smol.gguf": gguf},
        digests={gguf: digest},
        version=client.ollama_version(),
    )
    for _ in client.create_stream(request):
        pass


def ask(server: OllamaServer, model: str, question: str) -> list[tuple[str, int]]:
    """(answer, prompt tokens) from /api/generate and from /api/chat."""
    out = []
    for path, body, text in (
        ("/api/generate", {"prompt": question}, lambda r: r["response"]),
        ("/api/chat", {"messages": [{"role": "user", "content": question}]}, None),
    ):
        reply: dict[str, Any] = httpx.post(
            f"{server.url}{path}",
            json={"model": model, "stream": False, "options": OPTIONS, **body},
            timeout=300,
        ).json()
        answer = text(reply) if text else reply["message"]["content"]
        out.append((answer, reply["prompt_eval_count"]))
    return out


def warned(text: str, server: OllamaServer) -> set[str]:
    with OllamaClient(server.host) as client:
        report = lint(text, source="Modelfile", version=client.ollama_version())
    assert report.ok
    return {d.code for d in report.warnings}


def test_output_after_the_assistant_opener_answers_nothing(
    ollama_server: OllamaServer, smollm2_path: Path
) -> None:
    with OllamaClient(ollama_server.host) as client:
        create(client, OUTPUT_MODELFILE, "warn-output", smollm2_path)
    first, second = (ask(ollama_server, "warn-output", q) for q in QUESTIONS)
    for answer, _ in first + second:
        assert answer.strip() == ""
    assert [tokens for _, tokens in first] == [tokens for _, tokens in second]
    assert {"template-ends-turn", "template-field-unset", "template-drops-prompt"} <= warned(
        OUTPUT_MODELFILE, ollama_server
    )


def test_fields_nobody_sets_keep_the_question_from_the_model(
    ollama_server: OllamaServer, smollm2_path: Path
) -> None:
    with OllamaClient(ollama_server.host) as client:
        create(client, RERANK_MODELFILE, "warn-rerank", smollm2_path)
    first, second = (ask(ollama_server, "warn-rerank", q) for q in QUESTIONS)
    assert first == second  # the same answer and prompt length, whatever was asked
    assert first[0][0].strip()  # it does answer: fluent, and about nothing it was asked
    assert warned(RERANK_MODELFILE, ollama_server) == {
        "template-field-unset",
        "template-drops-prompt",
    }
