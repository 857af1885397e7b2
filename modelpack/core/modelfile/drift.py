"""Drift: what a model is, as declared or as a server has it, and how two such states differ.

`modelpack status` compares each variant's rendered Modelfile with what `/api/show` returns for
its tag, and `modelpack diff` compares any two models the same way. Both go through one typed
value, :class:`ModelState`, built from a Modelfile (:meth:`ModelState.from_modelfile`) or from
an `/api/show` reply (:meth:`ModelState.from_show`), and one comparison, :func:`compare`.

What `/api/show` returns, as observed on the real 0.9.3 and 0.5.4 servers (both the same):

* `parameters` is one text block, a line per value, `fmt.Sprintf("%-*s %#v", 30, name, v)` of
  the stored JSON read back into `map[string]any`, in Go's random map order. So every number is
  a float64 in Go's shortest `%g` spelling: `num_ctx 1e+06`, `seed 1.2345678901e+10`,
  `temperature 0.20000000298023224` (when a float32 widened to float64 was sent), `top_k 0`.
  Strings are Go-quoted (`stop "a\\"b"`, `"x\\ny"`, `"\\x01z"`), one line per `stop` entry;
  bools are `true`/`false`.
* `template` is the TEMPLATE verbatim (`{{ .Prompt }}` when none was given); `system`,
  `messages` [{role, content}] and `license` (LICENSE texts joined by "\\n") are present only
  when set. (The `ollama` package's `ShowResponse` drops `system` and `messages`, so the edge
  reads the raw JSON.)
* `modelfile` is regenerated; its `FROM` line names the weights blob by path,
  `.../blobs/sha256-<hex>`, which is how the GGUF digest is read back (ADAPTER likewise).

Values are normalised by the parameter schema before they are compared, so the spelling of a
value is never drift: ints compare as ints (`1e+06` is 1000000), floats as the float32 Ollama
uses (`0.2` and `0.20000000298023224` are one value), and `stop` as a set (Ollama stops at any
of its entries, in any order). A name the schema does not know compares as text.

Pure: no I/O. The edge supplies the show reply and the digests of local files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from modelpack.core.gotmpl.strconv import format_float32, to_float32
from modelpack.core.modelfile.params import (
    NEWEST,
    PARAMETERS,
    GoParseError,
    ParamKind,
    ParamStatus,
    ParamValue,
    check_parameters,
)
from modelpack.core.modelfile.syntax import Modelfile
from modelpack.core.versions import OllamaVersion

__all__ = [
    "Difference",
    "ModelState",
    "Value",
    "compare",
    "format_value",
    "go_unquote",
    "model_replaced",
    "normalise",
    "parse_show_parameters",
    "stable_differences",
    "tag_missing",
]

Value: TypeAlias = ParamValue | str
"""A parameter value: typed when the schema knows the name, else the text as written."""

# Difference.field for what is not a parameter. No Ollama parameter has one of these names.
TEMPLATE = "template"
SYSTEM = "system"
GGUF = "gguf"
SOURCE = "from"
ADAPTERS = "adapters"
MESSAGES = "messages"
LICENSE = "license"
TAG = "tag"
MODEL = "model"
STABLE = "stable"
_FIELDS = frozenset(
    {TEMPLATE, SYSTEM, GGUF, SOURCE, ADAPTERS, MESSAGES, LICENSE, TAG, MODEL, STABLE}
)

_SHOW_LINE = re.compile(r"(\S+)\s+(.*)")
_BLOB_DIGEST = re.compile(r"sha256[-:]([0-9a-fA-F]{64})")
_SHORT = 60


# --- values -------------------------------------------------------------------------------------


def normalise(name: str, value: object, version: OllamaVersion | str = NEWEST) -> Value:
    """`value` in the one form two equal values share, by the schema's Go type for `name`.

    A value that does not fit the type (a float stored for an int, say) is kept as it is, so it
    shows up as a difference instead of being rounded into agreement.
    """
    spec = PARAMETERS.get(name)
    if spec is None:
        return _as_text(value)
    kind = spec.at(OllamaVersion.parse(version)).kind
    if kind is ParamKind.STRINGS:
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(v, str) for v in items):
            return sorted(set(items))
        return _as_text(value)
    if isinstance(value, bool):
        return value if kind is ParamKind.BOOL else _as_text(value)
    if kind is ParamKind.BOOL or not isinstance(value, int | float):
        return value if isinstance(value, str) else _as_text(value)
    if kind is ParamKind.INT:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    try:
        return to_float32(float(value))
    except GoParseError:  # NaN, infinities: nothing to round, compare as they are
        return float(value)


def _as_text(value: object) -> Value:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return format_value(value)


def format_value(value: object) -> str:
    """A value as a person reads it in a message: Go's spelling of numbers, lists as JSON."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        try:
            return format_float32(value) if to_float32(value) == value else repr(value)
        except GoParseError:
            return repr(value)
    if isinstance(value, list | tuple):
        return json.dumps([str(v) for v in value], ensure_ascii=False)
    return str(value)


