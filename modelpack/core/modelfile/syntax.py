r"""Read and write Ollama Modelfiles exactly the way Ollama's own parser reads them.

The grammar is the one of Ollama's ``parser/parser.go`` (``ParseFile``, ``parseRuneForState``,
``unquote``, ``quote``, ``Command.String``); see docs/ollama-behaviour.md, "Modelfile grammar".
This module is pure: it looks only at the text or bytes it is given. Below, TQ stands for a
triple quote (three ``"`` characters), which a Python docstring cannot spell.

Parsing follows Ollama rune by rune, quirks included:

* Keywords are case-insensitive; a PARAMETER name keeps its case; a MESSAGE role must be exactly
  ``system``, ``user`` or ``assistant``.
* ``#`` starts a comment only where an instruction could start, so
  ``PARAMETER temperature 0.7 # hi`` has the value ``0.7 # hi``, and ``SYSTEM # hi`` has ``# hi``.
* A value ends at the first line break where the text read so far, trimmed, is no longer an open
  quote: unquoted text, or ``"…"`` / ``TQ…TQ`` closed at the end of a line. Spaces never end a
  value, so ``SYSTEM "a" b`` keeps reading lines until one ends with ``"``. There are no escape
  sequences and single quotes are ordinary characters.
* Runes that are not printable (other than space, tab and line breaks) are dropped. Ollama uses
  Go's ``strconv.IsPrint`` (letters, marks, numbers, punctuation, symbols and U+0020); Python's
  ``str.isprintable`` has the same definition, so the two differ only where their Unicode versions
  differ (a character assigned in a newer version is unprintable to the older one).
* Both ``\r`` and ``\n`` end a line (Go's ``isNewline``), so CRLF and lone-CR files read like LF
  files; inside a quoted value line breaks are kept verbatim, ``\r`` included, as Ollama does.
* ``PARAMETER  temperature 0.7`` (two spaces) gives an empty parameter name and the value
  ``temperature 0.7``; Ollama accepts that here and fails later, so a linter should flag it.
* A missing FROM is not a parse error here (Ollama raises ``no FROM line`` afterwards, in
  ``CreateRequest``); :attr:`Modelfile.from_` is ``None`` and the linter reports it.

Where this module departs from Ollama, deliberately:

* Error line numbers are the line where the failing instruction starts. Ollama counts ``\r`` and
  ``\n`` separately and counts the line break that triggers an error, so it can name a later line.
* Bytes that are not valid UTF-8 (or UTF-16 after a UTF-16 BOM) raise :class:`ModelfileError`;
  Ollama's decoder would silently turn them into U+FFFD.
* MESSAGE values keep the role in :attr:`Command.role` and only the text in :attr:`Command.args`
  (Ollama joins them as ``"role: text"``); FROM is named ``"from"`` (Ollama says ``"model"``).
* Error messages keep Ollama's wording and add a hint that says how to fix the input.

Writing (:func:`write`, :func:`quote`) guarantees ``parse(write(m)) == m``: it picks the first
form that reads back unchanged, otherwise it raises :class:`ModelfileError`; it never emits text
that reads back differently. Ollama's ``quote()`` only looks at ``\n`` and leading/trailing
spaces and writes FROM unquoted, which corrupts some values; the writer therefore:

* writes bare only a non-empty value without line breaks (``\r`` or ``\n``), without leading or
  trailing space or tab, that does not start with ``"``; a leading ``#`` is fine, because a
  comment can only start where an instruction could;
* wraps an empty value as ``""`` (Ollama's bare empty value relies on a trailing space that
  editors strip, which turns the line into an invalid instruction);
* uses ``"…"`` when the value has no ``"`` (nothing can close it early), else ``TQ…TQ`` (the
  parser strips exactly three quotes from each end, so the value may start or end with ``"`` and
  may contain TQ). That fails only for a value with a line that ends in TQ before a line break
  (trailing blanks ignored): the parser ends the value there. Such a line also ends in ``"``, so
  ``"…"`` fails too; no form can carry that value and the writer raises;
* quotes FROM values like every other value;
* allows line breaks in PARAMETER values: ``PARAMETER stop TQ### User:\nTQ`` parses (Ollama's
  ``TestParseFileParameters``);
* raises for non-printable characters (the parser would drop them), for a PARAMETER name that is
  not ``[A-Za-z0-9_]+`` (an empty one included) and for an unknown MESSAGE role.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import NamedTuple

from modelpack.errors import ModelfileError

__all__ = [
    "INSTRUCTIONS",
    "LIST_PARAMETERS",
    "MESSAGE_ROLES",
    "Command",
    "Message",
    "Modelfile",
    "Parameter",
    "decode",
    "format_command",
    "parse",
    "quote",
    "write",
]

INSTRUCTIONS: tuple[str, ...] = (
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "draft",
    "renderer",
    "parser",
    "parameter",
    "message",
    "requires",
)
"""Instruction names in the order Ollama lists them in its error message."""

MESSAGE_ROLES: tuple[str, ...] = ("system", "user", "assistant")

LIST_PARAMETERS: frozenset[str] = frozenset({"stop"})
"""Parameters whose repeated values accumulate (slice-typed options in Ollama's api.Options)."""

_INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
_INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
_UNEXPECTED_EOF = "unexpected EOF"
_KEYWORDS = ", ".join(name.upper() for name in INSTRUCTIONS)

_SPACE = " \t"
_NEWLINE = "\r\n"
_BLANK = " \t\r\n"
"""The only whitespace a value can hold: every other space character is unprintable, so dropped."""

_PARAM_NAME = re.compile(r"[A-Za-z0-9_]+")
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF8, "utf-8"),
)


