"""Unit tests for the Modelfile parser and writer (modelpack.core.modelfile.syntax).

The expected values follow Ollama's parser/parser.go. The cases were checked against Ollama's own
ParseFile while this module was written; they are restated here so the suite runs without Go.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable

import pytest
from helpers.budget import fuzz_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.core.modelfile.syntax import (
    INSTRUCTIONS,
    Command,
    Message,
    Modelfile,
    Parameter,
    parse,
    quote,
    write,
)
from modelpack.errors import ModelfileError

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
TQ = '"""'


def parse_error(text: str | bytes) -> ModelfileError:
    """Parse `text`, which must fail, and return the error for inspection."""
    with pytest.raises(ModelfileError) as info:
        parse(text, source="Modelfile")
    return info.value


# Instructions


def test_every_instruction_is_parsed_with_its_line() -> None:
    text = (
        "FROM llama3.2\n"
        "PARAMETER temperature 0.7\n"
        "TEMPLATE {{ .Prompt }}\n"
        "SYSTEM You are terse.\n"
        "ADAPTER ./lora.gguf\n"
        "LICENSE MIT\n"
        "MESSAGE user Hi there\n"
        "REQUIRES 0.14.0\n"
        "RENDERER qwen3-coder\n"
        "PARSER qwen3-coder\n"
        "DRAFT ./draft.gguf\n"
    )
    modelfile = parse(text)
    assert modelfile.commands == [
        Command("from", "llama3.2"),
        Command("parameter", "0.7", param="temperature"),
        Command("template", "{{ .Prompt }}"),
        Command("system", "You are terse."),
        Command("adapter", "./lora.gguf"),
        Command("license", "MIT"),
        Command("message", "Hi there", role="user"),
        Command("requires", "0.14.0"),
        Command("renderer", "qwen3-coder"),
        Command("parser", "qwen3-coder"),
        Command("draft", "./draft.gguf"),
    ]
    assert [command.line for command in modelfile.commands] == list(range(1, 12))
    assert {command.name for command in modelfile.commands} == set(INSTRUCTIONS)


@pytest.mark.parametrize("keyword", ["from", "FROM", "From", "fRoM"])
def test_keywords_are_case_insensitive(keyword: str) -> None:
    assert parse(f"{keyword} llama3.2\n").commands == [Command("from", "llama3.2")]


def test_mixed_case_parameter_and_message_keywords() -> None:
    modelfile = parse("Parameter top_k 40\nmEsSaGe assistant ok\n")
    assert modelfile.commands == [
        Command("parameter", "40", param="top_k"),
        Command("message", "ok", role="assistant"),
    ]


def test_parameter_name_keeps_its_case() -> None:
    assert parse("PARAMETER Temperature 0.7\n").parameters == [Parameter("Temperature", "0.7", 1)]


def test_tab_separates_keyword_and_value() -> None:
    assert parse("FROM\tllama3.2\nPARAMETER\tstop\t</s>\n").commands == [
        Command("from", "llama3.2"),
        Command("parameter", "</s>", param="stop"),
    ]


def test_double_space_after_parameter_gives_empty_name_like_ollama() -> None:
    assert parse("PARAMETER  temperature 0.7\n").commands == [
        Command("parameter", "temperature 0.7", param="")
    ]


def test_value_at_eof_without_newline() -> None:
    assert parse("FROM foo\nSYSTEM last line").system == "last line"


# Comments


def test_comment_lines_are_skipped_even_indented() -> None:
    modelfile = parse("# top\n   # indented\n\t#tab\nFROM foo\n# end")
    assert modelfile.commands == [Command("from", "foo")]
    assert modelfile.commands[0].line == 4


def test_hash_after_a_value_is_part_of_the_value() -> None:
    modelfile = parse("PARAMETER temperature 0.7 # hi\nSYSTEM # not a comment\n")
    assert modelfile.parameters == [Parameter("temperature", "0.7 # hi", 1)]
    assert modelfile.system == "# not a comment"


def test_hash_right_after_keyword_is_an_invalid_command() -> None:
    error = parse_error("FROM# foo\n")
    assert error.message == INVALID_COMMAND
    assert error.line == 1


# Values and quoting


