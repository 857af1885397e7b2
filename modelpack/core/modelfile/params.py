"""Ollama PARAMETER names, their history, and Go-exact value parsing.

`ollama create` turns each `PARAMETER name value` into a typed JSON value with `api.FormatParams`
(Go's strconv rules) and refuses names that `api.Options` lacks. The server checks neither names
nor types of structured `parameters` (since 0.5.5): a wrong type is stored and then every generate
fails with HTTP 500, and an unknown name is silently ignored. So modelpack checks here, against
the Ollama version it targets, and only ever sends int, float, bool and list[str] values.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal, TypeAlias

from modelpack.core.gotmpl.strconv import (
    BOOL_TEXTS,
    INT64_MAX,
    INT64_MIN,
    GoParseError,
    format_float32,
    parse_bool,
    parse_float32,
    parse_int,
    to_float32,
)
from modelpack.core.modelfile.diagnostics import Diagnostic, Findings
from modelpack.core.versions import OllamaVersion
from modelpack.errors import UsageError

__all__ = [
    "NEWEST",
    "NEWEST_STABLE",
    "PARAMETERS",
    "GoParseError",
    "KindEra",
    "ParamCheck",
    "ParamKind",
    "ParamSpec",
    "ParamStatus",
    "ParamValue",
    "check_parameters",
    "check_typed_parameters",
    "format_parameter",
    "names_at",
    "to_modelfile_parameters",
]

ParamValue: TypeAlias = int | float | bool | list[str]

# The newest Ollama tag the table was checked against (api/types.go, parser/parser.go).
NEWEST = OllamaVersion.parse("0.33.0-rc2")

NEWEST_STABLE = OllamaVersion.parse("0.32.15")
"""The newest release (not a pre-release) among the tags the table was checked against: what
`init` targets by default, since a spec pinned to a release candidate ages badly."""

# Ollama reads the stored params layer back with encoding/json into map[string]any, so every
# number becomes a float64: integers beyond +-2**53 come back changed (server/images.go).
_EXACT_INT_LIMIT = 2**53


class ParamKind(StrEnum):
    """The Go type of the `api.Options` field, which decides how FormatParams parses text."""

    INT = "int"
    FLOAT = "float32"
    BOOL = "bool"
    STRINGS = "string list"


class ParamStatus(StrEnum):
    """What `PARAMETER name ...` does against one Ollama version."""

    TOO_NEW = "too-new"  # the version predates the name: `unknown parameter`
    ACCEPTED = "accepted"
    DEPRECATED = "deprecated"  # on parser.go's deprecated list: a warning, and not sent
    REMOVED = "removed"  # gone from api.Options and not on the list: `unknown parameter`


def _format_bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else format_float32(value)


def _parse_text(kind: ParamKind, text: str) -> ParamValue:
    """FormatParams for one scalar value; raises GoParseError like strconv would."""
    if kind is ParamKind.INT:
        return parse_int(text)
    if kind is ParamKind.BOOL:
        return parse_bool(text)
    if kind is ParamKind.FLOAT:
        value = parse_float32(text)
        if not math.isfinite(value):  # Go parses it, but json.Marshal of the request fails
            raise GoParseError(text, "range")
        return to_float32(value)
    raise ValueError(f"{kind.value} values are not parsed from one text")


@dataclass(frozen=True)
class KindEra:
    """Releases in which FormatParams parsed a name as another Go type than it does now."""

    since: OllamaVersion
    until: OllamaVersion  # the first release with the usual kind again
    kind: ParamKind
    example: str
    minimum: float | None
    maximum: float | None
    note: str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter name as Ollama has spelled it in JSON, with its history and sane range.

    `removed` is the first release whose `api.Options` lacks the field. `on_removal` says what
    the CLI does with it from then on: "error" (`unknown parameter`) or "deprecated" (warn and
    drop, once `deprecated_since` is reached). Ranges are modelpack's, not Ollama's: Ollama
    accepts any value of the right type, so each bound notes why a value outside is a mistake.
    """

    name: str
    kind: ParamKind
    since: OllamaVersion
    example: str
    removed: OllamaVersion | None = None
    on_removal: Literal["error", "deprecated"] | None = None
    deprecated_since: OllamaVersion | None = None
    reason: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    range_note: str | None = None
    kind_eras: tuple[KindEra, ...] = ()

    def __post_init__(self) -> None:
        gone = (self.removed is not None, self.on_removal is not None, self.reason is not None)
        if len(set(gone)) != 1:
            raise ValueError(f"{self.name}: removed, on_removal and reason go together")
        if (self.on_removal == "deprecated") != (self.deprecated_since is not None):
            raise ValueError(f"{self.name}: deprecated_since is needed exactly when deprecated")
        if self.removed is not None and self.removed <= self.since:
            raise ValueError(f"{self.name}: removed before it existed")
        if self.deprecated_since and self.removed and self.deprecated_since < self.removed:
            raise ValueError(f"{self.name}: deprecated while still a field")
        if self.kind is not ParamKind.STRINGS:
            value = _parse_text(self.kind, self.example)
            if self.range_problem(value) is not None:
                raise ValueError(f"{self.name}: example {self.example} is out of range")

    def at(self, version: OllamaVersion) -> ParamSpec:
        """This spec as `version` sees it: the kind, example and range of that release."""
        target = _table_version(version)
        for era in self.kind_eras:
            if era.since <= target < era.until:
                return replace(
                    self,
                    kind=era.kind,
                    example=era.example,
                    minimum=era.minimum,
                    maximum=era.maximum,
                    exclusive_minimum=False,
                    range_note=era.note,
                    kind_eras=(),
                )
        return self

    def status_at(self, version: OllamaVersion) -> ParamStatus:
        """Judge by the release a build belongs to (see `OllamaVersion.release`)."""
        target = _table_version(version)
        if target < self.since:
            return ParamStatus.TOO_NEW
        if self.removed is None or target < self.removed:
            return ParamStatus.ACCEPTED
        if self.deprecated_since is not None and target >= self.deprecated_since:
            return ParamStatus.DEPRECATED
        return ParamStatus.REMOVED

    def range_problem(self, value: ParamValue) -> str | None:
        """The bound `value` breaks, as text such as `>= 1`, or None when it is fine."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        low, high = self.minimum, self.maximum
        if low is not None:
            if self.exclusive_minimum and not value > low:
                return f"> {_format_bound(low)}"
            if not self.exclusive_minimum and not value >= low:
                return f">= {_format_bound(low)}"
        if high is not None and not value <= high:
            return f"<= {_format_bound(high)}"
        return None


def _spec(
    name: str,
    kind: ParamKind,
    since: str,
    example: str,
    *,
    removed: str | None = None,
    on_removal: Literal["error", "deprecated"] | None = None,
    deprecated_since: str | None = None,
    reason: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    range_note: str | None = None,
    kind_eras: tuple[KindEra, ...] = (),
) -> ParamSpec:
    def version(text: str | None) -> OllamaVersion | None:
        return OllamaVersion.parse(text) if text is not None else None

    return ParamSpec(
        name=name,
        kind=kind,
        since=OllamaVersion.parse(since),
        example=example,
        removed=version(removed),
        on_removal=on_removal,
        deprecated_since=version(deprecated_since),
        reason=reason,
        minimum=minimum,
        maximum=maximum,
        exclusive_minimum=exclusive_minimum,
        range_note=range_note,
        kind_eras=kind_eras,
    )


_I, _F, _B, _S = ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.STRINGS
_USE_MMAP_TRISTATE = KindEra(
    since=OllamaVersion.parse("0.1.45"),
    until=OllamaVersion.parse("0.1.49"),
    kind=ParamKind.INT,
    example="0",
    minimum=-1,
    maximum=1,
    note="Ollama 0.1.45 to 0.1.48 read use_mmap as an integer: 1 is true, 0 false, -1 unset",
)

# Checked with `git show <tag>:api/types.go` (the json tags of Options and Runner) on every tag
# from v0.0.1 to v0.33.0-rc2, and `git show <tag>:parser/parser.go` for deprecatedParameters.
# `since` is the first tag whose api.Options has the json name. The Modelfile itself (and with
# it PARAMETER) first shipped in v0.0.6; v0.0.1/v0.0.2 had a different API (model_opts,
# predict_opts) in which numa, low_vram, vocab_only, seed, top_k, top_p, tfs_z, typical_p,
# mirostat and main_gpu already existed under the same spelling, but not as PARAMETERs.
# Before v0.1.13 the server ignored unknown names instead of failing; modelpack still refuses
# them, since they do nothing.
# `removed` is the first *release* without the field. Two pre-releases differ from their
# release: v0.6.9-rc0 (never released) already lacked the v0.7.0 removals, and
# v0.30.0-rc0..rc21 lacked draft_num_predict (added in rc22).
_TABLE: tuple[ParamSpec, ...] = (
    # --- accepted in NEWEST (api.Options / api.Runner of v0.33.0-rc2) ---
    _spec("num_keep", _I, "0.0.13", "4", minimum=-1,
          range_note="-1 keeps the whole prompt when the context shifts; lower means nothing"),
    _spec("seed", _I, "0.0.3", "42"),  # any int64; -1 (the default) picks a random seed
    _spec("num_predict", _I, "0.0.18", "128", minimum=-2,
          range_note="-1 means no limit and -2 fill the context; lower values mean nothing"),
    _spec("top_k", _I, "0.0.3", "40", minimum=0,
          range_note="0 disables top-k sampling; a negative value means nothing"),
    _spec("top_p", _F, "0.0.3", "0.9", minimum=0, maximum=1,
          range_note="a probability mass between 0 and 1; 1 disables it"),
    # min_p: added by f3d7a481b (#1825), first tag v0.3.1.
    _spec("min_p", _F, "0.3.1", "0.05", minimum=0, maximum=1,
          range_note="a probability between 0 and 1; 0 disables it"),
    # typical_p: still in v0.33.0-rc2; ollama/ollama#18448, merged after it, deprecates it.
    _spec("typical_p", _F, "0.0.3", "0.95", minimum=0, maximum=1, exclusive_minimum=True,
          range_note="a probability mass above 0 and at most 1; 1 disables it"),
    _spec("repeat_last_n", _I, "0.0.3", "64", minimum=-1,
          range_note="0 disables the window and -1 uses num_ctx; lower values mean nothing"),
    _spec("temperature", _F, "0.0.3", "0.7", minimum=0,
          range_note="0 means greedy decoding; Ollama treats negative values as 0"),
    _spec("repeat_penalty", _F, "0.0.3", "1.1", minimum=0, exclusive_minimum=True,
          range_note="1 disables it; logits are divided by it, so 0 or less is meaningless"),
    _spec("presence_penalty", _F, "0.0.3", "0.5"),  # negative values favour repeats: allowed
    _spec("frequency_penalty", _F, "0.0.3", "0.5"),
    _spec("stop", _S, "0.0.13", "<|im_end|>"),
    _spec("num_ctx", _I, "0.0.3", "4096", minimum=1,
          range_note="0 is not 'automatic': Ollama sizes the context only when num_ctx is unset"),
    _spec("num_batch", _I, "0.0.3", "512", minimum=1,
          range_note="the prompt is processed in batches of this many tokens"),
    _spec("num_gpu", _I, "0.0.3", "99", minimum=-1,
          range_note="-1 decides automatically and 0 runs on the CPU only"),
    # main_gpu: `*int` since v0.30.0 (9db4bdbad); still parsed with ParseInt.
    _spec("main_gpu", _I, "0.0.3", "0", minimum=0, range_note="a GPU index counts from 0"),
    # use_mmap: a bool until v0.1.44; `TriState` (a Go int) in v0.1.45..v0.1.48, so
    # FormatParams used ParseInt and `use_mmap false` failed; `*bool` (ParseBool again) from
    # 97c9e1176, first tag v0.1.49-rc4, first release v0.2.0 (v0.1.49 was never released).
    _spec("use_mmap", _B, "0.0.3", "false", kind_eras=(_USE_MMAP_TRISTATE,)),
    _spec("num_thread", _I, "0.0.3", "8", minimum=0,
          range_note="0 lets the runtime pick the thread count"),
    # draft_num_predict: added by 9db4bdbad (#16031); first release v0.30.0.
    _spec("draft_num_predict", _I, "0.30.0", "4", minimum=0,
          range_note="0 disables speculative drafting"),
    # --- removed, now `unknown parameter` in the CLI (not on the deprecated list) ---
    # embedding_only: removed by 3b4bab3dc "Fix embeddings load model behavior" (#2848).
    _spec("embedding_only", _B, "0.0.3", "false", removed="0.1.28", on_removal="error",
          reason="any model now serves embeddings without it"),
    # num_gqa, rope_frequency_*: removed by d5eec16d2 (#1983); first tag without them
    # v0.1.35-rc1. (rope_frequency_base left and came back within v0.1.32's cycle.)
    _spec("num_gqa", _I, "0.0.13", "8", removed="0.1.35", on_removal="error",
          reason="it is read from the model's GGUF metadata"),
    _spec("rope_frequency_base", _F, "0.0.14", "10000", removed="0.1.35", on_removal="error",
          reason="it is read from the model's GGUF metadata"),
    _spec("rope_frequency_scale", _F, "0.0.14", "1", removed="0.1.35", on_removal="error",
          reason="it is read from the model's GGUF metadata"),
    # numa: removed by f457d6340 "Implement linux NUMA detection"; first tag v0.3.4.
    _spec("numa", _B, "0.0.3", "false", removed="0.3.4", on_removal="error",
          reason="NUMA is detected automatically"),
    # tfs_z: removed by 527cc9789 (llama.cpp update, #7875); first tag v0.5.2-rc0.
    _spec("tfs_z", _F, "0.0.3", "1", removed="0.5.2", on_removal="error",
          reason="llama.cpp dropped tail-free sampling"),
    # --- removed and on parser.go's deprecatedParameters: a warning, then dropped ---
    # penalize_newline: removed by 1deafd825 (#8308), which also created the list with this
    # one name; first tag v0.5.5-rc0.
    _spec("penalize_newline", _B, "0.0.13", "true", removed="0.5.5", on_removal="deprecated",
          deprecated_since="0.5.5", reason="llama.cpp dropped the newline penalty"),
    # low_vram, f16_kv, logits_all, vocab_only, use_mlock: removed by 3b2d2c832 (#10574);
    # mirostat*: removed by fa9973cd7 (#10581). Both commits also extended the list; first
    # tag v0.6.9-rc0, first release v0.7.0.
    _spec("low_vram", _B, "0.0.3", "false", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama fits the model to memory itself"),
    _spec("f16_kv", _B, "0.0.3", "true", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama had been ignoring it"),
    _spec("logits_all", _B, "0.0.3", "false", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer supports it"),
    _spec("vocab_only", _B, "0.0.3", "false", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer supports it"),
    _spec("use_mlock", _B, "0.0.3", "false", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer supports it"),
    _spec("mirostat", _I, "0.0.3", "0", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer has Mirostat sampling",
          minimum=0, maximum=2, range_note="0 disables it, 1 is Mirostat, 2 is Mirostat 2.0"),
    _spec("mirostat_eta", _F, "0.0.3", "0.1", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer has Mirostat sampling"),
    _spec("mirostat_tau", _F, "0.0.3", "5", removed="0.7.0", on_removal="deprecated",
          deprecated_since="0.7.0", reason="Ollama no longer has Mirostat sampling"),
)  # fmt: skip

PARAMETERS: Mapping[str, ParamSpec] = {spec.name: spec for spec in _TABLE}


def _table_version(version: OllamaVersion) -> OllamaVersion:
    """Source builds say 0.0.0 but are built from recent source: judge them as NEWEST."""
    return NEWEST.release if version.is_source_build else version.release


def names_at(version: OllamaVersion | str = NEWEST) -> frozenset[str]:
    """The names `ollama create` of `version` accepts and sends."""
    target = OllamaVersion.parse(version)
    return frozenset(
        name for name, spec in PARAMETERS.items() if spec.status_at(target) is ParamStatus.ACCEPTED
    )


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCheck(Findings):
    """Typed parameters ready for the create API, and every finding on the way."""

    parameters: dict[str, ParamValue] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _name_problem(
    name: str, target: OllamaVersion, line: int | None, *, what: str
) -> tuple[ParamSpec | None, Diagnostic | None]:
    """Resolve a name against the target; a spec comes back only when it is to be sent."""
    spec = PARAMETERS.get(name)
    if spec is None:
        return None, Diagnostic.error(
            "unknown-parameter", f"unknown parameter '{name}'", line, _did_you_mean(name, target)
        )
    status = spec.status_at(target)
    if status is ParamStatus.TOO_NEW:
        return None, Diagnostic.error(
            "too-new-parameter",
            f"parameter '{name}' needs Ollama >= {spec.since} (target {target})",
            line,
            f"upgrade Ollama or delete this {what}",
        )
    if status is ParamStatus.REMOVED:
        return None, Diagnostic.error(
            "removed-parameter",
            f"parameter '{name}' was removed in Ollama {spec.removed} (target {target}): "
            f"{spec.reason}",
            line,
            f"delete this {what}",
        )
    if status is ParamStatus.DEPRECATED:
        return None, Diagnostic.warning(
            "deprecated-parameter",
            f"parameter '{name}' is deprecated since Ollama {spec.deprecated_since} and will be "
            f"dropped (target {target})",
            line,
            f"{spec.reason}; delete this {what}",
        )
    return spec.at(target), None


def _did_you_mean(name: str, target: OllamaVersion) -> str | None:
    known = sorted(names_at(target))
    folded = [known_name for known_name in known if known_name.lower() == name.lower()]
    if folded:
        return f"names are case-sensitive: did you mean '{folded[0]}'?"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _value_hint(spec: ParamSpec, text: str, error: GoParseError) -> str:
    """A fix for a value FormatParams refuses, built from what the user probably meant."""
    if "#" in text:
        before = text.split("#", 1)[0].strip()
        try:
            _parse_text(spec.kind, before)
        except (GoParseError, ValueError):
            pass
        else:
            return "a '#' after a value is part of the value: put comments on their own line"
    if spec.kind is ParamKind.BOOL:
        return "use true or false"
    if spec.kind is ParamKind.INT:
        if error.why == "range":
            return "the value does not fit a 64-bit integer"
        if text in BOOL_TEXTS and spec.range_note:
            return spec.range_note
        return f"use a base-10 integer such as {_integer_guess(text) or spec.example}"
    if error.why == "range":
        try:
            parse_float32(text)
        except GoParseError:
            return f"the value is beyond float32's range (about 3.4e38): use e.g. {spec.example}"
        return f"JSON cannot carry NaN or infinity: use a finite number such as {spec.example}"
    guess = text.replace(",", ".", 1) if text.count(",") == 1 else None
    try:
        shown = format_float32(parse_float32(guess)) if guess is not None else spec.example
    except (GoParseError, ValueError):
        shown = spec.example
    return f"use a decimal number such as {shown}"


def _integer_guess(text: str) -> str | None:
    """4096.0, 1e3, 0x10 and 1_000 all name an integer; say which one to write instead."""
    candidates: list[int] = []
    with contextlib.suppress(ValueError):
        candidates.append(int(text.strip(), 0))
    try:
        as_float = parse_float32(text.strip())
    except GoParseError:
        pass
    else:
        if math.isfinite(as_float) and as_float.is_integer():
            candidates.append(int(as_float))
    for candidate in candidates:
        if INT64_MIN <= candidate <= INT64_MAX:
            return str(candidate)
    return None


def _range_diagnostics(
    spec: ParamSpec, value: ParamValue, shown: str, line: int | None
) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    bound = spec.range_problem(value)
    if bound is not None:
        found.append(
            Diagnostic.error(
                "out-of-range",
                f"value {shown} for {spec.name} is out of range: it must be {bound}",
                line,
                spec.range_note,
            )
        )
    if spec.kind is ParamKind.INT and isinstance(value, int) and abs(value) > _EXACT_INT_LIMIT:
        found.append(
            Diagnostic.warning(
                "lossy-value",
                f"value {shown} for {spec.name} will not survive exactly: Ollama reads stored "
                "parameters back as float64",
                line,
                "keep it between -2**53 and 2**53",
            )
        )
    return found


def check_parameters(
    entries: Iterable[tuple[str, str, int | None]], *, version: OllamaVersion | str = NEWEST
) -> ParamCheck:
    """Check `PARAMETER name value` lines as `ollama create` of `version` would treat them.

    `entries` are (name as written, raw value text after unquoting, line) in Modelfile order.
    The result's `parameters` follow the CLI: `stop` values append, a scalar's last value wins,
    deprecated names are dropped; values that fail a check are left out.
    """
    target = OllamaVersion.parse(version)
    parameters: dict[str, ParamValue] = {}
    diagnostics: list[Diagnostic] = []
    last_lines: dict[str, int | None] = {}
    stops: list[str] = []
    for name, text, line in entries:
        spec, problem = _name_problem(name, target, line, what="line")
        if problem is not None:
            diagnostics.append(problem)
        if spec is None:
            continue
        if spec.kind is ParamKind.STRINGS:
            if text == "":
                diagnostics.append(
                    Diagnostic.error(
                        "empty-stop",
                        "empty stop sequence: every reply would end before its first token",
                        line,
                        "give the text to stop at, e.g. PARAMETER stop <|im_end|>",
                    )
                )
                continue
            stops.append(text)
            parameters.setdefault(name, stops)
            continue
        if name in last_lines:
            earlier = last_lines[name]
            where = f"line {earlier}" if earlier is not None else "an earlier value"
            diagnostics.append(
                Diagnostic.warning(
                    "duplicate-parameter",
                    f"parameter '{name}' is set more than once: this value replaces {where}",
                    line,
                    "keep one line per parameter",
                )
            )
        last_lines[name] = line
        try:
            value = _parse_text(spec.kind, text)
        except GoParseError as exc:
            diagnostics.append(
                Diagnostic.error(
                    "invalid-value",
                    f"invalid {_go_type_word(spec.kind)} value [{text}] for {name}",
                    line,
                    _value_hint(spec, text, exc),
                )
            )
            parameters.pop(name, None)
            continue
        found = _range_diagnostics(spec, value, text, line)
        diagnostics.extend(found)
        if any(d.is_error for d in found):
            parameters.pop(name, None)
        else:
            parameters[name] = value
    return ParamCheck(parameters, diagnostics)


def _go_type_word(kind: ParamKind) -> str:
    """The word in FormatParams' own errors: `invalid int value [x]`."""
    return {ParamKind.INT: "int", ParamKind.FLOAT: "float", ParamKind.BOOL: "bool"}[kind]


