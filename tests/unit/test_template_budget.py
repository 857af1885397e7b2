"""Every untrusted template evaluation ends within its budget, in one error naming the template.

Three kinds of template come from outside and run in modelpack: a GGUF's Jinja chat template
(detection and parity), a project's Jinja variant templates (render) and a Go TEMPLATE (parity,
through modelpack's own executor). Each hostile case below hung or ended in a traceback before
the budget; each must now end within CASE_SECONDS in one ModelpackError whose one-line message
names where the template came from. Real templates must render exactly as before, far inside
the budget.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import jinja2
import jinja2.ext
import pytest
from helpers.deadline import deadline
from helpers.tiny_gguf import write_tiny_gguf
from jinja2.sandbox import ImmutableSandboxedEnvironment

from modelpack.core.budget import (
    DEFAULT_BUDGET,
    BudgetExceeded,
    Meter,
    TemplateBudget,
    TemplateBudgetError,
)
from modelpack.core.chat import PROBE, _as_dicts, _tojson, chat_formats, detect, render_go
from modelpack.core.chat import render_jinja as render_chat
from modelpack.core.gotmpl.execute import execute
from modelpack.core.gotmpl.parser import GO_BUILTINS, parse
from modelpack.core.package.render import Renderer
from modelpack.core.package.spec import load_spec
from modelpack.core.versions import OllamaVersion
from modelpack.errors import ModelpackError

REPO = Path(__file__).resolve().parents[2]
REFERENCES = REPO / "tests" / "data" / "jinja_chat_templates"
TEMPLATES = REPO / "templates"
FORMATS = chat_formats([TEMPLATES])

CASE_SECONDS = 10.0
"""Far more than any case takes (the default budget runs out in under a second here); a case
that needs this long has no budget."""

TIGHT = TemplateBudget(
    steps=DEFAULT_BUDGET.steps // 100,
    output_chars=DEFAULT_BUDGET.output_chars // 100,
    depth=DEFAULT_BUDGET.depth,
)
"""A hundredth of the default: real templates must render within it."""

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"

# (template, what the one-line error says). Each was a hang, a MemoryError or a traceback.
HOSTILE_JINJA = {
    "two nested range(100000) loops": (NESTED_LOOPS, "more than 200,000 steps"),
    "'x' * 10**12": ("{{ 'x' * 10**12 }}", "a repeated value of 1,000,000,000,000 characters"),
    "a recursive macro": (
        "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "nested more than 64 deep",
    ),
    "1/0": ("{{ 1/0 }}", "raised ZeroDivisionError: division by zero"),
    "a refusal on two lines": (
        "{{ raise_exception('no\\nway') }}",
        "refused the conversation: no\\nway",
    ),
    "range(10**7)": (
        "{% for i in range(10**7) %}{% endfor %}",
        "a size or count of 10,000,000",
    ),
    "a string doubled in a loop": (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s }}",
        "a joined string of 1,048,5",
    ),
    "a set block filled by nested loops": (
        "{% set x %}"
        + NESTED_LOOPS.replace("{% endfor %}{% endfor %}", "ab{% endfor %}{% endfor %}")
        + "{% endset %}",
        "template budget",
    ),
    "join with a huge separator": (
        "{{ range(100000) | map('string') | join('x' * 100000) }}",
        "template budget",
    ),
    "indent by 100,000": ("{{ ('a\\n' * 100000) | indent(100000) }}", "the result of indent"),
    "a %-format width of a billion": ("{{ '%999999999s' % 'x' }}", "a formatted string"),
    "str.format width of a billion": ("{{ '{:>999999999}'.format('x') }}", "a formatted string"),
    "replace('') with a long string": (
        "{{ ('x' * 100000).replace('', 'y' * 100000) }}",
        "the result of replace()",
    ),
    "a list of one long string printed": (
        "{{ ['x' * 100000] * 100000 }}",
        "a value of more than 1,000,000 characters",
    ),
    "tojson with a huge indent": (
        "{{ range(10000) | list | tojson(indent=100000) }}",
        "JSON of",
    ),
    "2 ** 10**8": ("{{ 2 ** 100000000 }}", "an integer of more than 4,300 digits"),
    "a recursive loop": (
        "{% for x in [1] recursive %}{{ loop(range(100000)) }}{% endfor %}",
        "nested more than 64 deep",
    ),
    "sum of lists": ("{{ ([[1] * 1000] * 1000) | sum(start=[]) }}", "template budget"),
    "a slice of a long string in a loop": (
        "{% set s = 'y' * 900000 %}{% for i in range(100000) %}{% set t = s[1:] %}{% endfor %}",
        "more than 200,000 steps",
    ),
    "a method scanning a long string in a loop": (
        "{% set s = 'y' * 900000 %}{% for i in range(100000) %}{% set n = s.count('q') %}"
        "{% endfor %}",
        "more than 200,000 steps",
    ),
    "parentheses nested 5,000 deep": (
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "nested too deeply to compile",
    ),
    "blocks nested 500 deep": ("{% if 1 %}" * 500 + "{% endif %}" * 500, "nested too deeply"),
    "lipsum(10**9)": ("{{ lipsum(10**9) }}", "a size or count of 1,000,000,000"),
    "a template of a megabyte": ("{{ x }}" * 200_000, "1,400,000 characters of template"),
}


def one_line(error: pytest.ExceptionInfo[ModelpackError]) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("name", list(HOSTILE_JINJA))
def test_hostile_chat_template_ends_in_one_error_naming_the_gguf(name: str) -> None:
    template, expected = HOSTILE_JINJA[name]
    source = "evil.gguf:tokenizer.chat_template"
    with deadline(CASE_SECONDS), pytest.raises(ModelpackError) as error:
        detect(template, FORMATS, source=source)
    message = one_line(error)
    assert message.startswith(source)
    assert expected in message


def test_a_budget_error_is_not_retried_with_the_system_message_folded() -> None:
    """A template that fails on the system message is tried again with it folded into the
    user turn (Gemma, Mistral); one that ran past the budget is not: the run is over."""
    loops_on_system = (
        "{% if messages[0].role == 'system' %}"
        + NESTED_LOOPS
        + "{% endif %}{{ messages[0].content }}"
    )
    with deadline(CASE_SECONDS), pytest.raises(TemplateBudgetError):
        detect(loops_on_system, FORMATS)
    refuses_system = "{% if messages[0].role == 'system' %}{{ raise_exception('no') }}{% endif %}"
    assert detect(refuses_system + "{{ messages[0].content }}", FORMATS).system_folded


@pytest.mark.parametrize("path", sorted(REFERENCES.glob("*.jinja")), ids=lambda p: p.stem)
def test_real_chat_templates_render_as_before_within_a_hundredth(path: Path) -> None:
    """Byte for byte what transformers' own environment renders, on a hundredth of the budget;
    and each still detects as its format on that budget."""
    template = path.read_text()
    tokens = re.search(r"bos_token=(\S+) eos_token=(\S+) #\}", template.splitlines()[0])
    assert tokens, path
    plain = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols]
    )
    plain.filters["tojson"] = _tojson
    plain.globals["strftime_now"] = datetime(2024, 7, 26).strftime
    expected = plain.from_string(template).render(
        messages=_as_dicts(PROBE[1:]),  # no system turn: Gemma's and Mistral's refuse one
        tools=None,
        documents=None,
        add_generation_prompt=True,
        bos_token=tokens[1],
        eos_token=tokens[2],
    )
    rendered = render_chat(
        template, PROBE[1:], bos_token=tokens[1], eos_token=tokens[2], budget=TIGHT
    )
    assert rendered == expected
    found = detect(template, FORMATS, bos_token=tokens[1], eos_token=tokens[2], budget=TIGHT)
    assert found.format is not None and found.format.name == path.stem


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_shipped_go_formats_render_within_a_hundredth(name: str) -> None:
    assert render_go(FORMATS[name].template, PROBE, budget=TIGHT) == render_go(
        FORMATS[name].template, PROBE
    )


# -- variant templates -------------------------------------------------------------------------

SPEC = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    system: Be brief.
    license: [MIT]
    variants:
      - name: bad
        template: bad.j2
"""


