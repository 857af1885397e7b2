"""Fuzzing the template runners with random template text: a result or one ModelpackError,
never another exception, never past a fixed time and memory budget.

Hypothesis strings together pieces of Jinja and of Go templates that are fine alone and
dangerous together (loops, recursion, repetition, growing values, huge numbers, nesting),
with random text in between, and runs the result the way modelpack runs an untrusted
template: a GGUF's chat template through `detect`, a TEMPLATE through `render_go`. Each case
runs on the default budget, under a deadline and with every allocation traced.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.budget import fuzz_examples
from helpers.deadline import deadline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.core.chat import PROBE, Detection, chat_formats, detect, render_go, render_jinja
from modelpack.errors import ModelpackError

FORMATS = chat_formats([Path(__file__).resolve().parents[2] / "templates"])

CASE_SECONDS = 10.0
"""The default budget runs out in well under a second on these; a case this slow has none."""

MEMORY = 64 << 20
"""Far above what the budget lets one evaluation keep (values of at most a million characters,
about 3 million characters made in all) and what compiling a short template takes; a runner
that built `'x' * 10**12` or doubled a string forty times would pass it at once."""

NUMBERS = ["0", "1", "3", "-1", "64", "100000", "1000000", "10000000", "10**9", "10**12"]

JINJA_PIECES = [
    "{% for i in range(N) %}",
    "{% endfor %}",
    "{% for m in messages %}",
    "{% for c in E %}",
    "{% if E %}",
    "{% else %}",
    "{% endif %}",
    "{% macro f(n) %}",
    "{% endmacro %}",
    "{{ f(N) }}",
    "{% set ns = namespace(s='ab', l=[1]) %}",
    "{% set ns.s = ns.s ~ ns.s %}",
    "{% set ns.l = ns.l + ns.l %}",
    "{% set x %}",
    "{% endset %}",
    "{% for m in messages recursive %}{{ loop(E) }}",
    "{% filter upper %}",
    "{% endfilter %}",
    "{{ E }}",
    "{{ E }}",
    "{{ raise_exception(E) }}",
    "{{ bos_token }}",
    "{{ '<|im_start|>' + messages[0]['role'] + '\\n' }}",
]
JINJA_ATOMS = [
    "'x'",
    "'ab\\n'",
    "N",
    "messages",
    "messages[0].content",
    "messages[-1]['role']",
    "range(N)",
    "[1, 2, 3]",
    "{'a': N}",
    "ns.s",
    "ns.l",
    "x",
    "loop.index",
    "add_generation_prompt",
    "undefined_name",
]
JINJA_OPERATORS = [" * ", " ~ ", " + ", " ** ", " % ", " // ", " / ", " - ", " in ", " == "]
JINJA_SUFFIXES = [
    "",
    "|join(E)",
    "|indent(N)",
    "|tojson(indent=N)",
    "|replace(E, E)",
    "|center(N)",
    "|list",
    "|sum(start=[])",
    "|string",
    "|length",
    "|batch(N)|list",
    "|slice(N)|list",
    "|format(E, E)",
    "|map('string')|join",
    "|sort",
    ".split()",
    ".format(E)",
    ".ljust(N)",
    ".expandtabs(N)",
    "[::-1]",
    "[1:N]",
]

GO_PIECES = [
    "{{ range N }}",
    "{{ range .Messages }}",
    "{{ range $i, $m := .Messages }}",
    "{{ end }}",
    "{{ if E }}",
    "{{ else }}",
    "{{ with E }}",
    "{{ E }}",
    "{{ E }}",
    '{{ $x := "ab" }}',
    '{{ $x = printf "%s%s" $x $x }}',
    '{{ define "t" }}',
    '{{ template "t" . }}',
    '{{ block "b" . }}',
    "{{- .System -}}",
    "{{ break }}",
    "{{ continue }}",
    "<|im_start|>",
]
GO_ATOMS = [
    ".System",
    ".Prompt",
    ".Response",
    ".Messages",
    ".Content",
    ".Role",
    "$",
    ".",
    "N",
    '"s"',
    "$x",
    "(len .Messages)",
    "(index .Messages 0)",
    "(slice .System 0 N)",
    '(printf "%Nd" 1)',
    '(printf "%s" .)',
    "(json .)",
    '(eq .Role "user")',
    "(and .System .Prompt)",
    "(not .Response)",
]


def _fill(piece: str, draw: st.DrawFn, atoms: list[str], expression: Callable[[], str]) -> str:
    while "N" in piece or "E" in piece:
        if "N" in piece and ("E" not in piece or piece.index("N") < piece.index("E")):
            piece = piece.replace("N", draw(st.sampled_from(NUMBERS)), 1)
        else:
            piece = piece.replace("E", expression(), 1)
    return piece


@st.composite
def jinja_templates(draw: st.DrawFn) -> str:
    def expression() -> str:
        parts = [draw(st.sampled_from(JINJA_ATOMS)) + draw(st.sampled_from(JINJA_SUFFIXES))]
        for _ in range(draw(st.integers(0, 2))):
            parts.append(draw(st.sampled_from(JINJA_OPERATORS)))
            parts.append(draw(st.sampled_from(JINJA_ATOMS)))
        text = "".join(parts)
        return f"({text})" if draw(st.booleans()) else text

    pieces = draw(st.lists(st.sampled_from(JINJA_PIECES), min_size=1, max_size=14))
    out = []
    for piece in pieces:
        out.append(_fill(piece, draw, JINJA_ATOMS, expression))
        out.append(draw(st.text(st.sampled_from("ab {}%()'\"\n|~*"), max_size=4)))
    return "".join(out)


@st.composite
def go_templates(draw: st.DrawFn) -> str:
    def expression() -> str:
        return draw(st.sampled_from(GO_ATOMS))

    pieces = draw(st.lists(st.sampled_from(GO_PIECES), min_size=1, max_size=14))
    out = []
    for piece in pieces:
        out.append(_fill(piece, draw, GO_ATOMS, expression))
        out.append(draw(st.text(st.sampled_from('ab {}$.()|"-\n'), max_size=4)))
    return "".join(out)


@pytest.fixture(scope="module")
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def check_case(run: Callable[[], object]) -> object:
    """One case: a result or one ModelpackError (one line), in time and memory."""
    result: object = None
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    with deadline(CASE_SECONDS):
        try:
            result = run()
        except ModelpackError as exc:
            assert "\n" not in str(exc), str(exc)
    peak = tracemalloc.get_traced_memory()[1] - before
    assert peak <= MEMORY, f"allocated {peak >> 20} MiB"
    return result


FUZZ = settings(
    max_examples=fuzz_examples(80),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@FUZZ
@given(template=jinja_templates())
def test_random_jinja_chat_templates(traced: None, template: str) -> None:
    result = check_case(lambda: detect(template, FORMATS, bos_token="<s>", eos_token="</s>"))
    assert result is None or isinstance(result, Detection)


@FUZZ
@given(template=go_templates())
def test_random_go_templates(traced: None, template: str) -> None:
    result = check_case(lambda: render_go(template, PROBE))
    assert result is None or isinstance(result, str)


@settings(max_examples=fuzz_examples(60), deadline=None)
@given(template=st.text(max_size=200))
def test_arbitrary_text_as_either_kind_of_template(template: str) -> None:
    with contextlib.suppress(ModelpackError), deadline(CASE_SECONDS):
        render_jinja(template, PROBE)
    with contextlib.suppress(ModelpackError), deadline(CASE_SECONDS):
        render_go(template, PROBE)