@dataclass(frozen=True)
class Command:
    """One instruction. `line` is where it starts in the parsed text; it is position metadata, so
    it takes no part in equality and a write/parse round trip compares equal."""

    name: str
    """The lowercased instruction: one of :data:`INSTRUCTIONS`."""
    args: str
    """The value as parsed (unquoted); for MESSAGE only the text, without the role."""
    param: str | None = None
    """PARAMETER only: the parameter name exactly as written (Ollama does not lowercase it)."""
    role: str | None = None
    """MESSAGE only: the role as written."""
    line: int | None = field(default=None, compare=False)
    """1-based line where the instruction starts; None for a command built in code."""
    end_line: int | None = field(default=None, compare=False)
    """1-based line where its value ends (quoted values span lines); lets a fixer edit the
    exact lines of one command and keep comments and blank lines around it."""

    def __post_init__(self) -> None:
        """Reject shapes no Modelfile can have, so the writer never drops a field silently."""
        if self.name not in INSTRUCTIONS:
            raise ValueError(f"unknown Modelfile instruction {self.name!r}")
        if (self.param is not None) != (self.name == "parameter"):
            raise ValueError("a Command has a param exactly when it is a PARAMETER")
        if (self.role is not None) != (self.name == "message"):
            raise ValueError("a Command has a role exactly when it is a MESSAGE")


class Parameter(NamedTuple):
    name: str
    value: str
    line: int | None


class Message(NamedTuple):
    role: str
    content: str