def test_unquoted_value_is_trimmed_but_keeps_inner_spaces() -> None:
    modelfile = parse("FROM     FOOO BAR    \nADAPTER /what/is/the path \n")
    assert modelfile.from_ == "FOOO BAR"
    assert modelfile.adapters == ["/what/is/the path"]


def test_quoted_values_keep_surrounding_spaces() -> None:
    modelfile = parse('FROM "     model 1"\nLICENSE "MIT       "\nPARAMETER stop "### User: "\n')
    assert modelfile.from_ == "     model 1"
    assert modelfile.license == ["MIT       "]
    assert modelfile.parameters == [Parameter("stop", "### User: ", 3)]


def test_double_quoted_value_spans_lines() -> None:
    modelfile = parse('SYSTEM "first\n  second\n"\nFROM foo\n')
    assert modelfile.system == "first\n  second\n"
    assert modelfile.commands[1] == Command("from", "foo")
    assert modelfile.commands[1].line == 4


def test_triple_quoted_value_spans_lines_and_keeps_quotes() -> None:
    text = 'TEMPLATE """\nSay "Hello!" and\n\n{{ .Prompt }}\n"""\nFROM foo\n'
    modelfile = parse(text)
    assert modelfile.template == '\nSay "Hello!" and\n\n{{ .Prompt }}\n'
    assert modelfile.commands[1].line == 6


def test_triple_quotes_strip_exactly_three_quotes_each_side() -> None:
    assert parse('SYSTEM """"quoted""""\n').system == '"quoted"'
    assert parse('SYSTEM """\'\'"\'""\'"""\n').system == "''\"'\"\"'"


def test_parameter_value_may_span_lines() -> None:
    assert parse('PARAMETER stop """### User:\n"""\n').parameters == [
        Parameter("stop", "### User:\n", 1)
    ]


@pytest.mark.parametrize("text", ['SYSTEM ""\n', 'SYSTEM """"""\n', "SYSTEM \n", "SYSTEM "])
def test_empty_values(text: str) -> None:
    assert parse(text).system == ""


def test_no_escape_sequences() -> None:
    modelfile = parse('SYSTEM "a\\nb"\nTEMPLATE "say \\"hi\\""\n')
    assert modelfile.system == "a\\nb"
    assert modelfile.template == 'say \\"hi\\"'


def test_single_quotes_are_ordinary_characters() -> None:
    modelfile = parse("SYSTEM 'hello there'\nLICENSE \"'\"\n")
    assert modelfile.system == "'hello there'"
    assert modelfile.license == ["'"]


def test_quote_closes_only_at_the_end_of_a_line() -> None:
    modelfile = parse('SYSTEM "a" b\nFROM x"\nFROM y\n')
    assert modelfile.system == 'a" b\nFROM x'
    assert modelfile.from_ == "y"


@pytest.mark.parametrize(
    ("text", "opener"),
    [
        ('FROM foo\nSYSTEM "\n', '"'),
        ('FROM foo\nSYSTEM "abc\nmore\n', '"'),
        ('FROM foo\nSYSTEM """abc\n', '"""'),
        ('FROM foo\nSYSTEM """This is a multiline system.""\n', '"""'),
        ('FROM foo\nSYSTEM "a" b\n', '"'),
    ],
)
def test_unterminated_quote_is_unexpected_eof(text: str, opener: str) -> None:
    error = parse_error(text)
    assert error.message == "unexpected EOF"
    assert error.line == 2
    assert error.hint is not None
    assert f"the {opener} opened on line 2 is never closed" in error.hint


def test_non_printable_runes_are_dropped_but_tabs_kept() -> None:
    modelfile = parse("SYSTEM a\x00b\u200bc\x0bd\xa0e\tf\nFROM \x07foo\n")
    assert modelfile.system == "abcde\tf"
    assert modelfile.from_ == "foo"


def test_non_printable_rune_before_keyword_is_ignored_like_ollama() -> None:
    assert parse("\ufeffFROM foo\n").from_ == "foo"


# Errors


def test_bad_command_names_line_and_hint() -> None:
    error = parse_error("\nFROM foo\nBADCOMMAND param1 value1\n")
    assert error.message == INVALID_COMMAND
    assert error.line == 3
    assert error.hint is not None
    assert "'BADCOMMAND' is not an instruction" in error.hint
    assert str(error).startswith("Modelfile:3: command must be one of")


