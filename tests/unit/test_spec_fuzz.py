"""Fuzzing the spec loader: every input ends in a loaded spec or modelpack's own error, within a
fixed time and memory budget, never another exception.

Hypothesis writes YAML the way a careless or hostile author would: random structures in flow
style under keys a spec uses, anchors and aliases (to values before, around and inside
themselves, and chains of them: alias bombs), scalars that PyYAML builds by calling Python
(tags, dates, huge numbers), quoted escapes that yield control characters, and raw bytes
spliced in (which the loader reads as a file would be read: strict UTF-8 first). A second
test mutates the bytes of the repository's real spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.budget import deadline, fuzz_examples, peak_of, tracing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.core.inputs import decode_utf8
from modelpack.core.package.spec import load_spec
from modelpack.errors import ModelpackError

CASE_SECONDS = 2.0
"""CPU seconds for one case; slower is a hang. Tracing allocations makes loading about five
times slower, so traced cases are small; the worst shapes are timed untraced."""

BASE_MEMORY = 64 << 20
"""Allocations any case may make: the loader's budgets (100,000 values, 10,000 alias uses)
cap what aliases can expand to at about 50 MiB; an unbounded alias bomb needs GiB."""

PER_BYTE = 256
"""And per byte of input: a spec of thousands of broken packages makes pydantic list every
error (15,000 packages, 400 KB: 98 MiB). The spec itself is at most 1 MiB (SPEC_LIMIT)."""

REAL_SPEC = (Path(__file__).resolve().parents[2] / "modelpack.yaml").read_bytes()

KEYS = [
    "schema_version",
    "ollama",
    "version",
    "memory",
    "registry",
    "namespace",
    "packages",
    "main-gpu",
    "model",
    "from",
    "chat_template",
    "text",
    "file",
    "stop",
    "adapters",
    "system",
    "license",
    "messages",
    "role",
    "content",
    "parameters",
    "num_ctx",
    "temperature",
    "variants",
    "name",
    "template",
    "smoke",
    "prompts",
    "prompt",
    "expect",
    "<<",
    "? complex",
    "",
]

ODD_SCALARS = [
    "~",
    "null",
    "yes",
    "off",
    "0x1F",
    "0o17",
    "1_000",
    "1e999",
    "-.inf",
    ".nan",
    "2001-13-45",
    "2024-02-30 25:61:61",
    "!!int x",
    "!!float y",
    "!!bool maybe",
    "!!timestamp x",
    "!!binary ~~~",
    "!!binary aGk=",
    "!!null x",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!str 1",
    "!custom z",
    "!!python/object:os.system x",
    "!!python/name:os.system ''",
    "1" * 5000,
    "-" + "9" * 4400,
    '"\\0 \\x7f \\x1b[2J \\u202e \\x85 \\ud800"',
    "'it''s'",
    "a" * 3000,
    "/**/*.gguf",
    "''",
    "../../etc/passwd",
    "a/b/c/d",
    "x/",
    "a//b",
    "m" * 128,
    "auto",
    "chatml",
    "full",
    '"0.9.3"',
    "0.10",
    "-1",
    "4096.0",
]

_plain = (
    st.text(
        alphabet=st.characters(
            codec="utf-8",
            exclude_categories=["Cc", "Cs"],  # control characters come from the splices
            exclude_characters=",[]{}:#&*!|>'\"%@`",
        ),
        min_size=1,
        max_size=12,
    )
    .map(str.strip)
    .filter(bool)
)


def _double_quoted(text: str) -> str:
    """`text` as a YAML double-quoted scalar: control characters as escapes (YAML refuses them
    raw), so that they reach the checks on what a Modelfile can carry."""
    out = []
    for char in text:
        if char in '\\"':
            out.append("\\" + char)
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"\\x{ord(char):02x}")
        elif 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_quoted = st.text(max_size=16).map(_double_quoted)
_scalar = st.one_of(st.sampled_from(ODD_SCALARS), _plain, _quoted, st.integers().map(str))
_anchor = st.integers(0, 5).map(lambda n: f"a{n}")


def _with_anchor(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(value, st.tuples(_anchor, value).map(lambda t: f"&{t[0]} {t[1]}"))


_leaf = st.one_of(_with_anchor(_scalar), _anchor.map(lambda a: f"*{a}"))
_key = st.one_of(st.sampled_from(KEYS), _plain, _quoted)


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = st.lists(children, max_size=6).map(lambda items: "[" + ", ".join(items) + "]")
    maps = st.lists(st.tuples(_key, children), max_size=6).map(
        lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    )
    return _with_anchor(st.one_of(lists, maps))


_value = st.recursive(_leaf, _containers, max_leaves=24)


@st.composite
def _bomb(draw: st.DrawFn) -> str:
    """A chain of anchors, each aliasing the one before `width` times."""
    levels = draw(st.integers(1, 12))
    width = draw(st.integers(1, 12))
    lines = ["b0: &b0 [x]"]
    for n in range(1, levels + 1):
        lines.append(f"b{n}: &b{n} [" + ", ".join([f"*b{n - 1}"] * width) + "]")
    where = draw(st.integers(0, levels))
    lines.append(f"packages: {{p: {{model: m, from: m.gguf, variants: *b{where}}}}}")
    return "\n".join(lines) + "\n"


# A package's fields with a value that passes, so that a random value in one field reaches the
# checks behind it (names, adapters, Modelfile text) instead of stopping at a missing field.
GOOD_FIELDS = {
    "model": "acme",
    "from": "m.gguf",
    "chat_template": "chatml",
    "variants": "[full, {name: lite, system: hi, parameters: {num_ctx: 1024}}]",
    "system": "Be brief.",
    "license": "MIT",
    "adapters": "[lora/*.gguf]",
    "messages": "[{role: user, content: hi}]",
    "parameters": "{temperature: 0.2, stop: [x]}",
    "smoke": "{prompts: [{prompt: hi, expect: Paris}]}",
}


@st.composite
def _package(draw: st.DrawFn) -> str:
    fields = []
    for key, good in GOOD_FIELDS.items():
        choice = draw(st.sampled_from(["good", "good", "random", "absent"]))
        if choice != "absent":
            fields.append(f"{key}: {good if choice == 'good' else draw(_value)}")
    fields += [f"{k}: {v}" for k, v in draw(st.lists(st.tuples(_key, _value), max_size=2))]
    return "{" + ", ".join(draw(st.permutations(fields))) + "}"


@st.composite
def specs(draw: st.DrawFn) -> bytes:
    """YAML text in one of three shapes, then perhaps raw bytes spliced in."""
    shape = draw(st.sampled_from(["top", "packages", "packages", "bomb"]))
    if shape == "bomb":
        text = draw(_bomb())
    elif shape == "packages":
        packages = draw(st.lists(st.tuples(_key, _package()), min_size=1, max_size=3))
        text = "packages: {" + ", ".join(f"{k}: {v}" for k, v in packages) + "}\n"
    else:
        pairs = draw(st.lists(st.tuples(_key, _value), max_size=6))
        text = "\n".join(f"{k}: {v}" for k, v in pairs) + "\n"
    data = text.encode("utf-8", "surrogatepass")
    splices = st.tuples(st.integers(0, 1 << 16), st.binary(min_size=1, max_size=4))
    for position, chunk in draw(st.one_of(st.just([]), st.lists(splices, max_size=3))):
        at = position % (len(data) + 1)
        data = data[:at] + chunk + data[at:]
    return data


def load(data: bytes) -> None:
    """Load `data` as open_project would: a spec or a ModelpackError, nothing else."""
    try:
        load_spec(decode_utf8(data, source="modelpack.yaml", what="spec"), source="s")
    except ModelpackError as error:
        assert str(error)


def check_case(data: bytes) -> None:
    """`load` within the time and memory budget (allocations traced for this case only, so
    that hypothesis itself runs at full speed)."""
    with tracing(), deadline(CASE_SECONDS, cpu=True):
        peak = peak_of(lambda: load(data))
    assert peak <= memory_budget(data), f"loading {len(data)} bytes allocated {peak}"


def memory_budget(data: bytes) -> int:
    return BASE_MEMORY + PER_BYTE * len(data)


@settings(
    max_examples=fuzz_examples(250),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=specs())
def test_generated_specs(data: bytes) -> None:
    check_case(data)


@settings(
    max_examples=fuzz_examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(REAL_SPEC) - 1),
            st.one_of(
                st.integers(0, 255),
                st.sampled_from([ord(c) for c in "&*!:[]{}-|>'\"\t\n#%@`\x00\x7f"] + [0xC3, 0xFF]),
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_mutated_real_spec(edits: list[tuple[int, int]]) -> None:
    data = bytearray(REAL_SPEC)
    for position, byte in edits:
        data[position] = byte
    check_case(bytes(data))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "b0: &b0 [x]\n"
            + "".join(
                f"b{n}: &b{n} [" + ", ".join([f"*b{n - 1}"] * 12) + "]\n" for n in range(1, 13)
            )
            + "packages: *b12\n",
            id="12 levels of 12 aliases",
        ),
        pytest.param("packages: &a [*a, *a]\n", id="a list of itself"),
        pytest.param(
            "junk: [" + ", ".join(["1"] * 99_000) + "]\n",
            id="99000 values",
            marks=pytest.mark.heavy,
        ),
        pytest.param(
            "a: &a ["
            + ", ".join(["1"] * 9_000)
            + "]\npackages: ["
            + ", ".join(["*a"] * 11)
            + "]\n",
            id="an alias of 9000 values 11 times",
            marks=pytest.mark.heavy,
        ),
        pytest.param(
            "packages: {" + ", ".join(f"p{i}: {{chat_template: 1}}" for i in range(5_000)) + "}\n",
            id="20000 problems",
            marks=pytest.mark.heavy,
        ),
        pytest.param(
            "a: &a [x]\npackages: {p: {variants: [" + ", ".join(["*a"] * 20_000) + "]}}\n",
            id="20000 aliases",
            marks=pytest.mark.heavy,
        ),
    ],
)
def test_the_worst_shapes_stay_in_budget(text: str) -> None:
    """The shapes the budgets exist for, as fixed cases: hypothesis reaches them only rarely.
    Timed untraced, then traced for memory (with a deadline only against a hang)."""
    data = text.encode()
    with deadline(CASE_SECONDS, cpu=True):
        load(data)
    with tracing(), deadline(10 * CASE_SECONDS, cpu=True):
        peak = peak_of(lambda: load(data))
    assert peak <= memory_budget(data), f"loading {len(data)} bytes allocated {peak}"