def go_unquote(text: str) -> str:
    """The string Go's `strconv.Quote` wrote as `text` (how `%#v` prints a string).

    Handles every escape Quote emits: \\a \\b \\f \\n \\r \\t \\v \\\\ \\" and \\xNN (a byte of
    invalid UTF-8), \\uNNNN and \\UNNNNNNNN (unprintable runes); octal too, for completeness.
    Text that is not a quoted string comes back unchanged.
    """
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return text
    body = text[1:-1]
    out = bytearray()
    simple = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 == len(body):
            out += char.encode("utf-8", "surrogatepass")
            i += 1
            continue
        code = body[i + 1]
        if code in simple:
            out.append(simple[code])
            i += 2
        elif code in "\\\"'":
            out += code.encode()
            i += 2
        elif code == "x" and _is_hex(body[i + 2 : i + 4], 2):
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif code in "uU" and _is_hex(body[i + 2 : i + 2 + (n := 4 if code == "u" else 8)], n):
            out += chr(int(body[i + 2 : i + 2 + n], 16)).encode("utf-8", "surrogatepass")
            i += 2 + n
        elif code in "01234567" and re.fullmatch(r"[0-7]{3}", body[i + 1 : i + 4]):
            out.append(int(body[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:  # not something Quote writes: keep it as it is
            out += char.encode()
            i += 1
    return out.decode("utf-8", "replace")


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text)


def parse_show_parameters(text: str | None) -> dict[str, list[str]]:
    """The `parameters` text block of `/api/show`: name -> the Go `%#v` texts, in order.

    A name appears once per stored value (each `stop` entry has its own line).
    """
    found: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        match = _SHOW_LINE.fullmatch(line.strip())
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


def _show_value(text: str) -> object:
    """One `%#v` text as a Python value: a Go string, a bool or a float64."""
    if text.startswith('"'):
        return go_unquote(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text  # a type %#v prints another way (a map stored through the API)


def _from_show_texts(name: str, texts: list[str], version: OllamaVersion) -> Value:
    spec = PARAMETERS.get(name)
    if spec is None:
        values = [go_unquote(t) for t in texts]
        return values[0] if len(values) == 1 else values
    if spec.at(version).kind is ParamKind.STRINGS:
        return normalise(name, [str(_show_value(t)) for t in texts], version)
    return normalise(name, _show_value(texts[-1]), version)


# --- the state of a model -----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelState:
    """What a model is, for comparison: the parts a Modelfile sets and `/api/show` returns.

    `template` None means "not declared" (the server then picks one), so it is not compared;
    `system` and `license` None mean empty. `gguf_digest` is the sha256 of FROM's file; when
    FROM names a model instead, `source` holds that name and the weights are not compared
    (their digest is not known without asking the server about that model).
    """

    parameters: dict[str, Value] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    gguf_digest: str | None = None
    source: str | None = None
    adapters: tuple[str, ...] = ()
    """Adapter digests (or the ADAPTER text when its file is not known)."""
    messages: tuple[tuple[str, str], ...] = ()
    license: str | None = None
    """LICENSE texts joined by a line break, as `/api/show` returns them."""

    @classmethod
    def from_modelfile(
        cls,
        modelfile: Modelfile,
        *,
        digests: Mapping[str, str] | None = None,
        version: OllamaVersion | str = NEWEST,
    ) -> ModelState:
        """A parsed Modelfile as `ollama create` of `version` would store it.

        `digests` maps a FROM or ADAPTER value, as written, to the digest of the file it names
        (the edge hashes the files). Parameters are typed as FormatParams types them; deprecated
        names are dropped, as the CLI drops them; a value Ollama would refuse is kept as text.
        """
        target = OllamaVersion.parse(version)
        known = digests or {}
        check = check_parameters(
            [(p.name, p.value, p.line) for p in modelfile.parameters], version=target
        )
        parameters: dict[str, Value] = {}
        for name, raw in modelfile.effective_parameters.items():
            spec = PARAMETERS.get(name)
            if spec is not None and spec.status_at(target) is ParamStatus.DEPRECATED:
                continue
            value: object = check.parameters.get(name, raw)
            parameters[name] = normalise(name, value, target)
        source = modelfile.from_
        gguf = known.get(source) if source is not None else None
        return cls(
            parameters=parameters,
            template=modelfile.template,
            system=modelfile.system or None,
            gguf_digest=gguf,
            source=source if gguf is None else None,
            adapters=tuple(known.get(a, a) for a in modelfile.adapters[-1:]),
            messages=tuple((m.role, m.content) for m in modelfile.messages),
            license="\n".join(modelfile.license) or None,
        )

    @classmethod
    def from_show(
        cls, show: Mapping[str, Any], *, version: OllamaVersion | str = NEWEST
    ) -> ModelState:
        """An `/api/show` reply (the raw JSON; see the module notes for its shape)."""
        target = OllamaVersion.parse(version)
        parameters = {
            name: _from_show_texts(name, texts, target)
            for name, texts in parse_show_parameters(show.get("parameters")).items()
        }
        lines = str(show.get("modelfile") or "").splitlines()
        sources = [line[5:].strip() for line in lines if line.startswith("FROM ")]
        adapters = [line[8:].strip() for line in lines if line.startswith("ADAPTER ")]
        gguf = _blob_digest(sources[0]) if sources else None
        messages = show.get("messages") or []
        return cls(
            parameters=parameters,
            template=show.get("template"),
            system=show.get("system") or None,
            gguf_digest=gguf,
            source=sources[0] if sources and gguf is None else None,
            adapters=tuple(_blob_digest(a) or a for a in adapters),
            messages=tuple((str(m.get("role")), str(m.get("content"))) for m in messages),
            license=show.get("license") or None,
        )


def _blob_digest(path: str) -> str | None:
    """`sha256:<hex>` from a blob path such as `.../blobs/sha256-<hex>`."""
    match = _BLOB_DIGEST.search(path)
    return f"sha256:{match[1].lower()}" if match else None


# --- differences --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """One way in which two states differ. `field` is a parameter name or one of the part names
    (template, system, gguf, ...); `declared` is the spec's side, `live` the server's. A
    difference that is not a pair of values (a missing tag, a stable tag no build made) carries
    its whole sentence in `detail`."""

    field: str
    declared: object
    live: object
    detail: str | None = None

    @property
    def is_parameter(self) -> bool:
        return self.field not in _FIELDS

    def message(self, declared_in: str = "in the spec", live_in: str = "on the server") -> str:
        """One line, e.g. "num_ctx is 4096 on the server, 8192 in the spec"."""
        if self.detail is not None:
            return self.detail
        if self.field == TEMPLATE:
            return (
                f"the template {live_in} differs from the one {declared_in} "
                f"({_first_difference(str(self.declared or ''), str(self.live or ''))})"
            )
        if self.field == MESSAGES:
            live_messages = self.show_value(self.live)
            declared_messages = self.show_value(self.declared)
            return f"messages: {live_messages} {live_in}, {declared_messages} {declared_in}"
        subject = {
            SYSTEM: "the system prompt",
            GGUF: "the GGUF",
            SOURCE: "FROM",
            ADAPTERS: "the adapter",
            LICENSE: "the license",
        }.get(self.field, self.field)
        live = self.show_value(self.live)
        declared = self.show_value(self.declared)
        live_part = f"is {live} {live_in}" if self.live is not None else f"is not set {live_in}"
        declared_part = (
            f"{declared} {declared_in}" if self.declared is not None else f"not set {declared_in}"
        )
        return f"{subject} {live_part}, {declared_part}"

    def show_value(self, value: object) -> str:
        """One side of this difference as the messages show it."""
        if self.field in (GGUF, MODEL):
            return _short_digest(value)
        if self.field == ADAPTERS and isinstance(value, tuple | list):
            return ", ".join(_short_digest(v) for v in value) or "none"
        if self.field == MESSAGES and isinstance(value, tuple | list):
            return f"{len(value)} ({_clip(_message_text(value))})" if value else "none"
        if self.field in (SYSTEM, LICENSE, SOURCE):
            return repr(_clip(str(value)))
        return format_value(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "declared": _jsonable(self.declared),
            "live": _jsonable(self.live),
            "message": self.message(),
        }


def _jsonable(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _message_text(messages: Sequence[Sequence[str]]) -> str:
    return " | ".join(f"{role}: {content}" for role, content in messages)


def _clip(text: str) -> str:
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"


def _short_digest(value: object) -> str:
    """`sha256:<12 hex>`, or 12 hex for a bare manifest digest (as `/api/tags` gives them)."""
    text = str(value)
    prefix, _, hexdigits = text.partition(":")
    if prefix == "sha256" and hexdigits:
        return f"sha256:{hexdigits[:12]}"
    return text[:12] if _is_hex(text, 64) else text


def _first_difference(declared: str, live: str) -> str:
    """Where two texts first differ, as "line N: 'live' vs 'declared'"."""
    ours, theirs = declared.splitlines(), live.splitlines()
    for number, (a, b) in enumerate(zip(theirs, ours, strict=False), start=1):
        if a != b:
            return f"line {number}: {_clip(a)!r} vs {_clip(b)!r}"
    if len(theirs) != len(ours):
        return f"{len(theirs)} lines vs {len(ours)}"
    return "line breaks or trailing spaces differ"


def compare(
    declared: ModelState, live: ModelState, *, version: OllamaVersion | str = NEWEST
) -> list[Difference]:
    """Every difference between two states: parameters (sorted by name), then the other parts.

    Both sides are normalised again here, so a state built by hand compares like one built
    from a Modelfile or a show reply.
    """
    target = OllamaVersion.parse(version)
    found: list[Difference] = []
    for name in sorted(declared.parameters.keys() | live.parameters.keys()):
        ours = declared.parameters.get(name)
        theirs = live.parameters.get(name)
        ours_n = normalise(name, ours, target) if ours is not None else None
        theirs_n = normalise(name, theirs, target) if theirs is not None else None
        if ours_n != theirs_n:
            found.append(Difference(name, ours_n, theirs_n))
    templates = (declared.template, live.template)
    if None not in templates and templates[0] != templates[1]:
        found.append(Difference(TEMPLATE, declared.template, live.template))
    pairs: Iterable[tuple[str, object, object]] = (
        (SYSTEM, declared.system or None, live.system or None),
        (MESSAGES, declared.messages, live.messages),
        (LICENSE, declared.license or None, live.license or None),
        (ADAPTERS, declared.adapters, live.adapters),
    )
    for name, ours_value, theirs_value in pairs:
        if ours_value != theirs_value:
            found.append(Difference(name, ours_value, theirs_value))
    # Weights compare by digest when both sides know one, by FROM's text when neither does;
    # a model name on one side and a blob on the other cannot be compared without the server.
    digests = (declared.gguf_digest, live.gguf_digest)
    if None not in digests and digests[0] != digests[1]:
        found.append(Difference(GGUF, declared.gguf_digest, live.gguf_digest))
    if digests == (None, None) and declared.source != live.source:
        found.append(Difference(SOURCE, declared.source, live.source))
    return found


# --- tags ---------------------------------------------------------------------------------------


def stable_differences(
    tag: str,
    live_digest: str | None,
    *,
    produced: Mapping[str, str],
    expected: str | None,
) -> list[Difference]:
    """Where the stable tag points, judged against the build record.

    `produced` maps every model digest a recorded build made (stable history and variant tags)
    to a description such as "variant full, built 2026-...". `expected` is where the last build
    left the stable tag (None when no build has published one). A stable tag that is missing,
    points at a digest no build produced, or points at another build's model than the last
    one's is drift.
    """
    if live_digest is None:
        why = "" if expected is not None else " (no recorded build has published it)"
        return [Difference(STABLE, expected, None, f"stable tag {tag} is missing{why}")]
    if live_digest not in produced:
        return [
            Difference(
                STABLE,
                expected,
                live_digest,
                f"stable tag {tag} points at {_short_digest(live_digest)}, a digest no "
                "recorded build produced",
            )
        ]
    if expected is not None and live_digest != expected:
        last = produced.get(expected, _short_digest(expected))
        return [
            Difference(
                STABLE,
                expected,
                live_digest,
                f"stable tag {tag} points at {produced[live_digest]}, not at the last build's "
                f"choice, {last}",
            )
        ]
    return []


def tag_missing(tag: str) -> Difference:
    """A declared tag the server does not have."""
    return Difference(TAG, tag, None, f"tag {tag} is missing on the server")


def model_replaced(tag: str, recorded: str, live: str) -> Difference:
    """A tag whose model is not the one the last build made: it was replaced behind
    modelpack's back (even if every compared part still agrees)."""
    return Difference(
        MODEL,
        recorded,
        live,
        f"{tag} is {_short_digest(live)} on the server, but the last build made "
        f"{_short_digest(recorded)}",
    )