@dataclass
class Modelfile:
    """The instructions in file order, with views that apply Ollama's accumulation rules."""

    commands: list[Command] = field(default_factory=list)
    source: str | None = field(default=None, compare=False)
    """Where the text came from, for error messages; not part of equality."""

    def _values(self, name: str) -> list[str]:
        return [command.args for command in self.commands if command.name == name]

    def _last(self, name: str) -> str | None:
        values = self._values(name)
        return values[-1] if values else None

    @property
    def from_(self) -> str | None:
        """The last FROM (for a model name the last one wins; Ollama merges local files)."""
        return self._last("from")

    @property
    def parameters(self) -> list[Parameter]:
        """Every PARAMETER in order, duplicates kept so a checker can warn about them."""
        return [
            Parameter(command.param, command.args, command.line)
            for command in self.commands
            if command.param is not None
        ]

    @property
    def effective_parameters(self) -> dict[str, str | list[str]]:
        """What Ollama sends: :data:`LIST_PARAMETERS` accumulate, any other name keeps its last."""
        result: dict[str, str | list[str]] = {}
        lists: dict[str, list[str]] = {}
        for parameter in self.parameters:
            if parameter.name in LIST_PARAMETERS:
                result[parameter.name] = lists.setdefault(parameter.name, [])
                lists[parameter.name].append(parameter.value)
            else:
                result[parameter.name] = parameter.value
        return result

    @property
    def template(self) -> str | None:
        return self._last("template")

    @property
    def system(self) -> str | None:
        return self._last("system")

    @property
    def license(self) -> list[str]:
        """LICENSE values accumulate."""
        return self._values("license")

    @property
    def messages(self) -> list[Message]:
        """MESSAGE instructions accumulate, in order."""
        return [
            Message(command.role, command.args)
            for command in self.commands
            if command.role is not None
        ]

    @property
    def adapters(self) -> list[str]:
        """Every ADAPTER in order; Ollama keeps only the last one's files."""
        return self._values("adapter")

    @property
    def requires(self) -> str | None:
        return self._last("requires")

    @property
    def renderer(self) -> str | None:
        return self._last("renderer")

    @property
    def parser(self) -> str | None:
        return self._last("parser")

    @property
    def draft(self) -> str | None:
        """The last DRAFT; see :attr:`drafts` for all of them (Ollama merges their files)."""
        return self._last("draft")

    @property
    def drafts(self) -> list[str]:
        return self._values("draft")


# Parsing


class _State(Enum):
    START = auto()
    """Between instructions: blanks are skipped, `#` opens a comment."""
    COMMENT = auto()
    KEYWORD = auto()
    PARAM_NAME = auto()
    ROLE = auto()
    VALUE = auto()


