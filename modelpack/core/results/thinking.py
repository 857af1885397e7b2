"""Thinking off, proven: with `smoke.think: false`, did the prompt really turn reasoning off, and
did the answer come without any?

Reasoning models in the `<think>` family (Qwen3, DeepSeek-R1, SmolLM3, QwQ) write their
reasoning between `<think>` and `</think>` before the answer. Their chat templates turn it off
by closing an empty block right after the assistant opener, so the model starts on the answer:
Qwen3's Jinja does it for `enable_thinking=false` (what llama-server and vLLM pass on from
`chat_template_kwargs`), Ollama's TEMPLATEs for `.IsThinkSet` and not `.Think` (from 0.9.0).
Two checks, both pure:

- `prompt_problem(prompt)`: the prompt the model was given must end with an empty, closed block
  (`<think>`, only whitespace, `</think>`, only whitespace). A prompt that ends inside an open
  block (a template that always thinks) or that has no closed block at its end (a template
  that ignores the switch, or has none) does not prove thinking off, and fails.
- `reasoning_problem(answer, reasoning)`: the answer still carries reasoning when the server
  returned any apart from it (Ollama's `thinking`, OpenAI-style `reasoning_content` or
  `reasoning`), when it holds a `<think>` block with anything in it (closed or not), or when it
  has text before a `</think>` it never opened (the prompt opened the block and the model
  reasoned in it).

Other reasoning formats (`<|channel|>analysis`, `<thinking>`) are not recognised here.
"""

from __future__ import annotations

import re

__all__ = ["CLOSE", "OPEN", "prompt_problem", "reasoning_problem"]

OPEN = "<think>"
CLOSE = "</think>"
_EMPTY_BLOCK_AT_END = re.compile(r"<think>\s*</think>\s*\Z")
_BLOCK = re.compile(r"<think>(.*?)(?:</think>|\Z)", re.DOTALL)


def _shown(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def prompt_problem(prompt: str) -> str | None:
    """Why `prompt` does not prove thinking off; None when it ends with an empty closed block."""
    if _EMPTY_BLOCK_AT_END.search(prompt):
        return None
    opened, closed = prompt.rfind(OPEN), prompt.rfind(CLOSE)
    if opened > closed:
        return (
            "thinking is not off: the prompt ends inside an open <think> block, so the model "
            "reasons before it answers"
        )
    if closed >= 0 and not prompt[closed + len(CLOSE) :].strip():
        return (
            "thinking is not off: the prompt's last <think> block is not empty "
            f"({_shown(prompt[opened + len(OPEN) : closed])})"
        )
    return (
        "thinking off is not proven: the prompt does not end with an empty <think></think> "
        "block (the chat template ignores the switch, or has none)"
    )


def reasoning_problem(answer: str, reasoning: str = "") -> str | None:
    """Why the answer still carries reasoning; None when it carries none."""
    if reasoning.strip():
        return (
            f"reasoning with thinking off: the server returned {len(reasoning)} characters of "
            f"it ({_shown(reasoning)})"
        )
    for match in _BLOCK.finditer(answer):
        if match.group(1).strip():
            shown = _shown(match.group(1))
            return f"reasoning with thinking off: the answer has a <think> block ({shown})"
    closed = answer.find(CLOSE)
    if closed >= 0 and OPEN not in answer[:closed] and answer[:closed].strip():
        return (
            "reasoning with thinking off: the answer reasons before a </think> "
            f"({_shown(answer[:closed])})"
        )
    return None
