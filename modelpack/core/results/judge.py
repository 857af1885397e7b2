"""Judging one smoke-test answer: did the created variant talk sensibly, finish, and sit on the GPU?

A GGUF imported with the wrong chat TEMPLATE still loads and still generates, so "it answered"
proves nothing: the answer has to look like language. This module only judges; the runner
measures (text, finish reason, server counters, `/api/ps` sizes) and passes a `Measurement` in.
No I/O, no clock.

`judge` checks each rule separately and reports every failure, one line each:

- Empty: an answer that is empty or only whitespace fails ("empty answer"). A wrong template
  often makes the model emit end-of-turn first, so this is the commonest breakage.
- Degenerate (`degenerate_reason`, first rule that hits wins):
  - leaked template control tokens: `<|...|>` tokens (ChatML, Llama 3, Phi-3, `<|endoftext|>`),
    DeepSeek's full-width-bar tokens, Gemma's `<start_of_turn>` / `<end_of_turn>` and their variants
    (`</start_of_turn>`, `<beginning-of-turn>`), `[INST]`, `[/INST]`, `<<SYS>>`. They belong in
    the prompt, never in an answer. `<s>` / `</s>` are left out: they are also HTML.
  - no letters or digits at all (`!!!`, a lone code fence).
  - symbol soup: fewer than 25% of the visible characters are letters or digits (any script),
    from 12 visible characters up. A run of one repeated symbol counts once, so markdown rules
    (`|---|`), code and JSON stay well above the line; repeated symbols are the next rules' job.
  - repetition in units: the text is split into case-folded units (a word, a number such as
    `1,000,000`, one CJK/kana character, or a run of one repeated symbol). A stretch where the
    same 1 to 32 units repeat at least 4 times and that covers more than half the units fails
    (`the the the the`, `Paris. Paris. Paris. Paris.`, a looping sentence); so does one that
    repeats at least 8 times over at least 16 units anywhere (a runaway tail after a good start).
  - repetition in characters: the same over the text with whitespace removed, for patterns of 1
    to 16 characters, at least 4 times, at least 8 characters, covering more than half of it
    (`!!!!!!!!`, `hahahahaha`, patterns in scripts without spaces). Runs of one rule character
    (`-=_*#~.+^`) count once here: underlines, horizontal rules, comment banners and leader dots
    (a `----------` under a heading) are formatting, not a loop. A stretch made only of digits,
    `.` and `,` is a number (1,000,000,000 or 0.3333333) and does not count, up to 32 characters.
  - low diversity: from 30 word units up, fewer than 15% distinct (case-folded). Prose of that
    length sits near 60%, repetitive code near 20% (`r = 0.0`, `self.x = x`); this catches loops
    that cycle through a few words in no fixed order, which the periodic rules miss.
- Finish: `stop` is a normal finish; `length` (ran into num_predict) passes with a warning when the
  text is sensible, since a long-winded answer is not a broken one; anything else (`load`,
  `unload`, none reported) fails: the model did not finish its answer.
- Thinking off (`think=False`): the prompt must end with an empty `<think></think>` block and
  the answer carry no reasoning (`modelpack.core.results.thinking`).
- Expect: when given, the pattern must be found by `re.search` (case-sensitive unless the pattern
  says `(?i)`).
- GPU: fraction = size_vram / size from `/api/ps`. `require` fails below 99.9% (and when the size is
  unknown), `prefer` warns instead, `ignore` says nothing. Percentages are rounded down, so 99.6%
  offloaded reads "99%", never a misleading "100%".

Token rates (tokens per second) come from the server's counters and are None when a count or a
duration is unknown or the duration is zero.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from modelpack.core.results.thinking import prompt_problem, reasoning_problem
from modelpack.errors import UsageError

__all__ = [
    "GpuPolicy",
    "Judgement",
    "Measurement",
    "degenerate_reason",
    "judge",
]

GpuPolicy: TypeAlias = Literal["require", "prefer", "ignore"]

FULL_GPU = 0.999
MIN_REPEATS = 4
MIN_COVERAGE = 0.5
TAIL_REPEATS = 8
TAIL_UNITS = 16
MAX_UNIT_PERIOD = 32
MAX_CHAR_PERIOD = 16
MIN_CHAR_STRETCH = 8
MAX_NUMBER_CHARS = 32
MIN_ALNUM_SHARE = 0.25
MIN_SOUP_CHARS = 12
MIN_DIVERSITY = 0.15
MIN_DIVERSITY_WORDS = 30

# Scripts written without spaces: each character is one unit.
_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\u0e00-\u0e7f"  # Thai
)
_UNIT = re.compile(
    rf"[{_CJK}]"  # one CJK / kana / Thai character
    r"|\d+(?:[.,]\d+)*"  # a number, separators included
    rf"|[^\W\d_{_CJK}]+(?:['\u2019][^\W\d_{_CJK}]+)*"  # a word (don't, l'État)
    r"|_+"
    r"|([^\w\s])\1*"  # a run of one repeated symbol
)
_NUMERIC = re.compile(r"[\d.,]+")
_RULE_RUN = re.compile(r"([-=_*#~.+^])\1+")
_LEAKS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>"  # <|im_start|>, <|eot_id|>, <|endoftext|>, <|user|>
    r"|<\uff5c[^\uff5c<>]{1,40}\uff5c>"  # DeepSeek's full-width bars
    r"|</?\w{1,20}[_-]of[_-]turn>"  # <start_of_turn>, </end_of_turn>
    r"|\[/?INST\]"
    r"|<</?SYS>>"
)


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
    prompt: str | None = None
    """The prompt the model was given, where it is known (for the thinking-off proof)."""


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
class _Stretch:
    """A periodic stretch: `period` items repeated over `length` items from `start`."""

    start: int
    length: int
    period: int

    @property
    def repeats(self) -> int:
        return self.length // self.period


def _periodic_stretches(items: Sequence[str], max_period: int) -> list[_Stretch]:
    """Every maximal stretch where items[i] == items[i + period], for each period up to a bound."""
    found: list[_Stretch] = []
    n = len(items)
    for period in range(1, min(max_period, n // 2) + 1):
        run_start = 0
        run = 0
        for i in range(n - period):
            if items[i] == items[i + period]:
                if run == 0:
                    run_start = i
                run += 1
            else:
                if run:
                    found.append(_Stretch(run_start, run + period, period))
                run = 0
        if run:
            found.append(_Stretch(run_start, run + period, period))
    return found


def _quote(pattern: str) -> str:
    return repr(pattern if len(pattern) <= 40 else pattern[:37].rstrip() + "...")


def _unit_repetition(text: str, units: list[re.Match[str]]) -> str | None:
    best: _Stretch | None = None
    folded = [u.group(0).casefold() for u in units]
    for stretch in _periodic_stretches(folded, MAX_UNIT_PERIOD):
        mostly = stretch.repeats >= MIN_REPEATS and stretch.length > MIN_COVERAGE * len(units)
        tail = stretch.repeats >= TAIL_REPEATS and stretch.length >= TAIL_UNITS
        if (mostly or tail) and (best is None or stretch.length > best.length):
            best = stretch
    if best is None:
        return None
    first, last = units[best.start], units[best.start + best.period - 1]
    return (
        f"{_quote(text[first.start() : last.end()])} repeats {best.repeats} times "
        f"({best.length} of {len(units)} units)"
    )


def _char_repetition(text: str) -> str | None:
    chars = _RULE_RUN.sub(r"\1", "".join(text.split()))
    best: _Stretch | None = None
    for stretch in _periodic_stretches(chars, MAX_CHAR_PERIOD):
        if stretch.length <= MAX_NUMBER_CHARS and _NUMERIC.fullmatch(
            chars, stretch.start, stretch.start + stretch.length
        ):
            continue
        if (
            stretch.repeats >= MIN_REPEATS
            and stretch.length >= MIN_CHAR_STRETCH
            and stretch.length > MIN_COVERAGE * len(chars)
            and (best is None or stretch.length > best.length)
        ):
            best = stretch
    if best is None:
        return None
    pattern = chars[best.start : best.start + best.period]
    return (
        f"{_quote(pattern)} repeats {best.repeats} times ({best.length} of {len(chars)} characters)"
    )


def _symbol_soup(text: str) -> str | None:
    visible = [m.group(0)[0] for m in re.finditer(r"(\S)\1*", text)]
    alnum = sum(ch.isalnum() for ch in visible)
    if alnum == 0:
        return "no letters or digits"
    share = alnum / len(visible)
    if len(visible) >= MIN_SOUP_CHARS and share < MIN_ALNUM_SHARE:
        return f"mostly punctuation or symbols ({math.floor(share * 100)}% letters or digits)"
    return None


def _low_diversity(units: list[re.Match[str]]) -> str | None:
    words = [u.group(0).casefold() for u in units if u.group(0)[0].isalnum()]
    if len(words) < MIN_DIVERSITY_WORDS:
        return None
    ratio = len(set(words)) / len(words)
    if ratio < MIN_DIVERSITY:
        return f"low diversity ({len(set(words))} distinct of {len(words)} words)"
    return None


def _drop_marks(text: str) -> str:
    """Without combining marks (Devanagari vowel signs, accents in NFD): they belong to the letter
    before them, and `re`'s word class and `str.isalnum` would count them as symbols."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("M"))


