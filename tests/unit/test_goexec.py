"""goexec: each Go text/template behaviour the chat formats rely on, checked one by one."""

from __future__ import annotations

import pytest

from modelpack.core.goexec import GoExecError, Struct, execute, go_quote, go_unquote
from modelpack.core.gotemplate import GO_BUILTINS, parse


def run(source: str, data: object = None) -> str:
    return execute(parse(source, functions=GO_BUILTINS | {"json"}), data)


def test_text_and_trim_markers() -> None:
    assert run("a  {{- 1 -}}  b") == "a1b"
    assert run("a  {{ 1 }}  b") == "a  1  b"
    assert run("x\n{{- /* gone */ -}}\ny") == "xy"


def test_fields_on_maps_and_structs() -> None:
    data = {"A": {"B": "deep"}, "S": Struct(Role="user")}
    assert run("{{ .A.B }}/{{ .S.Role }}", data) == "deep/user"
    # missingkey=zero on Ollama's map[string]any prints Go's nil interface
    assert run("{{ .Missing }}", data) == "<no value>"
    with pytest.raises(GoExecError, match="can't evaluate field Nope"):
        run("{{ .S.Nope }}", data)


def test_root_variable_and_declare_assign() -> None:
    data = {"X": "root", "L": [1, 2]}
    assert run("{{ range .L }}{{ $.X }}{{ end }}", data) == "rootroot"
    assert run('{{ $s := "a" }}{{ range .L }}{{ $s = "b" }}{{ end }}{{ $s }}', data) == "b"
    # a variable declared in a block ends with it
    with pytest.raises(Exception, match="undefined variable"):
        run("{{ if 1 }}{{ $v := 1 }}{{ end }}{{ $v }}")


def test_range_with_index_element_and_else() -> None:
    data = {"L": ["a", "b"], "E": []}
    assert run("{{ range $i, $m := .L }}{{ $i }}={{ $m }};{{ end }}", data) == "0=a;1=b;"
    assert run("{{ range .L }}<{{ . }}>{{ end }}", data) == "<a><b>"
    assert run("{{ range .E }}x{{ else }}empty{{ end }}", data) == "empty"
    assert (
        run('{{ range .L }}{{ if eq . "a" }}{{ continue }}{{ end }}{{ . }}{{ end }}', data) == "b"
    )
    assert run("{{ range .L }}{{ . }}{{ break }}{{ end }}", data) == "a"


def test_if_else_if_else_and_with() -> None:
    template = '{{ if eq .R "a" }}A{{ else if eq .R "b" }}B{{ else }}C{{ end }}'
    assert [run(template, {"R": r}) for r in "abz"] == ["A", "B", "C"]
    assert run("{{ with .X }}[{{ . }}]{{ else }}none{{ end }}", {"X": "v"}) == "[v]"
    assert run("{{ with .X }}[{{ . }}]{{ else }}none{{ end }}", {"X": ""}) == "none"


@pytest.mark.parametrize(
    ("value", "truth"),
    [
        ("", False),
        ("x", True),
        (0, False),
        (2, True),
        ([], False),
        ([0], True),
        ({}, False),
        (None, False),
        (False, False),
        (Struct(), True),
    ],
)
def test_go_truthiness(value: object, truth: bool) -> None:
    assert run("{{ if .V }}T{{ else }}F{{ end }}", {"V": value}) == ("T" if truth else "F")


def test_comparisons_and_logic() -> None:
    assert run('{{ eq .R "b" "c" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ ge "b" "a" }}', {"R": "c"}) == (
        "true true true true"
    )
    # and/or return an operand, not a bool, and stop early
    assert run('{{ and "x" "" "y" }}|{{ or "" "z" }}|{{ or "" 0 }}') == "|z|0"
    assert run("{{ and .Missing (index .L 5) }}", {"L": []}) == "<no value>"
    assert run("{{ not .E }}", {"E": ""}) == "true"
    with pytest.raises(GoExecError, match="incompatible types for comparison"):
        run('{{ eq 1 "1" }}')


def test_len_index_slice_printf_json() -> None:
    data = {"L": ["a", "b", "c"], "M": {"k": "v"}}
    assert run('{{ len .L }} {{ len "é" }} {{ index .L 1 }} {{ index .M "k" }}', data) == "3 2 b v"
    assert run("{{ len (slice .L 1) }} {{ eq (len (slice .L 2)) 1 }}", data) == "2 true"
    assert run('{{ printf "%s=%d %q%%" "n" 4 "x" }}') == 'n=4 "x"%'
    assert run('{{ printf "%s\\n\\n%s" "a" "b" }}') == "a\n\nb"
    assert run('{{ json .M }} {{ json "<a>" }}', data) == '{"k":"v"} "\\u003ca\\u003e"'
    assert run('{{ "x" | printf "%s!" }}') == "x!"
    with pytest.raises(GoExecError, match="error calling index: index out of range: 9"):
        run("{{ index .L 9 }}", data)


def test_define_and_template_calls() -> None:
    source = '{{ define "t" }}<{{ . }}>{{ end }}{{ template "t" "a" }}'
    source += '{{ block "b" 1 }}[{{ . }}]{{ end }}'
    assert run(source) == "<a>[1]"


def test_errors_are_one_class_with_the_line() -> None:
    with pytest.raises(GoExecError) as info:
        run("line1\n{{ index 1 0 }}")
    assert info.value.line == 2
    assert str(info.value).startswith("template: :2: ")


def test_go_quote_round_trip() -> None:
    text = 'a "q" é\t\n\x01'
    assert go_quote(text) == '"a \\"q\\" é\\t\\n\\x01"'
    assert go_unquote(go_quote(text)) == text
