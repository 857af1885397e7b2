"""Thinking off, proven: the prompt check and the answer check (core.results.thinking), and how
`judge` applies them with `think=False`."""

from __future__ import annotations

import pytest

from modelpack.core.results.judge import Measurement, judge
from modelpack.core.results.thinking import prompt_problem, reasoning_problem

OPENER = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize(
    "prompt",
    [OPENER + "<think>\n\n</think>\n\n", OPENER + "<think></think>", OPENER + "<think>\n</think>"],
)
def test_an_empty_closed_block_at_the_end_proves_thinking_off(prompt: str) -> None:
    assert prompt_problem(prompt) is None


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        (OPENER, "does not end with an empty <think></think> block"),
        (OPENER + "<think>\n", "ends inside an open <think> block"),
        (OPENER + "<think>\nlet me see\n</think>\n\n", "last <think> block is not empty"),
        # An empty block earlier in the conversation proves nothing about this turn.
        ("<think></think>" + OPENER, "does not end with an empty"),
    ],
)
def test_other_prompts_do_not_prove_it(prompt: str, why: str) -> None:
    problem = prompt_problem(prompt)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("answer", "reasoning", "why"),
    [
        ("Paris.", "The user asks about France.", "the server returned 27 characters"),
        ("<think>The user asks.</think>Paris.", "", "the answer has a <think> block"),
        ("<think>The user asks about", "", "the answer has a <think> block"),
        ("The user asks.\n</think>\n\nParis.", "", "reasons before a </think>"),
    ],
)
def test_an_answer_that_carries_reasoning(answer: str, reasoning: str, why: str) -> None:
    problem = reasoning_problem(answer, reasoning)
    assert problem is not None and why in problem


@pytest.mark.parametrize(
    ("answer", "reasoning"),
    [("Paris.", ""), ("<think>\n\n</think>\n\nParis.", "  \n"), ("</think>Paris.", "")],
)
def test_an_answer_without_reasoning(answer: str, reasoning: str) -> None:
    assert reasoning_problem(answer, reasoning) is None


def measured(text: str, *, prompt: str | None, reasoning: str = "") -> Measurement:
    return Measurement(
        text=text, done_reason="stop", num_predict=16, rendered=prompt, reasoning=reasoning
    )


def test_judge_fails_a_cell_whose_prompt_or_answer_shows_thinking() -> None:
    proven = OPENER + "<think>\n\n</think>\n\n"
    assert judge(measured("Paris.", prompt=proven), expect=None, gpu="ignore", think=False).passed
    unproven = judge(measured("Paris.", prompt=OPENER), expect=None, gpu="ignore", think=False)
    assert not unproven.passed
    assert "thinking off is not proven" in unproven.failures[0]
    carried = judge(
        measured("Paris.", prompt=proven, reasoning="Hmm, France."),
        expect=None,
        gpu="ignore",
        think=False,
    )
    assert not carried.passed
    assert "reasoning with thinking off" in carried.failures[0]


def test_judge_without_the_prompt_warns_and_without_think_checks_nothing() -> None:
    unknown = judge(measured("Paris.", prompt=None), expect=None, gpu="ignore", think=False)
    assert unknown.passed
    assert unknown.warnings == ["thinking off rests on the answer alone: the prompt is not known"]
    thinking = measured("<think>x</think>Paris.", prompt=OPENER, reasoning="x")
    assert judge(thinking, expect=None, gpu="ignore").passed
    assert judge(thinking, expect=None, gpu="ignore", think=True).passed
