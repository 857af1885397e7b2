"""Go `text/template` parsing, to reject what Ollama's `template.Parse` would reject.

Ollama parses a TEMPLATE with Go's text/template plus its own functions and answers a bad one
with `400 template error: template: :LINE: MESSAGE` at create time, after the upload. This module
parses the same language into a small tree, with Go's error messages and line numbers, so lint
can say so before anything reaches a server (and the parity check can render the tree later).

Covered: text and actions with trim markers (`{{- `, ` -}}`), comments, pipelines with
declarations, fields, variables (scoped as Go scopes them), literals checked as strconv checks
them, parenthesised pipelines, field chains (`$x.A`, `(p).A`) told apart from separate
arguments (`$x .A`) by the blank between them as Go's lexer does, function calls checked
against the builtins and the functions of the target Ollama version, and the control actions
if/else if/with/range/else/end/break/continue/define/block/template.
Not covered: evaluation (that is exec-time in Go too; see goexec).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from modelpack.core.gotmpl.strconv import (
    GoParseError,
    parse_float,
    parse_int,
    parse_uint,
    special_float,
)
from modelpack.core.versions import OllamaVersion

# text/template's builtins (Go's text/template/funcs.go).
GO_BUILTINS = frozenset(
    [
        "and",
        "call",
        "html",
        "index",
        "slice",
        "js",
        "len",
        "not",
        "or",
        "print",
        "printf",
        "println",
        "urlquery",
        "eq",
        "ge",
        "gt",
        "le",
        "lt",
        "ne",
    ]
)

# Ollama's template.FuncMap, by the first release that has each (template/template.go at tags).
OLLAMA_FUNCTIONS_SINCE: dict[str, OllamaVersion] = {
    "json": OllamaVersion(0, 2, 6),
    "currentDate": OllamaVersion(0, 11, 0),
    "toTypeScriptType": OllamaVersion(0, 11, 3),
    "yesterdayDate": OllamaVersion(0, 13, 3),
}

# Term kinds that cannot start a later pipeline stage or carry a field chain (Go's bool, dot,
# nil, number and string nodes).
_LITERALS = frozenset({"bool", "dot", "nil", "number", "complex", "string", "rawstring", "char"})

KEYWORDS = frozenset(
    [
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "block",
        "break",
        "continue",
        "nil",
        "true",
        "false",
    ]
)


# Go's text/template/parse caps parenthesised pipelines at 10,000 levels ("max expression depth
# exceeded": `maxStackDepth` in parse.go, checked in Tree.term; golang/go#71201, CL 671755,
# Go 1.25). Control blocks have no cap there. Ollama is built with the Go its go.mod names
# (the Dockerfile and release workflow read it): 1.24 up to v0.23.0 (the real 0.9.3 accepts
# 100,000 nested parentheses), 1.26.0 from v0.23.1.
GO_MAX_PAREN_DEPTH = 10_000
PAREN_DEPTH_SINCE = OllamaVersion(0, 23, 1)


def max_paren_depth(version: OllamaVersion) -> int | None:
    """How deep Ollama `version` lets parentheses nest in a TEMPLATE (None: no limit)."""
    return GO_MAX_PAREN_DEPTH if version.release >= PAREN_DEPTH_SINCE else None


def ollama_functions(version: OllamaVersion) -> frozenset[str]:
    """The function names a TEMPLATE can call on the given Ollama version."""
    release = version.release
    extra = {name for name, since in OLLAMA_FUNCTIONS_SINCE.items() if release >= since}
    return GO_BUILTINS | extra


class TemplateSyntaxError(ValueError):
    """A template Go would refuse to parse; `line` is 1-based within the template."""

    def __init__(self, message: str, line: int, *, detail: str | None = None) -> None:
        super().__init__(f"template: :{line}: {message}")
        self.message = message
        self.line = line
        self.detail = detail
        """What Go's message leaves out, e.g. which block an `unexpected EOF` left open."""


# -- tree --------------------------------------------------------------------------------------


@dataclass
class Operand:
    """One argument of a command.

    kind is field, variable, dot, nil, bool, number, complex, char, string, rawstring, func
    or pipe; value is the field's names, the variable's name, the literal's text, the
    function's name or the Pipeline. chain holds the fields written right after a variable,
    function or parenthesised pipeline (`$x.A`, `(p).A`: Go's VariableNode and ChainNode); a
    field's own chain is part of its value (`.A.B`). `$x .A`, with a blank, is two operands.
    """

    kind: str
    value: object
    chain: tuple[str, ...] = ()


