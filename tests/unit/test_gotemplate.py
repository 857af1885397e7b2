"""The Go text/template checker: Go's verdicts and messages, structure, version rules."""

from __future__ import annotations

import pytest
from data.go_templates import CASES

from modelpack.core.gotemplate import (
    GO_BUILTINS,
    TemplateSyntaxError,
    crashing_template_calls,
    ollama_functions,
    parse,
    walk,
)
from modelpack.core.versions import OllamaVersion

V093 = OllamaVersion(0, 9, 3)


@pytest.mark.parametrize(("template", "go_error"), CASES, ids=[repr(c[0])[:40] for c in CASES])
def test_verdict_and_message_match_go(template: str, go_error: str | None) -> None:
    if go_error is None:
        parse(template, functions=ollama_functions(V093))
        return
    with pytest.raises(TemplateSyntaxError) as error:
        parse(template, functions=ollama_functions(V093))
    assert error.value.message == go_error


def test_line_numbers_count_newlines_in_text_actions_and_comments() -> None:
    template = "line1\n{{/* two\nlines */}}\n{{ .A\n}}\n{{ if .B }}\n{{ bogus }}{{ end }}"
    with pytest.raises(TemplateSyntaxError) as error:
        parse(template)
    assert error.value.line == 7
    assert str(error.value) == 'template: :7: function "bogus" not defined'


def test_trim_markers_trim_the_neighbouring_text() -> None:
    nodes = parse("a \n {{- .X -}} \n b {{ .Y }} c")
    texts = [n.text for n in nodes if n.kind == "text"]
    assert texts == ["a", "b ", " c"]


def test_minus_number_is_not_a_trim_marker() -> None:
    (node,) = parse("{{-3}}")
    assert node.kind == "action"
    assert node.pipe is not None
    assert node.pipe.commands[0][0].value == "-3"


def test_else_if_chain_nests_like_go() -> None:
    (node,) = parse("{{ if .A }}a{{ else if .B }}b{{ else }}c{{ end }}")
    assert node.kind == "if"
    assert [n.text for n in node.body] == ["a"]
    (inner,) = node.else_body
    assert inner.kind == "if"
    assert [n.text for n in inner.body] == ["b"]
    assert [n.text for n in inner.else_body] == ["c"]


def test_pipeline_structure() -> None:
    (node,) = parse('{{ $x := .Messages | len | printf "%d" }}')
    assert node.pipe is not None
    assert node.pipe.decl == ("$x",)
    heads = [command[0] for command in node.pipe.commands]
    assert [(h.kind, h.value) for h in heads] == [
        ("field", ("Messages",)),
        ("func", "len"),
        ("func", "printf"),
    ]


@pytest.mark.parametrize(
    ("name", "since", "last_without"),
    [
        ("json", "0.2.6", "0.2.5"),
        ("currentDate", "0.11.0", "0.10.1"),
        ("toTypeScriptType", "0.11.3", "0.11.2"),
        ("yesterdayDate", "0.13.3", "0.13.2"),
    ],
)
def test_ollama_functions_follow_the_release_that_added_them(
    name: str, since: str, last_without: str
) -> None:
    """Releases from the tag scan of template/template.go (first with, last without)."""
    first = OllamaVersion.parse(since)
    before = OllamaVersion.parse(last_without)
    assert name in ollama_functions(first)
    assert name not in ollama_functions(before)
    parse(f"{{{{ {name} . }}}}", functions=ollama_functions(first))
    with pytest.raises(TemplateSyntaxError, match=f'function "{name}" not defined'):
        parse(f"{{{{ {name} . }}}}", functions=ollama_functions(before))


def test_builtins_are_always_there() -> None:
    assert ollama_functions(OllamaVersion(0, 1, 0)) >= GO_BUILTINS


def test_template_call_without_argument_is_flagged_where_it_crashes_ollama() -> None:
    nodes = parse('{{ define "x" }}a{{ end }}{{ template "x" }}{{ template "x" . }}')
    calls = [n for n in walk(nodes) if n.kind == "template"]
    assert len(calls) == 2
    for version in ["0.2.2", "0.5.4-ipexllm-20250407", "0.9.3", "0.12.3"]:
        assert crashing_template_calls(nodes, OllamaVersion.parse(version)) == [calls[0]]
    for version in ["0.2.1", "0.12.4", "0.33.0-rc2"]:
        assert crashing_template_calls(nodes, OllamaVersion.parse(version)) == []