def test_keyword_followed_by_newline_is_an_invalid_command() -> None:
    error = parse_error("FROM foo\nSYSTEM\nPARAMETER x 1\n")
    assert error.message == INVALID_COMMAND
    assert error.line == 2
    assert error.hint == "SYSTEM needs a value on the same line, after a space"


def test_keyword_followed_by_punctuation() -> None:
    error = parse_error("FROM foo\n\nFROM:bar\n")
    assert (error.message, error.line) == (INVALID_COMMAND, 3)
    assert error.hint == "put a space between FROM and its value, not ':'"


def test_keyword_alone_at_eof() -> None:
    error = parse_error("FROM foo\nSYSTEM")
    assert (error.message, error.line) == ("unexpected EOF", 2)
    assert error.hint == "SYSTEM needs a value after a space"


@pytest.mark.parametrize("role", ["badguy", "User", "tool"])
def test_bad_message_role(role: str) -> None:
    error = parse_error(f"FROM foo\nMESSAGE {role} I'm a bad guy!\n")
    assert (error.message, error.line) == (INVALID_ROLE, 2)
    assert error.hint is not None
    assert repr(role) in error.hint


@pytest.mark.parametrize("text", ["FROM foo\nMESSAGE system\n", "FROM foo\nMESSAGE system"])
def test_message_without_text(text: str) -> None:
    error = parse_error(text)
    assert error.message.startswith("unexpected EOF")
    assert error.line == 2
    assert error.hint


def test_parameter_without_value() -> None:
    error = parse_error("\nFROM foo\nPARAMETER param1\n")
    assert (error.message, error.line) == ("unexpected EOF: param1", 3)
    assert error.hint == "give PARAMETER param1 a value on the same line"


def test_parameter_name_with_invalid_character() -> None:
    error = parse_error("FROM foo\nPARAMETER top-k 40\n")
    assert (error.message, error.line) == ("unexpected EOF: top", 2)
    assert error.hint == "a parameter name has only letters, digits and _, not '-'"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("FROM foo\nBAD x\n", 2),
        ("FROM foo\r\nSYSTEM a\r\nBAD x\r\n", 3),
        ('SYSTEM """\none\ntwo\n"""\nMESSAGE User hi\n', 5),
        ("# c\n\n  PARAMETER stop\n", 3),
        ("FROM foo\rSYSTEM\r", 2),
    ],
)
def test_error_line_is_where_the_instruction_starts(text: str, line: int) -> None:
    error = parse_error(text)
    assert error.line == line
    assert error.source == "Modelfile"
    assert error.hint


def test_missing_from_is_not_a_parse_error() -> None:
    modelfile = parse("PARAMETER temperature 0.5\n")
    assert modelfile.from_ is None
    assert parse("").commands == []


# Accumulation rules


ACCUMULATING = """FROM first
FROM second
PARAMETER stop <|eot_id|>
PARAMETER temperature 0.1
PARAMETER stop </s>
PARAMETER temperature 0.9
TEMPLATE one
TEMPLATE two
SYSTEM one
SYSTEM two
LICENSE MIT
LICENSE Apache-2.0
MESSAGE user Hi
MESSAGE assistant Hello
MESSAGE user Bye
ADAPTER a.gguf
ADAPTER b.gguf
REQUIRES 0.13.0
REQUIRES 0.14.0
RENDERER r1
RENDERER r2
PARSER p1
PARSER p2
DRAFT d1.gguf
DRAFT d2.gguf
"""


def test_parameters_keep_every_occurrence_in_order() -> None:
    assert parse(ACCUMULATING).parameters == [
        Parameter("stop", "<|eot_id|>", 3),
        Parameter("temperature", "0.1", 4),
        Parameter("stop", "</s>", 5),
        Parameter("temperature", "0.9", 6),
    ]


def test_effective_parameters_accumulate_stop_and_keep_last_scalar() -> None:
    assert parse(ACCUMULATING).effective_parameters == {
        "stop": ["<|eot_id|>", "</s>"],
        "temperature": "0.9",
    }


