"""The template gate: whether a created model's TEMPLATE builds the prompts its GGUF was made for.

`build` and `matrix` both ask `modelpack.jobs.template_gate` about each variant; that job
gathers the facts (the TEMPLATE, SYSTEM and MESSAGEs the server stored, their parity with the
GGUF's own chat template from `core.chat`, and, with `smoke.reference: llama-server`, the prompt
token counts of Ollama and the real llama.cpp server) and this module decides, in one place,
what they mean under `smoke.template`:

- `require` (the default): any difference fails the variant, with the reason;
- `warn`: the variant is judged by its smoke test, the difference is a warning;
- `ignore`: nothing is checked.

A check that cannot run (the model's template errors or runs past its budget) is a difference
too: a gate that cannot see must not pass. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from modelpack.core.chat import Parity

__all__ = ["GateMode", "PromptTokens", "TemplateVerdict", "gate"]

GateMode = Literal["require", "warn", "ignore"]


@dataclass(frozen=True)
class PromptTokens:
    """One probe conversation's prompt size on both servers, in tokens: Ollama's
    `prompt_eval_count` for /api/chat, and llama-server's own rendering of the GGUF's Jinja
    template, tokenized by it. Deterministic: no sampling, and no kernel changes a count."""

    conversation: str
    ollama: int
    llama_server: int

    @property
    def same(self) -> bool:
        return self.ollama == self.llama_server

    def message(self) -> str:
        return (
            f"prompt tokens differ from llama-server's for the conversation '{self.conversation}': "
            f"Ollama evaluated {self.ollama}, llama-server renders the GGUF's own chat template "
            f"to {self.llama_server} (a template or tokenizer mismatch)"
        )


@dataclass(frozen=True)
class TemplateVerdict:
    """What the gate found and decided for one variant."""

    parity: bool | None = None
    """The record's `template_parity`: None when not checked (no chat template, ignore)."""
    difference: str | None = None
    """The record's `template_difference`: where the prompts first differ, or why the check
    could not run."""
    tokens: bool | None = None
    """The record's `prompt_token_parity`: None unless `smoke.reference` asked for it."""
    failure: str | None = None
    """Why the variant fails (under `require`)."""
    warning: str | None = None
    """The same, as a warning (under `warn`)."""

    def summary(self) -> str:
        if self.parity is None:
            return self.difference or "template parity not checked"
        if self.failure or self.warning:
            return self.failure or self.warning or ""
        counted = " and prompt tokens match llama-server" if self.tokens else ""
        return f"template parity: every probe conversation renders as the GGUF's{counted}"


def gate(
    mode: GateMode,
    *,
    parity: Parity | None,
    error: str | None = None,
    tokens: Sequence[PromptTokens] = (),
    token_error: str | None = None,
) -> TemplateVerdict:
    """The gate's decision from what was found: `parity` (None: nothing to compare with),
    `error` (why parity could not be checked), the token counts and why they could not be
    taken."""
    if mode == "ignore" or (parity is None and error is None):
        return TemplateVerdict()
    problems: list[str] = []
    difference = None
    if error is not None:
        difference = f"template parity not checked: {error}"
        problems.append(difference)
    elif parity is not None and not parity.identical:
        difference = parity.message()
        problems.append(difference)
    token_parity: bool | None = None
    if token_error is not None:
        problems.append(f"prompt tokens not compared with llama-server: {token_error}")
    elif tokens:
        differing = [t for t in tokens if not t.same]
        token_parity = not differing
        problems += [t.message() for t in differing[:1]]
    reason = "; ".join(problems) or None
    return TemplateVerdict(
        parity=None if parity is None else parity.identical,
        difference=difference,
        tokens=token_parity,
        failure=reason if mode == "require" else None,
        warning=reason if mode == "warn" else None,
    )
