"""The Go text/template checker: Go's verdicts and messages, structure, version rules."""

from __future__ import annotations

import pytest
from data.go_templates import CASES

from modelpack.core.gotmpl.parser import (
    GO_BUILTINS,
    Pipeline,
    TemplateSyntaxError,
    crashing_template_calls,
    go_char,
    go_number,
    max_paren_depth,
    nesting_depth,
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


def _args(template: str) -> list[list[tuple[str, object, tuple[str, ...]]]]:
    """The commands of the template's last action as (kind, value, chain) per operand."""
    pipe = parse(template, functions=GO_BUILTINS)[-1].pipe
    assert pipe is not None
    return [
        [(op.kind, "(...)" if op.kind == "pipe" else op.value, op.chain) for op in command]
        for command in pipe.commands
    ]


@pytest.mark.parametrize(
    ("template", "commands"),
    [
        # Written together, a field chains onto the term before it; after a blank, as in Go,
        # it is an argument of its own (evaluated on dot).
        ("{{ $x := . }}{{ $x.Y }}", [[("variable", "$x", ("Y",))]]),
        ("{{ $x := . }}{{ $x .Y }}", [[("variable", "$x", ()), ("field", ("Y",), ())]]),
        ("{{ $x := . }}{{ $x.Y.Z .W }}", [[("variable", "$x", ("Y", "Z")), ("field", ("W",), ())]]),
        ("{{ $.A .B }}", [[("variable", "$", ("A",)), ("field", ("B",), ())]]),
        ("{{ (.A).B }}", [[("pipe", "(...)", ("B",))]]),
        ("{{ (.A) .B }}", [[("pipe", "(...)", ()), ("field", ("B",), ())]]),
        ("{{ .A.B }}", [[("field", ("A", "B"), ())]]),
        ("{{ .A .B }}", [[("field", ("A",), ()), ("field", ("B",), ())]]),
        ("{{ . .B }}", [[("dot", None, ()), ("field", ("B",), ())]]),
        (
            "{{ $x := . }}{{ index $x .Y }}",
            [[("func", "index", ()), ("variable", "$x", ()), ("field", ("Y",), ())]],
        ),
        (
            '{{ $x := . }}{{ printf "%s" $x .Y }}',
            [
                [
                    ("func", "printf", ()),
                    ("string", '"%s"', ()),
                    ("variable", "$x", ()),
                    ("field", ("Y",), ()),
                ]
            ],
        ),
        (
            '{{ eq .Role "user" }}',
            [[("func", "eq", ()), ("field", ("Role",), ()), ("string", '"user"', ())]],
        ),
        ("{{ len.B }}", [[("func", "len", ("B",))]]),  # Go's ChainNode on a function
        (
            "{{ .A | printf .B }}",
            [[("field", ("A",), ())], [("func", "printf", ()), ("field", ("B",), ())]],
        ),
        ("{{ $x := . }}{{ $x|len }}", [[("variable", "$x", ())], [("func", "len", ())]]),
    ],
)
def test_a_blank_between_a_term_and_a_field_makes_two_arguments(
    template: str, commands: list[list[tuple[str, object, tuple[str, ...]]]]
) -> None:
    assert _args(template) == commands


def test_a_parenthesised_pipeline_keeps_its_own_arguments() -> None:
    (node,) = parse('{{ printf "%v %v" (index . "A") .B }}')
    assert node.pipe is not None
    (command,) = node.pipe.commands
    assert [op.kind for op in command] == ["func", "string", "pipe", "field"]
    inner = command[2].value
    assert isinstance(inner, Pipeline)
    assert [(op.kind, op.value) for op in inner.commands[0]] == [
        ("func", "index"),
        ("dot", None),
        ("string", '"A"'),
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        # Go's parser reads left to right: an earlier error wins over a lexer error after it,
        # in the same action or a later one.
        ('{{ bogus .A" }}', 'function "bogus" not defined'),
        ("{{ bogus }}{{ .X", 'function "bogus" not defined'),
        ('{{ if | .A" }}', 'unexpected "|" in if'),
        ('{{ .A" }}{{ bogus }}', "bad character U+0022 '\"'"),
    ],
)
def test_errors_come_in_the_order_go_meets_them(template: str, message: str) -> None:
    with pytest.raises(TemplateSyntaxError) as error:
        parse(template)
    assert error.value.message == message