def test_last_one_wins_views() -> None:
    modelfile = parse(ACCUMULATING)
    assert modelfile.from_ == "second"
    assert modelfile.template == "two"
    assert modelfile.system == "two"
    assert modelfile.requires == "0.14.0"
    assert modelfile.renderer == "r2"
    assert modelfile.parser == "p2"
    assert modelfile.draft == "d2.gguf"


def test_accumulating_views() -> None:
    modelfile = parse(ACCUMULATING)
    assert modelfile.license == ["MIT", "Apache-2.0"]
    assert modelfile.messages == [
        Message("user", "Hi"),
        Message("assistant", "Hello"),
        Message("user", "Bye"),
    ]
    assert modelfile.adapters == ["a.gguf", "b.gguf"]
    assert modelfile.drafts == ["d1.gguf", "d2.gguf"]


def test_views_are_empty_without_instructions() -> None:
    modelfile = parse("FROM foo\n")
    assert (modelfile.template, modelfile.system, modelfile.requires) == (None, None, None)
    assert (modelfile.renderer, modelfile.parser, modelfile.draft) == (None, None, None)
    assert modelfile.license == modelfile.adapters == modelfile.drafts == []
    assert modelfile.messages == []
    assert modelfile.effective_parameters == {}


# Encodings and line endings


UNICODE_TEXT = "FROM bob\nPARAMETER param1 1\nSYSTEM 你好👋 utf file.\n"
UNICODE_COMMANDS = [
    Command("from", "bob"),
    Command("parameter", "1", param="param1"),
    Command("system", "你好👋 utf file."),
]


@pytest.mark.parametrize(
    "data",
    [
        UNICODE_TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + UNICODE_TEXT.encode("utf-8"),
        codecs.BOM_UTF16_LE + UNICODE_TEXT.encode("utf-16-le"),
        codecs.BOM_UTF16_BE + UNICODE_TEXT.encode("utf-16-be"),
    ],
    ids=["utf8", "utf8-bom", "utf16-le", "utf16-be"],
)
def test_bytes_encodings(data: bytes) -> None:
    modelfile = parse(data)
    assert modelfile.commands == UNICODE_COMMANDS
    assert [command.line for command in modelfile.commands] == [1, 2, 3]


def test_invalid_utf8_is_an_error_with_line() -> None:
    error = parse_error(b"FROM foo\nSYSTEM caf\xe9\n")
    assert error.line == 2
    assert "UTF-8" in error.message
    assert error.hint


def test_truncated_utf16_is_an_error() -> None:
    error = parse_error(codecs.BOM_UTF16_LE + "FROM foo\n".encode("utf-16-le") + b"\x00")
    assert "UTF-16-LE" in error.message
    assert error.line == 2


def test_utf16_without_bom_is_read_as_utf8_and_fails() -> None:
    error = parse_error("FROM foo\n".encode("utf-16-le"))
    assert error.message == INVALID_COMMAND


def test_crlf_ends_lines_and_counts_once() -> None:
    modelfile = parse("FROM foo\r\nPARAMETER stop x \r\n\r\nSYSTEM hi\r\n")
    assert modelfile.commands == [
        Command("from", "foo"),
        Command("parameter", "x", param="stop"),
        Command("system", "hi"),
    ]
    assert [command.line for command in modelfile.commands] == [1, 2, 4]


def test_crlf_inside_quoted_value_is_kept_like_ollama() -> None:
    assert parse('SYSTEM """a\r\nb"""\r\n').system == "a\r\nb"


def test_lone_cr_ends_a_line() -> None:
    modelfile = parse("FROM foo\rSYSTEM hi\r")
    assert (modelfile.from_, modelfile.system) == ("foo", "hi")
    assert modelfile.commands[1].line == 2


# Writing