def _is_letter(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z"


def _is_param_char(char: str) -> bool:
    return _is_letter(char) or "0" <= char <= "9" or char == "_"


def _unquote(text: str) -> str | None:
    """The value of trimmed value text, or None while a quote it opens is not closed."""
    if text.startswith('"""'):
        return text[3:-3] if len(text) >= 6 and text.endswith('"""') else None
    if text.startswith('"'):
        return text[1:-1] if len(text) >= 2 and text.endswith('"') else None
    return text


def _closed_value(chars: list[str]) -> str | None:
    """The value if the text read so far is complete at a line break, else None.

    Cheap on long quoted templates: an opening quote can only close on a line ending in `"`.
    """
    end = len(chars)
    while end and chars[end - 1] in _BLANK:
        end -= 1
    start = 0
    while start < end and chars[start] in _BLANK:
        start += 1
    if start < end and chars[start] == '"' and chars[end - 1] != '"':
        return None
    return _unquote("".join(chars[start:end]))


class _Parser:
    """Ollama's state machine, fed one character at a time."""

    def __init__(self, source: str | None) -> None:
        self.source = source
        self.commands: list[Command] = []
        self.state = _State.START
        self.chars: list[str] = []
        self.line = 1
        self.start_line = 1
        self.name = ""
        self.param: str | None = None
        self.role: str | None = None

    def run(self, text: str) -> Modelfile:
        after_cr = False
        for char in text:
            self.feed(char)
            if char == "\r" or (char == "\n" and not after_cr):
                self.line += 1
            after_cr = char == "\r"
        self.finish()
        return Modelfile(self.commands, source=self.source)

    def error(self, message: str, hint: str) -> ModelfileError:
        return ModelfileError(message, source=self.source, line=self.start_line, hint=hint)

    def feed(self, char: str) -> None:
        state = self.state
        if state is _State.VALUE:
            if char in _NEWLINE:
                value = _closed_value(self.chars)
                if value is not None:
                    self.emit(value)
                    return
                self.chars.append(char)
            elif char in _SPACE or char.isprintable():
                self.chars.append(char)
        elif state is _State.START:
            if char == "#":
                self.state = _State.COMMENT
            elif char not in _BLANK:
                self.state = _State.KEYWORD
                self.start_line = self.line
                self.chars = [char] if char.isprintable() else []
        elif state is _State.COMMENT:
            if char in _NEWLINE:
                self.state = _State.START
        elif state is _State.KEYWORD:
            self.feed_keyword(char)
        elif state is _State.PARAM_NAME:
            self.feed_param_name(char)
        else:
            self.feed_role(char)

    def feed_keyword(self, char: str) -> None:
        if _is_letter(char):
            self.chars.append(char)
            return
        keyword = "".join(self.chars)
        name = keyword.lower()
        if char not in _SPACE:
            if name in INSTRUCTIONS and char in _NEWLINE:
                hint = f"{name.upper()} needs a value on the same line, after a space"
            elif name in INSTRUCTIONS:
                hint = f"put a space between {name.upper()} and its value, not {char!r}"
            else:
                hint = self.unknown_keyword_hint(keyword + (char if char.isprintable() else ""))
            raise self.error(_INVALID_COMMAND, hint)
        if name not in INSTRUCTIONS:
            raise self.error(_INVALID_COMMAND, self.unknown_keyword_hint(keyword))
        self.name = name
        self.param = None
        self.role = None
        self.chars = []
        if name == "parameter":
            self.state = _State.PARAM_NAME
        elif name == "message":
            self.state = _State.ROLE
        else:
            self.state = _State.VALUE

    @staticmethod
    def unknown_keyword_hint(word: str) -> str:
        return f"{word!r} is not an instruction; use one of {_KEYWORDS}, or # for a comment"

    def feed_param_name(self, char: str) -> None:
        if _is_param_char(char):
            self.chars.append(char)
            return
        name = "".join(self.chars)
        if char not in _SPACE:
            if char in _NEWLINE:
                hint = f"give PARAMETER {name or '<name>'} a value on the same line"
            else:
                hint = f"a parameter name has only letters, digits and _, not {char!r}"
            raise self.error(f"{_UNEXPECTED_EOF}: {name}", hint)
        self.param = name
        self.chars = []
        self.state = _State.VALUE

    def feed_role(self, char: str) -> None:
        if _is_letter(char):
            self.chars.append(char)
            return
        role = "".join(self.chars)
        if char not in _SPACE:
            if char in _NEWLINE:
                hint = f"MESSAGE {role or '<role>'} needs its text on the same line"
            else:
                hint = f"a role is followed by a space and the text, not {char!r}"
            raise self.error(f"{_UNEXPECTED_EOF}: {role}", hint)
        if role not in MESSAGE_ROLES:
            raise self.error(
                _INVALID_ROLE, f"got {role!r}; roles are lowercase, e.g. MESSAGE user Hi"
            )
        self.role = role
        self.chars = []
        self.state = _State.VALUE

    def emit(self, value: str) -> None:
        self.commands.append(
            Command(
                self.name,
                value,
                param=self.param,
                role=self.role,
                line=self.start_line,
                end_line=self.line,
            )
        )
        self.chars = []
        self.state = _State.START

    def finish(self) -> None:
        state = self.state
        if state is _State.VALUE:
            value = _closed_value(self.chars)
            if value is None:
                opener = '"""' if "".join(self.chars).lstrip(_BLANK).startswith('"""') else '"'
                raise self.error(
                    _UNEXPECTED_EOF,
                    f"the {opener} opened on line {self.start_line} is never closed; end the"
                    f" value with {opener} at the end of a line (nothing may follow it there)",
                )
            self.emit(value)
        elif state is _State.KEYWORD:
            keyword = "".join(self.chars)
            if keyword.lower() in INSTRUCTIONS:
                hint = f"{keyword.upper()} needs a value after a space"
            else:
                hint = self.unknown_keyword_hint(keyword)
            raise self.error(_UNEXPECTED_EOF, hint)
        elif state is _State.PARAM_NAME:
            raise self.error(_UNEXPECTED_EOF, "PARAMETER needs a name and a value")
        elif state is _State.ROLE:
            raise self.error(_UNEXPECTED_EOF, "MESSAGE needs a role and its text")


def _line_of_end(text: str) -> int:
    """The line number at the end of `text`, counting CRLF as one line break."""
    return 1 + text.count("\n") + text.count("\r") - text.count("\r\n")


def decode(data: bytes, source: str | None = None) -> str:
    """Decode like Ollama's BOMOverride (UTF-16 needs a BOM), but refuse invalid bytes."""
    encoding, skip = "utf-8", 0
    for bom, candidate in _BOMS:
        if data.startswith(bom):
            encoding, skip = candidate, len(bom)
            break
    body = data[skip:]
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as exc:
        line = _line_of_end(body[: exc.start].decode(encoding, errors="replace"))
        raise ModelfileError(
            f"not valid {encoding.upper()}: {exc.reason} at byte {skip + exc.start}",
            source=source,
            line=line,
            hint="save the Modelfile as UTF-8 (UTF-16 needs a byte-order mark)",
        ) from None


def parse(text: str | bytes, *, source: str | None = None) -> Modelfile:
    """Parse a Modelfile as Ollama does; raise ModelfileError where Ollama's parser would fail.

    `source` names the input in error messages. Bytes may be UTF-8 (with or without BOM) or
    UTF-16 LE/BE with a BOM.
    """
    if isinstance(text, bytes | bytearray):
        text = decode(bytes(text), source)
    return _Parser(source).run(text)


# Writing


def _can_be_bare(value: str) -> bool:
    """Whether `value` reads back unchanged without quotes."""
    return (
        bool(value)
        and not any(char in _NEWLINE for char in value)
        and value[0] not in _SPACE
        and value[-1] not in _SPACE
        and not value.startswith('"')
    )


def _closes_early(value: str) -> bool:
    """Whether a triple-quoted `value` would end at one of its own line breaks.

    The parser stops at the first line break where the text so far, trimmed, ends with the
    closing quote, so a line of the value (before a break, ignoring trailing blanks) must not.
    """
    return any(
        char in _NEWLINE and value[:index].rstrip(_BLANK).endswith('"""')
        for index, char in enumerate(value)
    )


def quote(value: str) -> str:
    """`value` as Modelfile value text that Ollama's parser reads back unchanged.

    Raises ModelfileError (without a line) for a value no form can carry; see the module notes.
    """
    for char in value:
        if char not in _BLANK and not char.isprintable():
            raise ModelfileError(
                f"the value contains {char!r} (U+{ord(char):04X}), which Ollama's parser drops",
                hint="remove it; a Modelfile has no escape sequences for unprintable characters",
            )
    if _can_be_bare(value):
        return value
    if '"' not in value:
        return f'"{value}"'
    if not _closes_early(value):
        return f'"""{value}"""'
    raise ModelfileError(
        'a value with a line that ends in """ before a line break cannot be written to a'
        " Modelfile: the parser would end the value there",
        hint='Modelfiles have no escape sequences; add a character after that """ or remove it',
    )


def format_command(command: Command) -> str:
    """One instruction as Modelfile text, without the line break; raises if unrepresentable."""
    keyword = command.name.upper()
    if command.param is not None and not _PARAM_NAME.fullmatch(command.param):
        raise ModelfileError(
            f"cannot write PARAMETER: {command.param!r} is not a parameter name",
            hint="a parameter name is one or more letters, digits or _",
        )
    if command.role is not None and command.role not in MESSAGE_ROLES:
        raise ModelfileError(f"cannot write MESSAGE: {_INVALID_ROLE}", hint=f"got {command.role!r}")
    try:
        value = quote(command.args)
    except ModelfileError as exc:
        raise ModelfileError(f"cannot write {keyword}: {exc.message}", hint=exc.hint) from None
    if command.param is not None:
        return f"{keyword} {command.param} {value}"
    if command.role is not None:
        return f"{keyword} {command.role} {value}"
    return f"{keyword} {value}"


def write(modelfile: Modelfile) -> str:
    """The Modelfile text, one instruction per line, keywords upper-case.

    Raises ModelfileError, naming the command's line, for a command no text can represent.
    """
    lines: list[str] = []
    for command in modelfile.commands:
        try:
            lines.append(format_command(command) + "\n")
        except ModelfileError as exc:
            raise ModelfileError(
                exc.message, source=modelfile.source, line=command.line, hint=exc.hint
            ) from None
    return "".join(lines)