def render_variant(folder: Path, template: str, budget: TemplateBudget = DEFAULT_BUDGET) -> str:
    """Render `template` as the project's variant `bad.j2`; the project's templates/ folder
    (which `{% include %}` searches) holds `loop.j2`, which includes itself."""
    write_tiny_gguf(folder / "m.gguf")
    (folder / "bad.j2").write_text(template)
    (folder / "templates").mkdir(exist_ok=True)
    (folder / "templates" / "loop.j2").write_text("{% include 'loop.j2' %}")
    loaded = load_spec(SPEC, source="modelpack.yaml")
    renderer = Renderer(
        loaded,
        spec_dir=folder,
        version=OllamaVersion(0, 9, 3),
        template_dirs=[folder / "templates", TEMPLATES],
        budget=budget,
    )
    (rendered,) = renderer.render_package("pkg")
    return rendered.text


HOSTILE_VARIANTS = {
    "nested loops": ("{{ header() }}\n" + NESTED_LOOPS, 2, "more than 200,000 steps"),
    "a recursive macro": (
        "{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}",
        1,
        "nested more than 64 deep",
    ),
    "1/0": ("{{ header() }}\n{{ 1/0 }}", 2, "template raised ZeroDivisionError"),
    "a list grown in place": (
        "{% set l = ['x' * 1000] %}{% for i in range(30) %}{% set _ = l.extend(l) %}{% endfor %}",
        1,
        "template budget",
    ),
    "an include loop": ("{% include 'loop.j2' %}", 1, "nested deeper than Python allows"),
}