def test_write_formats_every_instruction() -> None:
    modelfile = Modelfile(
        [
            Command("from", "llama3.2"),
            Command("parameter", "0.7", param="temperature"),
            Command("template", "{{ .Prompt }}\n"),
            Command("system", 'Say "hi"\n'),
            Command("adapter", "./lora.gguf"),
            Command("license", "MIT"),
            Command("message", "Hello there", role="user"),
            Command("requires", "0.14.0"),
            Command("renderer", "r"),
            Command("parser", "p"),
            Command("draft", "./d.gguf"),
        ]
    )
    assert write(modelfile) == (
        "FROM llama3.2\n"
        "PARAMETER temperature 0.7\n"
        'TEMPLATE "{{ .Prompt }}\n"\n'
        'SYSTEM """Say "hi"\n"""\n'
        "ADAPTER ./lora.gguf\n"
        "LICENSE MIT\n"
        "MESSAGE user Hello there\n"
        "REQUIRES 0.14.0\n"
        "RENDERER r\n"
        "PARSER p\n"
        "DRAFT ./d.gguf\n"
    )


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("foo", "foo"),
        ("a b", "a b"),
        ('say "hi"', 'say "hi"'),
        ("# not a comment", "# not a comment"),
        ("'single'", "'single'"),
        (" lead", '" lead"'),
        ("trail ", '"trail "'),
        ("a\nb", '"a\nb"'),
        ('a "b"\n', '"""a "b"\n"""'),
    ],
)
def test_quote_matches_ollama_where_ollama_round_trips(value: str, written: str) -> None:
    assert quote(value) == written


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("", '""'),
        ('"quoted"', TQ + '"quoted"' + TQ),
        ('"', TQ + '"' + TQ),
        ("\tx", '"\tx"'),
        ("x\t", '"x\t"'),
        ("a\rb", '"a\rb"'),
        (TQ, TQ * 3),
        (f"\n{TQ}x", f"{TQ}\n{TQ}x{TQ}"),
    ],
)
def test_quote_fixes_values_ollama_would_corrupt(value: str, written: str) -> None:
    assert quote(value) == written
    assert parse(f"SYSTEM {written}\n").system == value


@pytest.mark.parametrize("value", ['x"""\ny', '"""\n', 'a """  \r\nb', '"""\n\nz'])
def test_quote_rejects_a_line_ending_in_triple_quote(value: str) -> None:
    with pytest.raises(ModelfileError, match='ends in """ before a line break') as info:
        quote(value)
    assert info.value.hint


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\u200b", "\xa0", "\ufeff"])
def test_quote_rejects_non_printable(char: str) -> None:
    with pytest.raises(ModelfileError, match=f"U\\+{ord(char):04X}"):
        quote(f"a{char}b")


def test_write_error_names_command_line_and_source() -> None:
    modelfile = Modelfile([Command("system", 'a"""\nb', line=7)], source="pkg/Modelfile")
    with pytest.raises(ModelfileError) as info:
        write(modelfile)
    assert info.value.line == 7
    assert str(info.value).startswith("pkg/Modelfile:7: cannot write SYSTEM: a value with a line")
    assert info.value.hint


@pytest.mark.parametrize("name", ["", "top-k", "a b", "é"])
def test_write_rejects_invalid_parameter_names(name: str) -> None:
    with pytest.raises(ModelfileError, match="is not a parameter name"):
        write(Modelfile([Command("parameter", "1", param=name, line=2)]))


@pytest.mark.parametrize("role", ["User", "tool", ""])
def test_write_rejects_invalid_roles(role: str) -> None:
    with pytest.raises(ModelfileError, match="message role must be one of"):
        write(Modelfile([Command("message", "hi", role=role)]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Command("model", "x"),
        lambda: Command("FROM", "x"),
        lambda: Command("system", "x", param="p"),
        lambda: Command("parameter", "x"),
        lambda: Command("message", "x"),
        lambda: Command("parameter", "x", param="p", role="user"),
    ],
)
def test_command_rejects_impossible_shapes(make: Callable[[], Command]) -> None:
    with pytest.raises(ValueError):
        make()


def test_line_is_not_part_of_equality() -> None:
    assert Command("from", "x", line=1) == Command("from", "x", line=9)
    assert Modelfile([Command("from", "x")], source="a") == Modelfile([Command("from", "x")])


GOLDEN = '''FROM foo
ADAPTER adapter1
LICENSE """
Very long and boring legal text.
"Oh look, a quote!"
"""
PARAMETER param1 value1
PARAMETER stop "### User:
"
TEMPLATE template1
MESSAGE system """
You are a store greeter. Always respond with "Hello!".
"""
MESSAGE user Hey there!
SYSTEM ""
'''


def test_write_reproduces_canonical_text() -> None:
    assert write(parse(GOLDEN)) == GOLDEN


# Properties


