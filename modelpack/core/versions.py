"""Ollama version strings: parse them, order them, and say which release they behave like.

What Ollama may report from `GET /api/version` or a user may type: `0.9.3`, `v0.7.0`, release
candidates such as `0.33.0-rc2`, vendor builds such as `0.5.4-ipexllm-20250407`, `git describe`
builds such as `0.6.2-3-gabc1234`, and `0.0.0` (the default of `version.Version`, so any build
from source that was not stamped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from modelpack.errors import UsageError

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

__all__ = ["OllamaVersion"]

_VERSION_RE = re.compile(
    r"v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.(?P<patch>[0-9]+)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?",
    re.ASCII,
)
_RUN_RE = re.compile(r"[0-9]+|[^0-9]+", re.ASCII)
_EXPECTED = "expected MAJOR.MINOR.PATCH with an optional -suffix, e.g. 0.9.3, v0.7.0 or 0.33.0-rc2"

_PreKey: TypeAlias = tuple[tuple[tuple[int, int, str], ...], ...]


def _pre_key(pre: str) -> _PreKey:
    """Natural order: `rc2` < `rc10` (plain SemVer would compare them as text, rc10 < rc2)."""
    return tuple(
        tuple((0, int(run), "") if run.isdigit() else (1, 0, run) for run in _RUN_RE.findall(ident))
        for ident in pre.split(".")
    )


@dataclass(frozen=True)
class OllamaVersion:
    """One Ollama version. Ordering follows SemVer: a pre-release sorts before its release."""

    major: int
    minor: int
    patch: int
    pre: str | None = None

    def __post_init__(self) -> None:
        if min(self.major, self.minor, self.patch) < 0:
            raise UsageError(f"invalid Ollama version {self}", hint=_EXPECTED)
        if self.pre is not None and not _VERSION_RE.fullmatch(f"0.0.0-{self.pre}"):
            raise UsageError(f"invalid Ollama version suffix {self.pre!r}", hint=_EXPECTED)

    @classmethod
    def parse(cls, text: str | OllamaVersion) -> OllamaVersion:
        """Parse what `/api/version` or a user gives; surrounding whitespace is ignored."""
        if isinstance(text, OllamaVersion):
            return text
        if not isinstance(text, str):
            raise UsageError(f"invalid Ollama version {text!r}", hint=_EXPECTED)
        match = _VERSION_RE.fullmatch(text.strip())
        if match is None:
            raise UsageError(f"invalid Ollama version {text.strip()!r}", hint=_EXPECTED)
        return cls(
            int(match["major"]), int(match["minor"]), int(match["patch"]), match["pre"] or None
        )

    @property
    def release(self) -> OllamaVersion:
        """The release this build belongs to: `0.7.0-rc1` and `0.7.0-ipex` both give `0.7.0`.

        Feature tables are keyed on releases: release candidates are cut from the release
        branch and vendor builds rebase a release, so both behave like the release itself.
        """
        return OllamaVersion(self.major, self.minor, self.patch) if self.pre else self

    @property
    def is_prerelease(self) -> bool:
        return self.pre is not None

    @property
    def is_source_build(self) -> bool:
        """True for `0.0.0`, what an unstamped build from source reports."""
        return (self.major, self.minor, self.patch) == (0, 0, 0)

    def _key(self) -> tuple[int, int, int, tuple[int, _PreKey, str]]:
        pre = (1, (), "") if self.pre is None else (0, _pre_key(self.pre), self.pre)
        return (self.major, self.minor, self.patch, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, OllamaVersion):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, OllamaVersion):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, OllamaVersion):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, OllamaVersion):
            return NotImplemented
        return self._key() >= other._key()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.pre}" if self.pre else core

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source_type: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """Let pydantic models declare `OllamaVersion` fields that accept and dump strings."""
        from pydantic_core import core_schema

        def validate(value: object) -> OllamaVersion:
            if isinstance(value, OllamaVersion):
                return value
            if not isinstance(value, str):
                raise ValueError(f"Ollama version must be a string, not {type(value).__name__}")
            try:
                return cls.parse(value)
            except UsageError as exc:
                raise ValueError(str(exc)) from None

        # What a JSON Schema of a model with such a field says it takes (`modelpack schema`):
        # the same expression, in the ECMA-262 dialect JSON Schema patterns use (no `?P<name>`).
        plain = re.sub(r"\?P<\w+>", "", _VERSION_RE.pattern)
        text = core_schema.str_schema(pattern=rf"^\s*{plain}\s*$")
        return core_schema.no_info_plain_validator_function(
            validate,
            json_schema_input_schema=text,
            serialization=core_schema.to_string_ser_schema(),
        )