@dataclass
class Pipeline:
    decl: tuple[str, ...]
    commands: list[list[Operand]]
    line: int
    is_assign: bool = False
    """`$x = v` (rebind a visible $x) rather than `$x := v` (declare in this scope)."""


@dataclass
class Node:
    """text, action, if, with, range, template, define, block, break, continue."""

    kind: str
    line: int
    text: str = ""
    pipe: Pipeline | None = None
    name: str = ""
    body: list[Node] = field(default_factory=list)
    else_body: list[Node] = field(default_factory=list)


# -- lexing actions ----------------------------------------------------------------------------
#
# A port of Go's lexInsideAction, run on the template source from just inside `{{` to its
# `}}`. Runs of blanks are tokens ("space"), as Go's itemSpace, because they carry meaning:
# `$x.Y` is one operand (a field chain on $x) where `$x .Y` is two, and `(p).Y` is a chain
# where `(p) .Y` is two arguments. A lexical error ends the action's tokens as an "error"
# token, which the parser reports when it reaches it, so an earlier syntax error wins as it
# does in Go.

_SPACE = frozenset(" \t\r\n")
# Go's atTerminator: what may follow an identifier, field or variable without a blank (the
# right delimiter `}}` too).
_TERMINATORS = _SPACE | frozenset(".,|:()")
# Keywords as Go's lexer emits them (`true`/`false` are bools and `nil` a term, so they are
# not control words; Go names each of these `<word>` in messages).
_CONTROL = KEYWORDS - {"nil", "true", "false"}
_ITEM_KEYWORDS = _CONTROL | {"nil"}
# What can start a command (Go's pipeline: the items that begin a term).
_TERM_KINDS = frozenset(
    {"dot", "field", "variable", "number", "complex", "char", "string", "rawstring", "lparen"}
)
_STRING_TOKEN = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"')
_CHAR_TOKEN = re.compile(r"'(?:[^'\\\n]|\\[^\n])*'")


@dataclass(frozen=True)
class _Tok:
    """kind: space, field, variable, dot, ident, number, complex, char, string, rawstring,
    declare, assign, pipe, lparen, rparen, comma, bad (another printable ASCII character), and
    last rdelim (`}}`) or error (a lexer error, `text` its message). line: where it starts."""

    kind: str
    text: str
    line: int


class _LexError(Exception):
    pass


def _alnum(char: str) -> bool:
    """Go's isAlphaNumeric: underscore, a Unicode letter or a decimal digit."""
    return char == "_" or char.isalpha() or char.isdecimal()


def _rune(char: str) -> str:
    """fmt's %#U, e.g. `U+0023 '#'`."""
    code = f"U+{ord(char):04X}"
    return f"{code} '{char}'" if char.isprintable() else code


def _at_close(source: str, pos: int) -> int:
    """The length of the right delimiter at pos: 4 for ` -}}` (trim marker), 2 for `}}`."""
    if source[pos : pos + 1] in _SPACE and source.startswith("-}}", pos + 1):
        return 4
    return 2 if source.startswith("}}", pos) else 0


def _lex_action(source: str, pos: int, line: int) -> tuple[list[_Tok], int, bool]:
    """The tokens of the action whose text starts at source[pos], ending with an rdelim or an
    error token; where the action ends (past its `}}`; -1 after an error); whether it ended
    with a trim marker."""
    tokens: list[_Tok] = []
    depth = 0
    while True:
        close = _at_close(source, pos)
        if close:
            if depth:
                return [*tokens, _Tok("error", "unclosed left paren", line)], -1, False
            line += close == 4 and source[pos] == "\n"  # Go skips the trim marker first
            return [*tokens, _Tok("rdelim", "}}", line)], pos + close, close == 4
        if pos >= len(source):
            return [*tokens, _Tok("error", "unclosed action", line)], -1, False
        if source[pos] in _SPACE:
            kind, stop = "space", pos + 1
            while stop < len(source) and source[stop] in _SPACE and _at_close(source, stop) != 4:
                stop += 1
        else:
            try:
                kind, stop = _scan(source, pos)
            except _LexError as exc:
                return [*tokens, _Tok("error", str(exc), line)], -1, False
            depth += {"lparen": 1, "rparen": -1}.get(kind, 0)
            if depth < 0:
                return [*tokens, _Tok("error", "unexpected right paren", line)], -1, False
        text = source[pos:stop]
        tokens.append(_Tok(kind, text, line))
        line += text.count("\n")
        pos = stop


