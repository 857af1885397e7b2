"""Judging one smoke-test answer: did the created variant talk sensibly, finish, and sit on the GPU?

A GGUF imported with the wrong chat TEMPLATE still loads and still generates, so "it answered"
proves nothing: the answer has to look like language. This module only judges; the runner
measures (text, finish reason, server counters, `/api/ps` sizes) and passes a `Measurement` in.
No I/O, no clock.

`judge` checks each rule separately and reports every failure, one line each:

- Empty: an answer that is empty or only whitespace fails ("empty answer"). A wrong template
  often makes the model emit end-of-turn first, so this is the commonest breakage.
- Degenerate: `degenerate_reason` (modelpack.core.results.degenerate) on the answer and the
  prompt: broken characters, leaked template tokens, the prompt echoed back, symbol soup, mixed
  scripts, loops at every scale, garbled words. Its docstring lists the rules.
- Finish: `stop` is a normal finish; `length` (ran into num_predict) passes with a warning when the
  text is sensible, since a long-winded answer is not a broken one; anything else (`load`,
  `unload`, none reported) fails: the model did not finish its answer.
- Thinking off (`think=False`): the prompt must end with an empty `<think></think>` block and
  the answer carry no reasoning (`modelpack.core.results.thinking`).
- Expect: when given, the pattern must be found by `re.search` (case-sensitive unless the pattern
  says `(?i)`). Without one, a pass only proves the output is not degenerate (`NO_EXPECT_NOTE`,
  which the tables show beside such a pass): fluent nonsense passes.
- GPU: fraction = size_vram / size from `/api/ps`. `require` fails below 99.9% (and when the size is
  unknown), `prefer` warns instead, `ignore` says nothing. Percentages are rounded down, so 99.6%
  offloaded reads "99%", never a misleading "100%".

Token rates (tokens per second) come from the server's counters and are None when a count or a
duration is unknown or the duration is zero.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from modelpack.core.results.degenerate import degenerate_reason
from modelpack.core.results.runs import NO_EXPECT_NOTE
from modelpack.core.results.thinking import prompt_problem, reasoning_problem
from modelpack.errors import UsageError

__all__ = [
    "NO_EXPECT_NOTE",
    "GpuPolicy",
    "Judgement",
    "Measurement",
    "TextJudgement",
    "degenerate_reason",
    "judge",
    "judge_text",
]

GpuPolicy: TypeAlias = Literal["require", "prefer", "ignore"]

FULL_GPU = 0.999


@dataclass(frozen=True)
class Measurement:
    """What the runner measured for one prompt: the answer, and client and server counters."""

    text: str
    done_reason: str | None
    num_predict: int
    ttft_s: float | None = None
    load_s: float | None = None
    prompt_tokens: int | None = None
    prompt_s: float | None = None
    eval_tokens: int | None = None
    eval_s: float | None = None
    size: int | None = None
    size_vram: int | None = None
    reasoning: str = ""
    """Reasoning the server returned apart from the answer (Ollama's `thinking`, OpenAI-style
    `reasoning_content`)."""
    rendered: str | None = None
    """The prompt text the model was given (its template applied), where it is known (for the
    thinking-off proof)."""


@dataclass(frozen=True)
class Judgement:
    """The judgement on one answer; `failures` and `warnings` are one line each."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decode_tps: float | None = None
    prompt_tps: float | None = None
    gpu_fraction: float | None = None


@dataclass(frozen=True)
class TextJudgement:
    """The judgement on a text alone (`modelpack judge`): failures and notes, one line each."""

    passed: bool
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _text_failures(text: str, prompt: str | None, expect: str | None) -> list[str]:
    """What is wrong with the text itself: empty, degenerate, or not matching `expect`."""
    failures: list[str] = []
    reason = degenerate_reason(text, prompt=prompt)
    if reason == "empty answer":
        failures.append(reason)
    elif reason is not None:
        failures.append(f"degenerate output: {reason}")
    if expect is not None and not _expect_matches(expect, text):
        failures.append(f"answer does not match expect /{expect}/")
    return failures


def judge_text(text: str, *, prompt: str | None = None, expect: str | None = None) -> TextJudgement:
    """Judge a text the way the smoke test judges an answer, without the server's figures."""
    failures = _text_failures(text, prompt, expect)
    notes = [NO_EXPECT_NOTE] if not failures and expect is None else []
    return TextJudgement(passed=not failures, failures=failures, notes=notes)


def _rate(tokens: int | None, seconds: float | None) -> float | None:
    if tokens is None or seconds is None or seconds <= 0:
        return None
    return tokens / seconds


def _gpu_fraction(m: Measurement) -> float | None:
    if m.size is None or m.size_vram is None or m.size <= 0:
        return None
    return m.size_vram / m.size


def _expect_matches(expect: str, text: str) -> bool:
    try:
        return re.search(expect, text) is not None
    except re.error as exc:
        raise UsageError(
            f"expect /{expect}/ is not a valid regular expression: {exc}",
            hint="fix the pattern (Python `re` syntax)",
        ) from None


def judge(
    m: Measurement,
    *,
    expect: str | None,
    gpu: GpuPolicy,
    prompt: str | None = None,
    think: bool | None = None,
) -> Judgement:
    """Judge one answer on every rule; it passes when nothing failed (warnings do not count).
    `prompt` is what the model was asked (an answer that only echoes it is degenerate). With
    `think` False, the rendered prompt (`m.rendered`) must prove thinking off and the answer
    carry no reasoning (`modelpack.core.results.thinking`); an unknown one is a warning."""
    if gpu not in ("require", "prefer", "ignore"):
        raise UsageError(f"unknown gpu policy {gpu!r}", hint="use require, prefer or ignore")
    failures = _text_failures(m.text, prompt, None)
    warnings: list[str] = []

    if m.done_reason == "length":
        if not failures:
            warnings.append(f"ran into the num_predict limit ({m.num_predict}) before finishing")
    elif m.done_reason is None:
        failures.append("no finish reason reported")
    elif m.done_reason != "stop":
        failures.append(f"stopped for {m.done_reason!r} instead of finishing")

    if expect is not None and not _expect_matches(expect, m.text):
        failures.append(f"answer does not match expect /{expect}/")

    if think is False:
        carried = reasoning_problem(m.text, m.reasoning)
        if carried is not None:
            failures.append(carried)
        if m.rendered is None:
            warnings.append("thinking off rests on the answer alone: the prompt is not known")
        elif (unproven := prompt_problem(m.rendered)) is not None:
            failures.append(unproven)

    fraction = _gpu_fraction(m)
    if gpu != "ignore":
        if fraction is None:
            line = "GPU offload unknown (no model size reported)"
        elif fraction < FULL_GPU:
            line = f"not fully on the GPU ({math.floor(fraction * 100)}% offloaded)"
        else:
            line = None
        if line is not None:
            (failures if gpu == "require" else warnings).append(line)

    return Judgement(
        passed=not failures,
        failures=failures,
        warnings=warnings,
        decode_tps=_rate(m.eval_tokens, m.eval_s),
        prompt_tps=_rate(m.prompt_tokens, m.prompt_s),
        gpu_fraction=fraction,
    )