FRAGMENTS = [
    '"',
    '""',
    '"""',
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "#",
    "'",
    "a",
    "b c",
    ": ",
    "\\n",
    "é",
    "你好",
    "👋",
]
UNPRINTABLE = ["\x00", "\x0b", "\u200b", "\xa0", "\u2028"]
PLAIN = [name for name in INSTRUCTIONS if name not in ("parameter", "message")]


PRINTABLE_CHARS = st.characters(
    codec="utf-8", exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"]
)
"""Go's strconv.IsPrint set (letters, marks, numbers, punctuation, symbols), space excluded."""


def values(fragments: list[str], *, printable: bool = False) -> st.SearchStrategy[str]:
    """Short texts built mostly from the characters the grammar cares about."""
    chars = PRINTABLE_CHARS if printable else st.characters(codec="utf-8")
    return st.lists(st.one_of(st.sampled_from(fragments), chars), max_size=10).map("".join)


def commands(
    value: st.SearchStrategy[str],
    param_name: st.SearchStrategy[str],
    role: st.SearchStrategy[str],
) -> st.SearchStrategy[Command]:
    return st.one_of(
        st.builds(Command, st.sampled_from(PLAIN), value),
        st.builds(lambda p, v: Command("parameter", v, param=p), param_name, value),
        st.builds(lambda r, v: Command("message", v, role=r), role, value),
    )


VALID_PARAM = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
VALID_ROLE = st.sampled_from(["system", "user", "assistant"])
ANY_COMMANDS = st.lists(
    commands(
        values(FRAGMENTS + UNPRINTABLE),
        st.one_of(VALID_PARAM, st.text(max_size=4)),
        st.one_of(VALID_ROLE, st.sampled_from(["User", "", "tool"])),
    ),
    max_size=6,
)
PROPERTY = settings(max_examples=fuzz_examples(150), deadline=None, database=None)


def expected_lines(modelfile: Modelfile) -> list[int]:
    """Where each command of `write(modelfile)` starts, counted independently of the parser."""
    lines: list[int] = []
    line = 1
    for command in modelfile.commands:
        lines.append(line)
        text = write(Modelfile([command]))
        line += text.count("\n") + text.count("\r") - text.count("\r\n")
    return lines


def assert_round_trip(modelfile: Modelfile) -> None:
    reparsed = parse(write(modelfile))
    assert reparsed == modelfile
    assert [command.line for command in reparsed.commands] == expected_lines(modelfile)


@PROPERTY
@given(ANY_COMMANDS)
def test_write_round_trips_or_raises(items: list[Command]) -> None:
    modelfile = Modelfile(items)
    try:
        text = write(modelfile)
    except ModelfileError as error:
        assert error.message.startswith("cannot write")
        assert error.hint
        return
    assert parse(text) == modelfile


@PROPERTY
@given(
    st.lists(
        commands(
            values(FRAGMENTS, printable=True).filter(lambda v: TQ not in v),
            VALID_PARAM,
            VALID_ROLE,
        ),
        max_size=6,
    )
)
def test_representable_modelfiles_never_raise(items: list[Command]) -> None:
    assert_round_trip(Modelfile(items))


@PROPERTY
@given(values(FRAGMENTS, printable=True).map(lambda v: v.replace("\r", "").replace("\n", "")))
def test_single_line_values_are_always_representable(value: str) -> None:
    assert_round_trip(Modelfile([Command("system", value), Command("from", value)]))


@PROPERTY
@given(values(FRAGMENTS + UNPRINTABLE))
def test_quote_reads_back_or_raises(value: str) -> None:
    try:
        written = quote(value)
    except ModelfileError:
        return
    assert parse(f"MESSAGE user {written}\n").messages == [Message("user", value)]


KEYWORD_SOUP = FRAGMENTS + UNPRINTABLE + ["FROM ", "PARAMETER ", "MESSAGE ", "user ", "from", "#"]


@settings(
    max_examples=fuzz_examples(300),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(values(KEYWORD_SOUP), st.binary(max_size=40)))
def test_parse_fails_only_with_modelfile_error(text: str | bytes) -> None:
    try:
        modelfile = parse(text, source="fuzz")
    except ModelfileError as error:
        assert error.source == "fuzz"
        assert error.line is not None
        assert error.hint
        return
    assert all(command.line is not None for command in modelfile.commands)
