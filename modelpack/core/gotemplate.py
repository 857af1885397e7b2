"""Go `text/template` parsing, to reject what Ollama's `template.Parse` would reject.

Ollama parses a TEMPLATE with Go's text/template plus its own functions and answers a bad one
with `400 template error: template: :LINE: MESSAGE` at create time, after the upload. This module
parses the same language into a small tree, with Go's error messages and line numbers, so lint
can say so before anything reaches a server (and the parity check can render the tree later).

Covered: text and actions with trim markers (`{{- `, ` -}}`), comments, pipelines with
declarations, fields, variables (scoped as Go scopes them), literals, parenthesised pipelines,
function calls checked against the builtins and the functions of the target Ollama version,
and the control actions if/else if/with/range/else/end/break/continue/define/block/template.
Not covered: evaluation (that is exec-time in Go too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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

_LITERALS = frozenset({"bool", "dot", "nil", "number", "string", "rawstring", "char"})

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
    """One argument of a command: kind is field/variable/dot/nil/bool/number/string/func/pipe."""

    kind: str
    value: object
    chain: tuple[str, ...] = ()


@dataclass
class Pipeline:
    decl: tuple[str, ...]
    commands: list[list[Operand]]
    line: int


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

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\n]+)
  | (?P<declare>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<rawstring>`[^`]*`)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
                  |(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)i?)
  | (?P<field>(?:\.[A-Za-z_]\w*)+)
  | (?P<variable>\$\w*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_]\w*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    line: int


def _lex_action(body: str, line: int) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(body):
        match = _TOKEN.match(body, pos)
        kind, text = (match.lastgroup or "", match.group()) if match else ("bad", body[pos])
        if kind == "char" and not _CHAR_CONSTANT.fullmatch(text):
            raise TemplateSyntaxError(f"malformed character constant: {text}", line)
        if kind != "space":
            tokens.append(_Tok(kind, text, line))
        line += text.count("\n")
        pos += len(text)
    return tokens


_CHAR_CONSTANT = re.compile(
    r"'(?:[^'\\]|\\(?:[abfnrtv'\\\"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[0-7]{3}))'"
)


def _go_item(tok: _Tok) -> str:
    """How Go's parser names a token in messages: <keyword>, or the text Go-quoted."""
    if tok.kind == "ident" and tok.text in KEYWORDS - {"nil", "true", "false"}:
        return f"<{tok.text}>"
    return '"' + tok.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- splitting text and actions ----------------------------------------------------------------


def _split(source: str) -> list[tuple[str, str, int]]:
    """[(kind, text, line)] with kind 'text' or 'action'; trim markers and comments applied."""
    items: list[tuple[str, str, int]] = []
    pos, line = 0, 1
    trim_next = False
    while True:
        start = source.find("{{", pos)
        text = source[pos:] if start < 0 else source[pos:start]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if start < 0:
            if text:
                items.append(("text", text, line))
            return items
        inner_start = start + 2
        trim_left = source.startswith("-", inner_start) and (
            inner_start + 1 < len(source) and source[inner_start + 1] in " \t\r\n"
        )
        if trim_left:
            text = text.rstrip(" \t\r\n")
            inner_start += 2
        if text:
            items.append(("text", text, line))
        line += source[pos:inner_start].count("\n")
        rest = source[inner_start:].lstrip(" \t\r\n") if trim_left else source[inner_start:]
        if rest.startswith("/*"):
            end_comment = source.find("*/", inner_start)
            if end_comment < 0:
                raise TemplateSyntaxError("unclosed comment", line)
            after = end_comment + 2
            trim_next = source.startswith(" -}}", after)
            close = after + (4 if trim_next else 0)
            if not trim_next:
                if not source.startswith("}}", after):
                    raise TemplateSyntaxError("comment ends before closing delimiter", line)
                close = after + 2
            line += source[inner_start:close].count("\n")
            pos = close
            continue
        end = _find_close(source, inner_start, line)
        trim_next = end >= 2 and source[end - 1] == "-" and source[end - 2] in " \t\r\n"
        body = source[inner_start : end - 2 if trim_next else end]
        items.append(("action", body, line))
        line += source[inner_start : end + 2].count("\n")
        pos = end + 2


def _find_close(source: str, pos: int, line: int) -> int:
    """Index of the `}}` that closes the action starting at pos (quotes may contain `}}`)."""
    quote: str | None = None
    i = pos
    while i < len(source):
        char = source[i]
        if quote:
            if char == "\\" and quote != "`":
                i += 2
                continue
            if char == quote:
                quote = None
            elif char == "\n" and quote != "`":
                raise TemplateSyntaxError(_UNTERMINATED[quote], line)
        elif char in "\"`'":
            quote = char
        elif source.startswith("}}", i):
            return i
        i += 1
    if quote:
        raise TemplateSyntaxError(_UNTERMINATED[quote], line)
    end_line = line + source.count("\n", pos)
    if end_line == line:
        raise TemplateSyntaxError("unclosed action", line)
    raise TemplateSyntaxError(f"unclosed action started at :{line}", end_line)