@pytest.mark.parametrize("name", list(HOSTILE_VARIANTS))
def test_hostile_variant_template_ends_in_one_error_naming_the_file(
    name: str, tmp_path: Path
) -> None:
    template, line, expected = HOSTILE_VARIANTS[name]
    with deadline(CASE_SECONDS), pytest.raises(ModelpackError) as error:
        render_variant(tmp_path, template)
    message = one_line(error)
    assert message.startswith(f"{tmp_path / 'bad.j2'}:{line}: ") or message.startswith(
        f"{tmp_path / 'bad.j2'}: "
    )
    assert expected in message


def test_built_in_variant_templates_render_within_a_hundredth(tmp_path: Path) -> None:
    template = (TEMPLATES / "variants" / "full.Modelfile.j2").read_text()
    assert render_variant(tmp_path, template, TIGHT) == render_variant(tmp_path, template)


def test_a_variant_template_may_still_change_its_own_lists(tmp_path: Path) -> None:
    """Variant templates keep plain Jinja's sandbox (lists may change), only metered."""
    text = render_variant(
        tmp_path, "{{ header() }}\n{% set l = [] %}{% set _ = l.append('b') %}# {{ l[0] }}\n"
    )
    assert text.endswith("# b\n")


# -- Go TEMPLATEs ------------------------------------------------------------------------------

HOSTILE_GO = {
    "1,000 nested ifs": (
        "{{ if .System }}" * 1000 + "x" + "{{ end }}" * 1000,
        "blocks and parentheses nested 1001 deep",
    ),
    "range over a billion": ("{{ range 1000000000 }}x{{ end }}", "template budget"),
    "nested ranges": (
        "{{ range 100000 }}{{ range 100000 }}{{ end }}{{ end }}",
        "more than 200,000 steps",
    ),
    "a value doubled with printf": (
        '{{ $x := "ab" }}{{ range 64 }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ $x }}',
        "a value of more than 1,000,000 characters",
    ),
    "a printf width of a billion": ('{{ printf "%999999999d" 1 }}', "a printf width"),
    "a template calling itself": (
        '{{ define "x" }}{{ template "x" . }}{{ end }}{{ template "x" . }}',
        "nested more than 64 deep",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE_GO))
def test_hostile_go_template_ends_in_one_error_naming_its_source(name: str) -> None:
    template, expected = HOSTILE_GO[name]
    with deadline(CASE_SECONDS), pytest.raises(TemplateBudgetError) as error:
        render_go(template, PROBE, source="Modelfile")
    message = one_line(error)
    assert message.startswith("Modelfile: the TEMPLATE ran past modelpack's template budget")
    assert expected in message


def test_the_executor_counts_steps_and_output() -> None:
    nodes = parse("{{ range 10 }}ab{{ end }}", functions=GO_BUILTINS)
    assert execute(nodes, {}) == "ab" * 10
    with pytest.raises(BudgetExceeded, match="more than 15 steps"):
        execute(nodes, {}, meter=Meter(TemplateBudget(steps=15)))
    with pytest.raises(BudgetExceeded, match="more than 9 characters of output"):
        execute(nodes, {}, meter=Meter(TemplateBudget(output_chars=9)))


def test_an_included_template_is_read_within_the_template_limit(tmp_path: Path) -> None:
    """`{% include %}` reads through the same bounded reader as the template itself: a 2 MiB
    file (or a symlink to a huge one) in the templates folder is one error, not a whole read."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "big.j2").write_bytes(b"#" * (2 * 1024 * 1024))
    with deadline(CASE_SECONDS), pytest.raises(ModelpackError) as error:
        render_variant(tmp_path, "{{ header() }}\n{% include 'big.j2' %}")
    message = one_line(error)
    assert str(tmp_path / "templates" / "big.j2") in message
    assert "larger than 1 MiB" in message


def test_an_included_template_still_renders(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "part.j2").write_text("# from the part\n")
    text = render_variant(tmp_path, "{{ header() }}\n{% include 'part.j2' %}")
    assert "# from the part" in text
