"""The template gate's decision (core.results.template.gate) under require, warn and ignore."""

from __future__ import annotations

from pathlib import Path

from modelpack.core.chat import chat_formats, parity
from modelpack.core.results.template import PromptTokens, gate

FORMATS = chat_formats([Path(__file__).resolve().parents[2] / "templates"])
CHATML_JINJA = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
RIGHT = parity(FORMATS["chatml"].template, CHATML_JINJA)
WRONG = parity(FORMATS["zephyr"].template, CHATML_JINJA)


def test_require_fails_a_difference_with_the_conversation_and_characters() -> None:
    verdict = gate("require", parity=WRONG)
    assert verdict.parity is False and verdict.warning is None
    assert verdict.failure == verdict.difference
    assert verdict.failure is not None
    assert verdict.failure.startswith(
        "the TEMPLATE renders the conversation 'multi-turn with a system message' differently "
        "from the model's chat template, first at character 2: the chat template renders "
        "'<|im_start|>system"
    )
    assert "the TEMPLATE '<|system|>" in verdict.failure
    assert gate("require", parity=RIGHT).failure is None
    assert gate("require", parity=RIGHT).parity is True


def test_warn_and_ignore() -> None:
    warned = gate("warn", parity=WRONG)
    assert warned.failure is None and warned.warning == warned.difference
    assert warned.parity is False
    ignored = gate("ignore", parity=WRONG)
    assert ignored.parity is None and ignored.failure is None and ignored.warning is None


def test_nothing_to_compare_passes_and_a_check_that_cannot_run_fails() -> None:
    assert gate("require", parity=None).failure is None
    blind = gate("require", parity=None, error="the chat template ran past its budget")
    assert blind.failure == "template parity not checked: the chat template ran past its budget"


def test_prompt_token_counts_are_part_of_the_gate() -> None:
    same = [PromptTokens("a single user turn, no system message", 20, 20)]
    assert gate("require", parity=RIGHT, tokens=same).tokens is True
    differ = [*same, PromptTokens("multi-turn, no system message", 31, 38)]
    verdict = gate("require", parity=RIGHT, tokens=differ)
    assert verdict.tokens is False and verdict.parity is True
    assert verdict.failure == (
        "prompt tokens differ from llama-server's for the conversation 'multi-turn, no system "
        "message': Ollama evaluated 31, llama-server renders the GGUF's own chat template to 38 "
        "(a template or tokenizer mismatch)"
    )
    missing = gate("warn", parity=RIGHT, token_error="needs the xllamacpp package")
    assert (
        missing.warning
        == "prompt tokens not compared with llama-server: needs the xllamacpp package"
    )