def _scan(source: str, pos: int) -> tuple[str, int]:
    """The kind and end of the token that starts at source[pos] (not a blank)."""
    char = source[pos]
    after = source[pos + 1 : pos + 2]
    simple = {"=": "assign", "|": "pipe", "(": "lparen", ")": "rparen", ",": "comma"}
    if char in simple:
        return simple[char], pos + 1
    if char == ":":
        if after != "=":
            raise _LexError("expected :=")
        return "declare", pos + 2
    if char == "`":
        stop = source.find("`", pos + 1)
        if stop < 0:
            raise _LexError("unterminated raw quoted string")
        return "rawstring", stop + 1
    if char in "\"'":
        pattern, kind = (_STRING_TOKEN, "string") if char == '"' else (_CHAR_TOKEN, "char")
        match = pattern.match(source, pos)
        if match is None:
            raise _LexError(_UNTERMINATED[char])
        return kind, match.end()
    if char == "$":
        return "variable", _word_end(source, pos + 1)
    if char == "." and not "0" <= after <= "9":
        stop = _word_end(source, pos + 1)
        return ("dot" if stop == pos + 1 else "field"), stop
    if char in "+-." or "0" <= char <= "9":
        return _scan_number(source, pos)
    if _alnum(char):
        return "ident", _word_end(source, pos)
    if char.isascii() and char.isprintable():
        return "bad", pos + 1
    raise _LexError(f"unrecognized character in action: {_rune(char)}")


def _word_end(source: str, pos: int) -> int:
    """Go's lexFieldOrVariable: a run of letters and digits, then it must be at a terminator."""
    while pos < len(source) and _alnum(source[pos]):
        pos += 1
    at_end = pos >= len(source) or source.startswith("}}", pos)
    if not at_end and source[pos] not in _TERMINATORS:
        raise _LexError(f"bad character {_rune(source[pos])}")
    return pos


def _scan_number(body: str, pos: int) -> tuple[str, int]:
    """Go's lexNumber: a number (strconv checks it later, in the parser) or a complex `1+2i`."""
    ok, stop = _scan_number_part(body, pos)
    if ok and body[stop : stop + 1] in {"+", "-"}:
        ok, stop = _scan_number_part(body, stop)
        if not ok or body[stop - 1] != "i":
            raise _LexError(f"bad number syntax: {go_quote(body[pos:stop])}")
        return "complex", stop
    if not ok:
        raise _LexError(f"bad number syntax: {go_quote(body[pos:stop])}")
    return "number", stop


def _scan_number_part(body: str, pos: int) -> tuple[bool, int]:
    """Go's scanNumber: (whether no letter or digit follows, where it stopped)."""

    def accept(i: int, chars: str) -> int:
        return i + 1 if i < len(body) and body[i] in chars else i

    def accept_run(i: int, chars: str) -> int:
        while i < len(body) and body[i] in chars:
            i += 1
        return i

    i = accept(pos, "+-")
    digits = "0123456789_"
    if accept(i, "0") > i:
        i += 1
        for prefix, run in (("xX", "0123456789abcdefABCDEF_"), ("oO", "01234567_"), ("bB", "01_")):
            if accept(i, prefix) > i:
                i, digits = i + 1, run
                break
    i = accept_run(i, digits)
    if accept(i, ".") > i:
        i = accept_run(i + 1, digits)
    if len(digits) == 11 and accept(i, "eE") > i:
        i = accept_run(accept(i + 1, "+-"), "0123456789_")
    if len(digits) == 23 and accept(i, "pP") > i:
        i = accept_run(accept(i + 1, "+-"), "0123456789_")
    i = accept(i, "i")
    if i < len(body) and _alnum(body[i]):
        return False, i + 1
    return True, i