def _typed_value(spec: ParamSpec, value: object) -> ParamValue | tuple[str, str, str]:
    """Convert one already-typed value, or return (code, message, hint) for why not.

    Mirrors what Ollama's FromMap would accept at generate time, minus its silent conversions:
    a float for an int field would be truncated, so it is refused here.
    """
    name, kind = spec.name, spec.kind
    described = _describe(value)
    if kind is ParamKind.STRINGS:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            return (
                "invalid-type",
                f"parameter '{name}' must be a list of strings, not {described}",
                f'write it as a list, e.g. ["{spec.example}"]',
            )
        if any(v == "" for v in value):
            return (
                "empty-stop",
                "empty stop sequence: every reply would end before its first token",
                "remove the empty string from the list",
            )
        return list(value)
    if kind is ParamKind.BOOL:
        if isinstance(value, bool):
            return value
        return (
            "invalid-type",
            f"parameter '{name}' must be true or false, not {described}",
            "write true or false without quotes",
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        example = spec.example
        if isinstance(value, str):
            with contextlib.suppress(GoParseError, ValueError, UsageError):
                example = _format_value(_parse_text(kind, value.strip()))
        wanted = "an integer" if kind is ParamKind.INT else "a number"
        return (
            "invalid-type",
            f"parameter '{name}' must be {wanted}, not {described}",
            f"write a number without quotes, such as {example}",
        )
    if kind is ParamKind.INT:
        if isinstance(value, float):
            guess = str(int(value)) if value.is_integer() else spec.example
            return (
                "invalid-type",
                f"parameter '{name}' must be an integer, not {described}",
                f"write it without a fraction or exponent, such as {guess}",
            )
        if not INT64_MIN <= value <= INT64_MAX:
            return (
                "invalid-value",
                f"value {value} for {name} does not fit a 64-bit integer",
                f"use an integer such as {spec.example}",
            )
        return value
    try:
        return to_float32(value)
    except GoParseError:
        return (
            "invalid-value",
            f"value {value!r} for {name} is not a finite float32",
            f"use a finite number within float32's range (about 3.4e38), such as {spec.example}",
        )


def _describe(value: object) -> str:
    """Name a value by its JSON/YAML type, since that is what the user wrote."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({'true' if value else 'false'})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a float ({value!r})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_typed_parameters(
    values: Mapping[str, object], *, version: OllamaVersion | str = NEWEST
) -> ParamCheck:
    """Check parameters that arrive typed (a JSON or YAML spec) with the same rules.

    The create API stores whatever it gets and every later generate fails with HTTP 500 on a
    wrong type, so strings for numbers, floats for ints (4096.0) and the like are refused.
    Diagnostics carry no line: the caller knows where the mapping came from.
    """
    target = OllamaVersion.parse(version)
    parameters: dict[str, ParamValue] = {}
    diagnostics: list[Diagnostic] = []
    for name, raw in values.items():
        spec, problem = _name_problem(name, target, None, what="entry")
        if problem is not None:
            diagnostics.append(problem)
        if spec is None:
            continue
        converted = _typed_value(spec, raw)
        if isinstance(converted, tuple):
            code, message, hint = converted
            diagnostics.append(Diagnostic.error(code, message, None, hint))
            continue
        shown = _format_value(converted) if spec.kind is not ParamKind.STRINGS else ""
        found = _range_diagnostics(spec, converted, shown, None)
        diagnostics.extend(found)
        if not any(d.is_error for d in found):
            parameters[name] = converted
    return ParamCheck(parameters, diagnostics)


# --- writing ------------------------------------------------------------------------------------


def format_parameter(
    name: str, value: object, *, version: OllamaVersion | str = NEWEST
) -> list[str]:
    """The PARAMETER value texts for one typed value, as FormatParams would read them back.

    Ints are plain, floats the shortest float32 text, bools `true`/`false`, and a stop list
    gives one text per entry (one PARAMETER line each). Quoting is the Modelfile writer's job,
    and so is checking the name against the target first (`check_typed_parameters`).
    """
    target = OllamaVersion.parse(version)
    spec = PARAMETERS.get(name)
    if spec is None:
        raise UsageError(f"unknown parameter '{name}'", hint=_did_you_mean(name, target))
    converted = _typed_value(spec.at(target), value)
    if isinstance(converted, tuple):
        _, message, hint = converted
        raise UsageError(message, hint=hint)
    if isinstance(converted, list):
        return list(converted)
    return [_format_value(converted)]


def _format_value(value: ParamValue) -> str:
    """One scalar as FormatParams reads it: Go's spelling of ints, float32s and bools."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float32(value)
    raise TypeError(f"not a scalar parameter value: {value!r}")


def to_modelfile_parameters(
    parameters: Mapping[str, object], *, version: OllamaVersion | str = NEWEST
) -> list[tuple[str, str]]:
    """(name, text) pairs for PARAMETER lines, in the mapping's order, stop entries expanded."""
    return [
        (name, text)
        for name, value in parameters.items()
        for text in format_parameter(name, value, version=version)
    ]