def degenerate_reason(text: str) -> str | None:
    """None when `text` looks like language, else a one-line reason (see the module docstring)."""
    if not text.strip():
        return "empty answer"
    leak = _LEAKS.search(text)
    if leak:
        return f"leaked chat-template token {leak.group(0)!r}"
    text = _drop_marks(text)
    soup = _symbol_soup(text)
    if soup:
        return soup
    units = list(_UNIT.finditer(text))
    return _unit_repetition(text, units) or _char_repetition(text) or _low_diversity(units)


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
    m: Measurement, *, expect: str | None, gpu: GpuPolicy, think: bool | None = None
) -> Judgement:
    """Judge one answer on every rule; it passes when nothing failed (warnings do not count).
    With `think` False, the prompt must prove thinking off and the answer carry no reasoning
    (`modelpack.core.results.thinking`); an unknown prompt is a warning."""
    if gpu not in ("require", "prefer", "ignore"):
        raise UsageError(f"unknown gpu policy {gpu!r}", hint="use require, prefer or ignore")
    failures: list[str] = []
    warnings: list[str] = []

    reason = degenerate_reason(m.text)
    if reason == "empty answer":
        failures.append(reason)
    elif reason is not None:
        failures.append(f"degenerate output: {reason}")

    if m.done_reason == "length":
        if reason is None:
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
        if m.prompt is None:
            warnings.append("thinking off rests on the answer alone: the prompt is not known")
        elif (unproven := prompt_problem(m.prompt)) is not None:
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