def go_quote(text: str) -> str:
    """strconv.Quote: Go's double-quoted form (what `%q` and `printf "%q"` print)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SHORT_ESCAPES["\v"] = "\\v"


def _go_item(tok: _Tok) -> str:
    """Go's item.String(): a lexer error's message, <keyword>, or the text %q-quoted (cut to
    ten characters when longer)."""
    if tok.kind == "error":
        return tok.text
    if tok.kind == "dot" or (tok.kind == "ident" and tok.text in _ITEM_KEYWORDS):
        return f"<{tok.text}>"
    if len(tok.text.encode()) > 10:
        return go_quote(tok.text[:10]) + "..."
    return go_quote(tok.text)


# -- literals, as strconv reads them -----------------------------------------------------------

_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92}


def _unquote_char(text: str, quote: str) -> tuple[int, bool, str] | None:
    """strconv.UnquoteChar: (code, whether it is a raw byte, the rest), None if invalid."""
    if not text or text[0] == quote:
        return None
    if text[0] != "\\":
        return ord(text[0]), False, text[1:]
    if len(text) < 2:
        return None
    escape, rest = text[1], text[2:]
    if escape in _ESCAPES:
        return _ESCAPES[escape], False, rest
    if escape in "xuU":
        size = {"x": 2, "u": 4, "U": 8}[escape]
        digits = rest[:size]
        if len(digits) < size or any(c not in "0123456789abcdefABCDEF" for c in digits):
            return None
        code = int(digits, 16)
        if escape != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
            return None
        return code, escape == "x", rest[size:]
    if "0" <= escape <= "7":
        digits = escape + rest[:2]
        if len(digits) < 3 or any(not "0" <= c <= "7" for c in digits) or int(digits, 8) > 255:
            return None
        return int(digits, 8), True, rest[2:]
    if escape in "'\"" and escape == quote:
        return ord(escape), False, rest
    return None


def go_unquote_literal(text: str) -> str | None:
    """strconv.Unquote of a string token (`"..."` or a raw string); None if Go rejects it."""
    if text.startswith("`"):
        return text[1:-1].replace("\r", "")
    raw = bytearray()
    rest = text[1:-1]
    while rest:
        step = _unquote_char(rest, '"')
        if step is None:
            return None
        code, is_byte, rest = step
        raw += bytes([code]) if is_byte else chr(code).encode()
    return raw.decode(errors="replace")


def go_char(text: str) -> int:
    """A character constant's code (Go's newNumber); ValueError with Go's message if bad."""
    step = _unquote_char(text[1:], "'")
    if step is None:
        raise ValueError("invalid syntax")
    if step[2] != "'":
        raise ValueError(f"malformed character constant: {text}")
    return step[0]


def go_number(text: str, kind: str = "number") -> int | float | complex:
    """A number literal's value as text/template has it: parse's newNumber picks what the text
    can be, exec's idealConstant an int unless the text looks like a float (.eEpP, not hex).

    ValueError with Go's parse message if Go rejects the literal. An int outside int64 is
    returned as is: Go parses it but `overflows int` when it is executed.
    """
    if kind == "complex":  # fmt.Sscan reads the two parts with strconv.ParseFloat
        _, split = _scan_number_part(text, 0)
        parts: list[float] = []
        for part in (text[:split], text[split:-1]):
            value = _parse_float(part)
            if value is None:
                raise ValueError(f"strconv.ParseFloat: parsing {go_quote(part)}: invalid syntax")
            parts.append(value)
        return complex(parts[0], parts[1])
    if text.endswith("i"):
        imaginary = _parse_float(text[:-1])
        if imaginary is not None:
            return complex(0, imaginary)
    signed, unsigned = _parse_int(text), _parse_uint(text)
    as_float = None
    if signed is None and unsigned is None:
        as_float = _parse_float(text)
        if as_float is None:
            raise ValueError(f"illegal number syntax: {go_quote(text)}")
        if not any(c in text for c in ".eEpP"):
            raise ValueError(f"integer overflow: {go_quote(text)}")
    hex_int = text[:2] in {"0x", "0X"} and len(text) > 2 and not any(c in text for c in "pP")
    if any(c in text for c in ".eEpP") and not hex_int:
        if as_float is not None:
            return as_float
        return float(signed if signed is not None else unsigned)  # type: ignore[arg-type]
    if signed is not None:
        return signed
    if unsigned is not None:
        return unsigned
    return as_float  # type: ignore[return-value]


def _parse_uint(text: str) -> int | None:
    """strconv.ParseUint(text, 0, 64); None on a syntax or range error."""
    try:
        return parse_uint(text, 0)
    except GoParseError:
        return None


