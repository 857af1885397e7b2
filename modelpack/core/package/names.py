"""Ollama's rules for model names, as data, and the one function that applies them.

A name is `[host/][namespace/]model[:tag]` (`types/model/name.go`, `ParseNameBare`): the tag
is cut at the last ':' when it comes after the last '/', then the model, the namespace and
the host at the last '/' each; a scheme (`https://`) before the host is dropped. A separator
with nothing on one side "promises" a part and leaves it empty, and an empty part is invalid:
`x/` and `a//b` are refused, and so is `a/b/c/d`, whose host would be `a/b`. Missing parts
take the defaults (registry.ollama.ai, library, latest), and then every part must be valid
(`IsValid`): at least one character and at most its limit, an ASCII letter, digit or '_'
first, then those or the part's punctuation. Ollama answers "invalid model name" to anything
else, at create or copy, after the GGUF was already uploaded: modelpack checks first.

These rules are identical in every Ollama modelpack targets: `isValidLen`, `isValidPart` and
the splitting have not changed from v0.1.38 through v0.5.4 and v0.9.3 to v0.33.0-rc2 (only
the scheme is remembered since). Letters keep their case; Ollama matches names without
regard to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Part = Literal["host", "namespace", "model", "tag"]


@dataclass(frozen=True)
class PartRule:
    """What one part of a name may hold."""

    max_length: int
    """In bytes; every allowed character is ASCII, so also in characters."""
    punctuation: str
    """Allowed after the first character, besides ASCII letters, digits and '_'."""


RULES: Final[dict[Part, PartRule]] = {
    "host": PartRule(350, "-_.:"),
    "namespace": PartRule(80, "-_"),
    "model": PartRule(80, "-_."),
    "tag": PartRule(80, "-_."),
}

DEFAULTS: Final[dict[Part, str]] = {
    "host": "registry.ollama.ai",
    "namespace": "library",
    "tag": "latest",
}

_WORD: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class NameParts:
    """A name split as Ollama splits it. None: the part is absent (a default applies); "":
    a separator promised it and nothing is there (always invalid)."""

    host: str | None
    namespace: str | None
    model: str
    tag: str | None

    def part(self, kind: Part) -> str | None:
        value: str | None = getattr(self, kind)
        return value


def split_name(name: str) -> NameParts:
    """`ParseNameBare`: the parts of `name`, without defaults."""
    rest, tag = name, None
    if rest.rfind(":") > rest.rfind("/"):
        rest, _, tag = rest.rpartition(":")
    rest, slash, model = rest.rpartition("/")
    if not slash:
        return NameParts(None, None, model, tag)
    rest, slash, namespace = rest.rpartition("/")
    if not slash:
        return NameParts(None, namespace, model, tag)
    host = rest.partition("://")[2] if "://" in rest else rest
    return NameParts(host, namespace, model, tag)


def part_problem(kind: Part, value: str) -> str | None:
    """Why Ollama refuses `value` as the `kind` part of a name, or None when it accepts it."""
    rule = RULES[kind]
    if not value:
        return f"the {kind} is empty"
    if len(value) > rule.max_length:
        return (
            f"the {kind} {_short(value)} is {len(value)} characters, over Ollama's limit of "
            f"{rule.max_length}"
        )
    if value[0] not in _WORD:
        return f"the {kind} {_short(value)} must start with a letter, a digit or '_'"
    for char in value[1:]:
        if char not in _WORD and char not in rule.punctuation:
            allowed = " ".join(repr(c) for c in rule.punctuation)
            return (
                f"the {kind} {_short(value)} has {char!r}, which Ollama does not allow in a "
                f"{kind} (letters, digits, '_' and {allowed})"
            )
    return None


def name_problem(name: str) -> str | None:
    """Why Ollama refuses the model name `name` (with its defaults filled in), or None."""
    rest = name[: name.rfind(":")] if name.rfind(":") > name.rfind("/") else name
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    if rest.count("/") > 2:
        return f"{name!r} has more than three parts separated by '/' (host/namespace/model)"
    parts = split_name(name)
    for kind in RULES:
        value = parts.part(kind)
        problem = part_problem(kind, DEFAULTS[kind] if value is None else value)
        if problem is not None:
            return problem
    return None


def _short(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")
