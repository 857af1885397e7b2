"""goexec: each Go text/template behaviour the chat formats rely on, checked one by one."""

from __future__ import annotations

import pytest

from modelpack.core.gotmpl.execute import (
    GoExecError,
    Struct,
    execute,
    go_quote,
    go_unquote,
)
from modelpack.core.gotmpl.parser import GO_BUILTINS, parse


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


def test_declare_shadows_and_assign_needs_a_visible_variable() -> None:
    """Go's push and setVar: `:=` in a block makes a new $x that ends with the block; `=`
    rebinds the visible one, and with none it is an exec error (the parser accepts it)."""
    assert run("{{ $x := 1 }}{{ if 1 }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}") == "21"
    assert run("{{ $x := 1 }}{{ if 1 }}{{ $x = 2 }}{{ $x }}{{ end }}{{ $x }}") == "22"
    with pytest.raises(GoExecError, match=r"undefined variable: \$y"):
        run("{{ $y = 1 }}")


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


DATA = {"A": {"B": "ab"}, "B": "b", "X": {"Y": "xy"}, "Y": "y", "S": Struct(Role="user")}


@pytest.mark.parametrize(
    ("source", "output"),
    [
        # A field written right after a term is a field of it; after a blank it is a separate
        # argument, evaluated on dot (outputs from Go's text/template on the same data).
        ("{{ $x := .X }}{{ $x.Y }}", "xy"),
        ('{{ $x := .X }}{{ printf "%v %v" $x .Y }}', "map[Y:xy] y"),
        ('{{ $x := .X }}{{ printf "%v" $x.Y }}', "xy"),
        ("{{ $x := .X }}{{ index $x .Y }}", "<no value>"),  # index $x "y": no such key
        ('{{ $x := .X }}{{ index $x "Y" }}', "xy"),
        ("{{ (.A).B }}", "ab"),
        ('{{ printf "%v %v" (.A) .B }}', "map[B:ab] b"),
        ('{{ printf "%v" (.A).B }}', "ab"),
        ('{{ printf "%v %v" .A .B }}', "map[B:ab] b"),
        ('{{ eq .B "b" }}', "true"),
        ('{{ "a" | printf "%s%v" .B }}', "ba"),
    ],
)
def test_a_blank_between_a_term_and_a_field_makes_two_arguments(source: str, output: str) -> None:
    assert run(source, DATA) == output


@pytest.mark.parametrize(
    ("source", "message"),
    [
        # Only a function (or a method, which plain data has none of) takes arguments; Go's
        # messages for each kind of first operand that was given some.
        ("{{ $x := .X }}{{ $x .Y }}", "can't give argument to non-function $x"),
        ("{{ (.A) .B }}", "can't give argument to non-function .A"),
        ('{{ (printf "a") .B }}', 'can\'t give argument to non-function printf "a"'),
        ("{{ . .B }}", "can't give argument to non-function ."),
        ('{{ "s" .B }}', 'can\'t give argument to non-function "s"'),
        ("{{ .A .B }}", "A is not a method but has arguments"),
        ("{{ $.A .B }}", "A is not a method but has arguments"),
        ("{{ $x := . }}{{ $x.X.Y .Z }}", "Y is not a method but has arguments"),
        ("{{ (.X).Y .B }}", "Y is not a method but has arguments"),
        ("{{ 1 | .A }}", "A is not a method but has arguments"),
        ("{{ .S.Role .B }}", "Role has arguments but cannot be invoked as function"),
        ("{{ .Missing.Y }}", "nil pointer evaluating interface {}.Y"),
    ],
)
def test_arguments_to_what_is_not_a_function_fail_as_in_go(source: str, message: str) -> None:
    with pytest.raises(GoExecError) as info:
        run(source, DATA)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("source", "output"),
    [
        ("{{ 1. }}", "1"),
        ("{{ 1.e5 }}", "100000"),
        ("{{ 0x1p4 }}", "16"),
        ("{{ 017 }}", "15"),
        ("{{ 0x1e }}", "30"),
        ("{{ -0x1e }}", "-30"),
        ("{{ 0_7 }}", "7"),
        ("{{ 1_000.5 }}", "1000.5"),
        ("{{ 'a' }}", "97"),
        ("{{ '\\xff' }}", "255"),
        ("{{ 2i }}", "(0+2i)"),
        ("{{ 1.5-2.5i }}", "(1.5-2.5i)"),
        ("{{ -9223372036854775808 }}", "-9223372036854775808"),
    ],
)
def test_number_literals_print_as_in_go(source: str, output: str) -> None:
    assert run(source) == output


def test_an_int_literal_outside_int64_overflows_when_executed() -> None:
    with pytest.raises(GoExecError, match="9223372036854775808 overflows int"):
        run("{{ 9223372036854775808 }}")