def _parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64); None on a syntax or range error."""
    try:
        return parse_int(text, 0)
    except GoParseError:
        return None


def _parse_float(text: str) -> float | None:
    """strconv.ParseFloat(text, 64) of number text; None on a syntax or range error.

    Go's lexer never makes a number of `inf` or `nan`, so those spellings are no number here.
    """
    if special_float(text) is not None:
        return None
    try:
        return parse_float(text, 64)
    except GoParseError:
        return None


# -- splitting text and actions ----------------------------------------------------------------


def _items(source: str) -> Iterator[tuple[str, object, int]]:
    """("text", text, line), ("action", tokens, line of its `{{`) and, last, ("error",
    message, line) for a bad comment; trim markers and comments applied; lazily, so that an
    error further on comes after those before it."""
    pos, line = 0, 1
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                yield "text", text, line
            return
        inner_start = start + 2
        trim_left = source.startswith("-", inner_start) and (
            source[inner_start + 1 : inner_start + 2] in _SPACE
        )
        if trim_left:
            text = text.rstrip(" \t\r\n")
            inner_start += 2
        if text:
            yield "text", text, line
        open_line = line + source.count("\n", pos, start)
        line = open_line + source.count("\n", start, inner_start)
        if source.startswith("/*", inner_start):
            end_comment = source.find("*/", inner_start + 2)
            if end_comment < 0:
                yield "error", "unclosed comment", line
                return
            close = _at_close(source, end_comment + 2)
            if not close:
                yield "error", "comment ends before closing delimiter", line
                return
            trim_next = close == 4
            pos = end_comment + 2 + close
            line += source.count("\n", inner_start, pos)
            continue
        tokens, end, trim_next = _lex_action(source, inner_start, line)
        yield "action", tokens, open_line
        if end < 0:
            return  # the parser reports the lexer's error when it gets to it
        line += source.count("\n", inner_start, end)
        pos = end


_UNTERMINATED = {
    '"': "unterminated quoted string",
    "'": "unterminated character constant",
    "`": "unterminated raw quoted string",
}


# -- parsing -----------------------------------------------------------------------------------


def _lex_message(message: str, line: int, action_line: int) -> str:
    """A lexer error as Go's parser words it: where the action it is in started, if that is
    known (Go's actionLine; 0 when not) and another line."""
    if not action_line or line == action_line:
        return message
    extra = f" in action started at :{action_line}"
    return message + (extra.removeprefix(" in action") if message.endswith(" action") else extra)


class _Cursor:
    """One action's tokens, read the way Go's parser reads its lexer's items (blanks included),
    so that an error names the line Go names: that of the furthest token read so far."""

    def __init__(self, tokens: list[_Tok], action_line: int) -> None:
        self.tokens = tokens
        self.pos = 0
        self.furthest = 0
        self.action_line = action_line

    def next(self) -> _Tok:
        index = min(self.pos, len(self.tokens) - 1)
        self.furthest = max(self.furthest, index)
        self.pos += 1
        return self.tokens[index]

    def back(self) -> None:
        self.pos -= 1

    def peek(self) -> _Tok:
        tok = self.next()
        self.back()
        return tok

    def next_non_space(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def peek_non_space(self) -> _Tok:
        tok = self.next_non_space()
        self.back()
        return tok

    def error(self, message: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(message, self.tokens[self.furthest].line)

    def unexpected(self, tok: _Tok, context: str) -> TemplateSyntaxError:
        """Go's Tree.unexpected: a lexer error as itself, anything else `unexpected X in C`."""
        if tok.kind != "error":
            return self.error(f"unexpected {_go_item(tok)} in {context}")
        return self.error(_lex_message(tok.text, tok.line, self.action_line))

    def expect_end(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != "rdelim":
            raise self.unexpected(tok, context)


_R = TypeVar("_R")


def _drive(routine: Generator[Any, Any, _R]) -> _R:
    """Run a parsing routine whose sub-routines it yields (and whose results it is sent back),
    on a list instead of Python's stack: parentheses nest as deep as Go allows (10,000, or
    without limit on older Ollama) where plain recursion stops at a few hundred."""
    stack: list[Generator[Any, Any, Any]] = [routine]
    value: Any = None
    while True:
        try:
            sub = stack[-1].send(value)
        except StopIteration as done:
            stack.pop()
            if not stack:
                return cast(_R, done.value)
            value = done.value
            continue
        stack.append(sub)
        value = None


class _Parser:
    def __init__(self, functions: Iterable[str], max_paren_depth: int | None = None) -> None:
        self.functions = frozenset(functions)
        self.max_paren_depth = max_paren_depth
        self.paren_depth = 0
        self.scopes: list[set[str]] = [{"$"}]
        self.outer_scopes: list[list[set[str]]] = []  # those around each define/block body
        # Go's Tree.actionLine: the line of the action being parsed, which stays set through
        # an if/with/range body until an action inside it is done; 0 for none (and `define`).
        self.action_line = 0
        # The line Go names for `unexpected {{else}} in block clause`: the opener's last.
        self.block_lines: dict[int, int] = {}

    def parse(self, source: str) -> list[Node]:
        root: list[Node] = []
        # Each open block: (node, which list we are filling, opening keyword).
        stack: list[tuple[Node, list[Node], str]] = []
        for kind, item, line in _items(source):
            target = stack[-1][1] if stack else root
            if kind == "error":
                assert isinstance(item, str)
                raise TemplateSyntaxError(_lex_message(item, line, self.action_line), line)
            if kind == "text":
                assert isinstance(item, str)
                target.append(Node("text", line, text=item))
                continue
            assert isinstance(item, list)
            head = _Cursor(item, 0).next_non_space()
            word = head.text if head.kind == "ident" and head.text in _CONTROL else ""
            if word == "define" and stack:
                word = ""  # Go takes {{define}} only at the top level: here it is an operand
            self.action_line = 0 if word == "define" else line
            cur = _Cursor(item, self.action_line)
            cur.next_non_space()
            self._action(cur, word, line, target, stack)
            if word not in {"if", "with", "range"}:
                self.action_line = 0  # (Go parses a block's body as a tree of its own)
        if stack:
            opener, _, word = stack[-1]
            # Go reports the line where the input ends; the opener is what a person needs.
            raise TemplateSyntaxError(
                "unexpected EOF",
                1 + source.count("\n"),
                detail=f"the {{{{{word}}}}} on template line {opener.line} has no {{{{end}}}}",
            )
        return root

    def _action(
        self,
        cur: _Cursor,
        word: str,
        line: int,
        target: list[Node],
        stack: list[tuple[Node, list[Node], str]],
    ) -> None:
        """One action whose first word (a keyword, or "" for a plain pipeline) is read."""
        if word in {"if", "with", "range"}:
            self.scopes.append(set())
            node = Node(word, line, pipe=self._pipeline(cur, word))
            target.append(node)
            stack.append((node, node.body, word))
        elif word == "else":
            self._else(cur, line, stack)
        elif word == "end":
            cur.expect_end("end")
            if not stack:
                raise cur.error("unexpected {{end}}")
            self._close(stack)
        elif word in {"define", "block"}:
            clause = f"{word} clause"
            name = self._name(cur, clause)
            pipe = None
            if word == "block":
                pipe = self._pipeline(cur, clause)
            else:
                cur.expect_end(clause)
            node = Node(word, line, name=name, pipe=pipe)
            self.block_lines[id(node)] = cur.tokens[cur.furthest].line
            target.append(node)
            # The body is a template of its own: only `$` is defined in it.
            self.outer_scopes.append(self.scopes)
            self.scopes = [{"$"}]
            stack.append((node, node.body, word))
        elif word == "template":
            name = self._name(cur, "template clause")
            pipe = None
            if cur.next_non_space().kind != "rdelim":
                cur.back()
                pipe = self._pipeline(cur, "template clause")
            target.append(Node("template", line, name=name, pipe=pipe))
        elif word in {"break", "continue"}:
            cur.expect_end(f"{{{{{word}}}}}")
            if not _in_range(stack):
                raise cur.error(f"{{{{{word}}}}} outside {{{{range}}}}")
            target.append(Node(word, line))
        else:
            cur.back()
            target.append(Node("action", line, pipe=self._pipeline(cur, "command")))

    def _else(self, cur: _Cursor, line: int, stack: list[tuple[Node, list[Node], str]]) -> None:
        chained = cur.peek_non_space()
        is_chain = chained.kind == "ident" and chained.text in {"if", "with"}
        if not is_chain:
            cur.expect_end("else")
        if stack and stack[-1][2] in {"define", "block"}:
            message = f"unexpected {{{{else}}}} in {stack[-1][2]} clause"
            if stack[-1][2] == "block":  # raised by the tree that parsed the {{block}} action
                raise TemplateSyntaxError(message, self.block_lines[id(stack[-1][0])])
            raise cur.error(message)
        if not stack:
            raise cur.error("unexpected {{else}}")
        node, filling, opened = stack[-1]
        if filling is node.else_body:
            raise cur.error("expected end; found {{else}}")
        if is_chain:
            if chained.text != opened:
                raise cur.error(f"unexpected {_go_item(chained)} in input")
            cur.next_non_space()
            # {{else if p}} is {{else}}{{if p}}...{{end}} sharing the outer {{end}}. Go parses
            # that `if` after the `else` action is done, so with no action line.
            cur.action_line = 0
            inner = Node(opened, line, pipe=self._pipeline(cur, opened))
            node.else_body.append(inner)
            stack[-1] = (inner, inner.body, opened)
            return
        stack[-1] = (node, node.else_body, opened)

    def _close(self, stack: list[tuple[Node, list[Node], str]]) -> None:
        _, _, opened = stack.pop()
        if opened in {"define", "block"}:
            self.scopes = self.outer_scopes.pop()
        else:
            self.scopes.pop()

    def _name(self, cur: _Cursor, context: str) -> str:
        """Go's parseTemplateName: a quoted string."""
        tok = cur.next_non_space()
        if tok.kind not in {"string", "rawstring"}:
            raise cur.unexpected(tok, context)
        name = go_unquote_literal(tok.text)
        if name is None:
            raise cur.error("invalid syntax")
        return name

    def _pipeline(self, cur: _Cursor, context: str, end: str = "rdelim") -> Pipeline:
        return _drive(self._pipeline_steps(cur, context, end))

    def _pipeline_steps(
        self, cur: _Cursor, context: str, end: str = "rdelim"
    ) -> Generator[Any, Any, Pipeline]:
        """Go's Tree.pipeline: declarations, then commands separated by `|`, up to `end`.
        (This and the three below yield the routine they call; see `_drive`.)"""
        line = cur.peek_non_space().line
        decl: list[str] = []
        is_assign = False
        while (variable := cur.peek_non_space()).kind == "variable":
            start = cur.pos
            cur.next()
            after = cur.peek_non_space()
            if after.kind in {"declare", "assign"}:
                # Go declares the name for `=` too; an unknown one fails only when executed.
                is_assign = after.kind == "assign"
                cur.next_non_space()
                decl.append(variable.text)
                self.scopes[-1].add(variable.text)
            elif after.kind == "comma":
                cur.next_non_space()
                decl.append(variable.text)
                self.scopes[-1].add(variable.text)
                if context == "range" and len(decl) < 2:
                    if cur.peek_non_space().kind in {"variable", "rdelim", "rparen"}:
                        continue  # the element variable of `range $i, $e := ...`
                    raise cur.error("range can only initialize variables")
                raise cur.error(f"too many declarations in {context}")
            else:
                cur.pos = start  # an operand, not a declaration
            break
        commands: list[list[Operand]] = []
        while True:
            tok = cur.next_non_space()
            if tok.kind == end:
                break
            if tok.kind in _TERM_KINDS or (tok.kind == "ident" and tok.text not in _CONTROL):
                cur.back()
                commands.append((yield self._command_steps(cur)))
                continue
            raise cur.unexpected(tok, context)
        if not commands:
            raise cur.error(f"missing value for {context}")
        for stage, command in enumerate(commands[1:], start=2):
            if command[0].kind in _LITERALS:
                raise cur.error(f"non executable command in pipeline stage {stage}")
        return Pipeline(tuple(decl), commands, line, is_assign)

    def _command_steps(self, cur: _Cursor) -> Generator[Any, Any, list[Operand]]:
        """Go's Tree.command: operands separated by blanks, up to `|`, `)` or `}}`."""
        operands: list[Operand] = []
        while True:
            cur.peek_non_space()
            operand = yield self._operand_steps(cur)
            if operand is not None:
                operands.append(operand)
            tok = cur.next()
            if tok.kind == "space":
                continue
            if tok.kind in {"rdelim", "rparen"}:
                cur.back()
            elif tok.kind != "pipe":
                raise cur.unexpected(tok, "operand")
            return operands

    def _operand_steps(self, cur: _Cursor) -> Generator[Any, Any, Operand | None]:
        """Go's Tree.operand: a term, then the fields written right after it (no blank)."""
        term: tuple[Operand, _Tok] | None = yield self._term_steps(cur)
        if term is None:
            return None
        operand, tok = term
        chain: list[str] = []
        while cur.peek().kind == "field":
            chain.append(cur.next().text[1:])
        if not chain:
            return operand
        if operand.kind == "field":
            names = cast(tuple[str, ...], operand.value)
            return Operand("field", (*names, *chain))
        if operand.kind in _LITERALS:
            raise cur.error(f"unexpected . after term {go_quote(tok.text)}")
        # A variable's fields, or Go's ChainNode on a function or a parenthesised pipeline.
        return Operand(operand.kind, operand.value, tuple(chain))

    def _term_steps(self, cur: _Cursor) -> Generator[Any, Any, tuple[Operand, _Tok] | None]:
        """Go's Tree.term: one literal, function, dot, field, variable or `(pipeline)`."""
        tok = cur.next_non_space()
        kind, text = tok.kind, tok.text
        if kind == "ident" and text in {"true", "false"}:
            operand = Operand("bool", text == "true")
        elif kind == "ident" and text == "nil":
            operand = Operand("nil", None)
        elif kind == "ident" and text not in _CONTROL:
            if text not in self.functions:
                raise cur.error(f"function {go_quote(text)} not defined")
            operand = Operand("func", text)
        elif kind == "dot":
            operand = Operand("dot", None)
        elif kind == "variable":
            if not any(text in scope for scope in self.scopes):
                raise cur.error(f"undefined variable {go_quote(text)}")
            operand = Operand("variable", text)
        elif kind == "field":
            operand = Operand("field", (text[1:],))
        elif kind == "lparen":
            if self.max_paren_depth is not None and self.paren_depth >= self.max_paren_depth:
                raise cur.error("max expression depth exceeded")
            self.paren_depth += 1
            pipe = yield self._pipeline_steps(cur, "parenthesized pipeline", "rparen")
            self.paren_depth -= 1
            operand = Operand("pipe", pipe)
        elif kind in {"char", "number", "complex", "string", "rawstring"}:
            try:
                _check_literal(tok)
            except ValueError as exc:
                raise cur.error(str(exc)) from None
            operand = Operand(kind, text)
        else:
            cur.back()
            return None
        return operand, tok


def _in_range(stack: list[tuple[Node, list[Node], str]]) -> bool:
    """Whether break/continue may go here: in a range's body (not its else), and not in a
    define or block body in between (Go parses those as trees of their own)."""
    for node, filling, opened in reversed(stack):
        if opened == "range" and filling is node.body:
            return True
        if opened in {"define", "block"}:
            return False
    return False


def _check_literal(tok: _Tok) -> None:
    """ValueError with Go's message if strconv rejects the literal (parse's newNumber and
    strconv.Unquote)."""
    if tok.kind == "char":
        go_char(tok.text)
    elif tok.kind in {"number", "complex"}:
        go_number(tok.text, tok.kind)
    elif go_unquote_literal(tok.text) is None:
        raise ValueError("invalid syntax")


def parse(
    source: str, *, functions: Iterable[str] = GO_BUILTINS, max_paren_depth: int | None = None
) -> list[Node]:
    """Parse a Go text/template; raise TemplateSyntaxError as Go's parser would. Give the
    target's `max_paren_depth(version)` to refuse the nesting its Go refuses."""
    return _Parser(functions, max_paren_depth).parse(source)


# {{template "x"}} with no argument: Ollama's template.Identifiers reads the nil pipeline of the
# TemplateNode and the server panics at create (seen on 0.9.3 and 0.5.4; nil check in v0.12.4).
TEMPLATE_CALL_CRASH = (OllamaVersion(0, 2, 2), OllamaVersion(0, 12, 4))


def walk(nodes: Iterable[Node]) -> Iterator[Node]:
    """Every node of a tree, depth first; without recursion (Go parses any depth of nested
    blocks, and so does `parse`)."""
    pending: list[Iterator[Node]] = [iter(nodes)]
    while pending:
        node = next(pending[-1], None)
        if node is None:
            pending.pop()
            continue
        yield node
        pending.append(iter(node.else_body))
        pending.append(iter(node.body))


def nesting_depth(nodes: Iterable[Node]) -> int:
    """How deep blocks and parenthesised pipelines nest: what evaluating the tree (or any
    recursive walk of it) needs in stack. Counted without recursion."""
    deepest = 0
    pending: list[tuple[Node | Pipeline, int]] = [(node, 1) for node in nodes]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if isinstance(item, Node):
            pending += [(child, depth + 1) for child in (*item.body, *item.else_body)]
            if item.pipe is not None:
                pending.append((item.pipe, depth))
        else:
            for command in item.commands:
                pending += [
                    (operand.value, depth + 1)
                    for operand in command
                    if isinstance(operand.value, Pipeline)
                ]
    return deepest


def crashing_template_calls(nodes: list[Node], version: OllamaVersion) -> list[Node]:
    """The {{template "x"}} calls without an argument that crash the given Ollama version."""
    low, high = TEMPLATE_CALL_CRASH
    if not low <= version.release < high:
        return []
    return [n for n in walk(nodes) if n.kind == "template" and n.pipe is None]