_UNTERMINATED = {
    '"': "unterminated quoted string",
    "'": "unterminated character constant",
    "`": "unterminated raw quoted string",
}


# -- parsing -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, functions: Iterable[str]) -> None:
        self.functions = frozenset(functions)
        self.scopes: list[set[str]] = [{"$"}]

    def parse(self, source: str) -> list[Node]:
        root: list[Node] = []
        # Each open block: (node, which list we are filling, opening keyword).
        stack: list[tuple[Node, list[Node], str]] = []
        for kind, text, line in _split(source):
            target = stack[-1][1] if stack else root
            if kind == "text":
                target.append(Node("text", line, text=text))
                continue
            tokens = _lex_action(text, line)
            if not tokens:
                raise TemplateSyntaxError("missing value for command", line)
            head = tokens[0]
            word = head.text if head.kind == "ident" and head.text in KEYWORDS else ""
            if word in {"if", "with", "range"}:
                self.scopes.append(set())
                node = Node(word, line, pipe=self._pipeline(tokens[1:], line, word))
                target.append(node)
                stack.append((node, node.body, word))
            elif word == "else":
                self._else(tokens, line, stack)
            elif word == "end":
                if len(tokens) > 1:
                    raise TemplateSyntaxError(f"unexpected {_go_item(tokens[1])} in end", line)
                if not stack:
                    raise TemplateSyntaxError("unexpected {{end}}", line)
                self._close(stack)
            elif word in {"define", "block"}:
                name = self._name(tokens, line, word)
                pipe = self._pipeline(tokens[2:], line, word) if word == "block" else None
                node = Node(word, line, name=name, pipe=pipe)
                target.append(node)
                self.scopes.append(set())
                stack.append((node, node.body, word))
            elif word == "template":
                name = self._name(tokens, line, word)
                rest = tokens[2:]
                pipe = self._pipeline(rest, line, word) if rest else None
                target.append(Node("template", line, name=name, pipe=pipe))
            elif word in {"break", "continue"}:
                if not any(opened == "range" for _, _, opened in stack):
                    raise TemplateSyntaxError(f"{{{{{word}}}}} outside {{{{range}}}}", line)
                if len(tokens) > 1:
                    raise TemplateSyntaxError(
                        f"unexpected {_go_item(tokens[1])} in {{{{{word}}}}}", line
                    )
                target.append(Node(word, line))
            else:
                target.append(Node("action", line, pipe=self._pipeline(tokens, line, "command")))
        if stack:
            opener, _, word = stack[-1]
            # Go reports the line where the input ends; the opener is what a person needs.
            raise TemplateSyntaxError(
                "unexpected EOF",
                1 + source.count("\n"),
                detail=f"the {{{{{word}}}}} on template line {opener.line} has no {{{{end}}}}",
            )
        return root

    def _else(self, tokens: list[_Tok], line: int, stack: list[tuple[Node, list[Node], str]]):
        if not stack or stack[-1][2] not in {"if", "with", "range"}:
            raise TemplateSyntaxError("unexpected {{else}}", line)
        node, filling, opened = stack[-1]
        if filling is node.else_body:
            raise TemplateSyntaxError("expected end; found {{else}}", line)
        if len(tokens) > 1:
            chained = tokens[1]
            if _go_item(chained) not in {"<if>", "<with>"}:
                raise TemplateSyntaxError(f"unexpected {_go_item(chained)} in else", line)
            if chained.text != opened:
                raise TemplateSyntaxError(f"unexpected {_go_item(chained)} in input", line)
            # {{else if p}} is {{else}}{{if p}}...{{end}} sharing the outer {{end}}.
            inner = Node(opened, line, pipe=self._pipeline(tokens[2:], line, opened))
            node.else_body.append(inner)
            stack[-1] = (inner, inner.body, opened)
            return
        stack[-1] = (node, node.else_body, opened)

    def _close(self, stack: list[tuple[Node, list[Node], str]]) -> None:
        stack.pop()
        self.scopes.pop()

    def _name(self, tokens: list[_Tok], line: int, word: str) -> str:
        if len(tokens) < 2 or tokens[1].kind not in {"string", "rawstring"}:
            raise TemplateSyntaxError(f"unexpected name in {word}: need a quoted string", line)
        return tokens[1].text[1:-1]

    def _pipeline(self, tokens: list[_Tok], line: int, context: str) -> Pipeline:
        if not tokens:
            raise TemplateSyntaxError(f"missing value for {context}", line)
        decl: list[str] = []
        if tokens[0].kind == "variable":
            names = [tokens[0]]
            i = 1
            if context == "range" and len(tokens) > 2 and tokens[1].kind == "comma":
                if tokens[2].kind != "variable":
                    raise TemplateSyntaxError("range can only initialize variables", line)
                names.append(tokens[2])
                i = 3
            if i < len(tokens) and tokens[i].kind in {"declare", "assign"}:
                if tokens[i].kind == "assign":
                    for tok in names:
                        self._check_variable(tok.text, line)
                else:
                    self.scopes[-1].update(tok.text for tok in names)
                decl = [tok.text for tok in names]
                tokens = tokens[i + 1 :]
                if not tokens:
                    raise TemplateSyntaxError(f"missing value for {context}", line)
        commands: list[list[Operand]] = []
        current: list[_Tok] = []
        depth = 0
        for tok in tokens:
            if tok.kind == "pipe" and depth == 0:
                if not current:
                    raise TemplateSyntaxError('unexpected "|" in command', line)
                commands.append(self._command(current, line))
                current = []
                continue
            depth += {"lparen": 1, "rparen": -1}.get(tok.kind, 0)
            if depth < 0:
                raise TemplateSyntaxError("unexpected right paren", line)
            current.append(tok)
        if depth:
            raise TemplateSyntaxError("unclosed left paren", line)
        if current:  # a trailing "|" is allowed, as in Go
            commands.append(self._command(current, line))
        for stage, command in enumerate(commands[1:], start=2):
            if command[0].kind in _LITERALS:
                raise TemplateSyntaxError(f"non executable command in pipeline stage {stage}", line)
        return Pipeline(tuple(decl), commands, line)

    def _command(self, tokens: list[_Tok], line: int) -> list[Operand]:
        operands: list[Operand] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok.kind == "lparen":
                depth, j = 1, i + 1
                while depth:
                    depth += {"lparen": 1, "rparen": -1}.get(tokens[j].kind, 0)
                    j += 1
                operand = Operand("pipe", self._pipeline(tokens[i + 1 : j - 1], line, "command"))
                i = j
            else:
                operand = self._operand(tok, line)
                i += 1
            if i < len(tokens) and tokens[i].kind == "field":
                chain = tuple(tokens[i].text.split(".")[1:])
                operand = Operand(operand.kind, operand.value, chain)
                i += 1
            operands.append(operand)
        return operands

    def _operand(self, tok: _Tok, line: int) -> Operand:
        if tok.kind == "field":
            return Operand("field", tuple(tok.text.split(".")[1:]))
        if tok.kind == "variable":
            name, *chain = tok.text.split(".")
            self._check_variable(name, line)
            return Operand("variable", name, tuple(chain))
        if tok.kind == "dot":
            return Operand("dot", None)
        if tok.kind in {"string", "rawstring", "char", "number"}:
            return Operand(tok.kind, tok.text)
        if tok.kind == "ident":
            if tok.text in {"true", "false"}:
                return Operand("bool", tok.text == "true")
            if tok.text == "nil":
                return Operand("nil", None)
            if tok.text in KEYWORDS:
                raise TemplateSyntaxError(f"unexpected <{tok.text}> in command", line)
            if tok.text not in self.functions:
                raise TemplateSyntaxError(f'function "{tok.text}" not defined', line)
            return Operand("func", tok.text)
        raise TemplateSyntaxError(f"unexpected {_go_item(tok)} in operand", line)

    def _check_variable(self, name: str, line: int) -> None:
        if not any(name in scope for scope in self.scopes):
            raise TemplateSyntaxError(f'undefined variable "{name}"', line)


def parse(source: str, *, functions: Iterable[str] = GO_BUILTINS) -> list[Node]:
    """Parse a Go text/template; raise TemplateSyntaxError as Go's parser would."""
    return _Parser(functions).parse(source)


# {{template "x"}} with no argument: Ollama's template.Identifiers reads the nil pipeline of the
# TemplateNode and the server panics at create (seen on 0.9.3 and 0.5.4; nil check in v0.12.4).
TEMPLATE_CALL_CRASH = (OllamaVersion(0, 2, 2), OllamaVersion(0, 12, 4))


def walk(nodes: Iterable[Node]) -> Iterable[Node]:
    """Every node of a tree, depth first."""
    for node in nodes:
        yield node
        yield from walk(node.body)
        yield from walk(node.else_body)


def crashing_template_calls(nodes: list[Node], version: OllamaVersion) -> list[Node]:
    """The {{template "x"}} calls without an argument that crash the given Ollama version."""
    low, high = TEMPLATE_CALL_CRASH
    if not low <= version.release < high:
        return []
    return [n for n in walk(nodes) if n.kind == "template" and n.pipe is None]