@pytest.mark.parametrize(
    ("template", "line", "message"),
    [
        # Go names the line of the furthest token it has read, and where the action started
        # when a lexer error is on another line.
        ("{{\n$y\nnil }}", 3, 'undefined variable "$y"'),
        ("{{ .X\n # }}", 2, 'unexpected "#" in operand'),
        ("{{ .X\n.Y# }}", 2, "bad character U+0023 '#' in action started at :1"),
        ("{{ (\n.X }}", 2, "unclosed left paren in action started at :1"),
        ('{{ .X\n"a }}', 2, "unterminated quoted string in action started at :1"),
        ("a\n{{ .X\n\n", 4, "unclosed action started at :2"),
        (
            "{{ if .A\n}}{{/* c */ }}{{ end }}",
            2,
            "comment ends before closing delimiter in action started at :1",
        ),
        (
            '{{ block "b" .\n}}{{ .A }}\n{{ else }}{{ end }}',
            2,
            "unexpected {{else}} in block clause",
        ),
    ],
)
def test_lines_and_action_starts_in_messages_are_gos(
    template: str, line: int, message: str
) -> None:
    with pytest.raises(TemplateSyntaxError) as error:
        parse(template)
    assert (error.value.line, error.value.message) == (line, message)


def test_define_bodies_see_only_dollar_and_break_needs_a_range_body() -> None:
    parse('{{ define "d" }}{{ $ }}{{ end }}{{ range . }}{{ if . }}{{ break }}{{ end }}{{ end }}')
    for template, message in [
        ('{{ $x := 1 }}{{ define "d" }}{{ $x }}{{ end }}', 'undefined variable "$x"'),
        (
            '{{ range . }}{{ block "b" . }}{{ continue }}{{ end }}{{ end }}',
            "{{continue}} outside {{range}}",
        ),
        ("{{ range . }}{{ else }}{{ break }}{{ end }}", "{{break}} outside {{range}}"),
    ]:
        with pytest.raises(TemplateSyntaxError) as error:
            parse(template)
        assert error.value.message == message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("017", 15),
        ("0x1e", 30),
        ("-0x1e", -30.0),  # Go: a sign keeps it from being a hex int, so the `e` makes a float
        ("0b101", 5),
        ("0o17", 15),
        ("1_000", 1000),
        ("1.", 1.0),
        (".5", 0.5),
        ("1.e5", 100000.0),
        ("0x1p4", 16.0),
        ("2i", 2j),
        ("9223372036854775808", 1 << 63),  # parses; `overflows int` when executed
    ],
)
def test_number_literals_take_gos_values(text: str, value: object) -> None:
    result = go_number(text)
    assert result == value
    assert type(result) is type(value)


def test_char_and_complex_literals() -> None:
    assert go_char("'a'") == 97
    assert go_char("'\\xff'") == 255
    assert go_char("'é'") == 233
    assert go_number("1.5-2.5i", "complex") == complex(1.5, -2.5)
    for bad, message in [("''", "invalid syntax"), ("'ab'", "malformed character constant: 'ab'")]:
        with pytest.raises(ValueError, match=message):
            go_char(bad)


def test_parentheses_nest_as_deep_as_the_targets_go_allows() -> None:
    """Go 1.25+ (Ollama 0.23.1+) refuses more than 10,000 nested parentheses (parse.go
    maxStackDepth); the Go 1.24 that builds 0.9.3 has no limit. Either way no RecursionError:
    before, 300 levels ended in a traceback."""

    def nested(depth: int) -> str:
        return "{{ " + "(" * depth + ".System" + ")" * depth + " }}"

    new, old = OllamaVersion(0, 23, 1), OllamaVersion(0, 23, 0)
    assert max_paren_depth(new) == 10_000 and max_paren_depth(old) is None
    assert nesting_depth(parse(nested(10_000), max_paren_depth=max_paren_depth(new))) == 10_001
    with pytest.raises(TemplateSyntaxError, match=r"^template: :1: max expression depth exceeded$"):
        parse(nested(10_001), max_paren_depth=max_paren_depth(new))
    nodes = parse(nested(20_000), max_paren_depth=max_paren_depth(old))
    assert nesting_depth(nodes) == 20_001


def test_blocks_nest_without_limit_and_walk_without_recursion() -> None:
    """Go's parser has no limit on nested blocks, nor does `parse`; `walk` (lint's) used to
    recurse and fail at 1,000."""
    depth = 5000
    nodes = parse("{{ if .System }}" * depth + "x" + "{{ end }}" * depth)
    assert [n.kind for n in walk(nodes)] == ["if"] * depth + ["text"]
    assert nesting_depth(nodes) == depth + 1
