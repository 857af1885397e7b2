"""Engine versions as packages pin them: llama.cpp builds (`b11549`) and vLLM releases.

llama.cpp names its releases by build number (`bNNNN`, one per commit on master), so a build
orders by that number. vLLM releases are PEP 440 versions; the ones that matter here are plain
numbers with an optional `.postN` (a re-upload that behaves like its release) or `rcN`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

__all__ = ["LlamaCppBuild", "VllmRelease"]

_BUILD = re.compile(r"b(\d+)", re.ASCII)
_RELEASE = re.compile(r"v?(\d+(?:\.\d+)*)(?:(rc)(\d+))?(?:\.post\d+)?", re.ASCII)


@dataclass(frozen=True, order=True)
class LlamaCppBuild:
    number: int

    @classmethod
    def parse(cls, text: str) -> LlamaCppBuild:
        """`b11549`; raises ValueError with the form expected."""
        match = _BUILD.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not a llama.cpp build: write b and the build number, e.g. b11549"
            )
        return cls(int(match.group(1)))

    def __str__(self) -> str:
        return f"b{self.number}"


@total_ordering
@dataclass(frozen=True)
class VllmRelease:
    parts: tuple[int, ...]
    rc: int | None = None

    @classmethod
    def parse(cls, text: str) -> VllmRelease:
        """`0.10.1.1`, `0.5.3.post1` (judged as 0.5.3) or `0.11.0rc1`."""
        match = _RELEASE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not a vLLM release such as 0.10.1.1")
        parts = tuple(int(p) for p in match.group(1).split("."))
        while len(parts) > 1 and parts[-1] == 0:
            parts = parts[:-1]
        return cls(parts, int(match.group(3)) if match.group(2) else None)

    def _key(self) -> tuple[tuple[int, ...], int]:
        return self.parts, self.rc if self.rc is not None else 1 << 30

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, VllmRelease):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        text = ".".join(str(p) for p in (self.parts + (0,) * (3 - len(self.parts))))
        return text + (f"rc{self.rc}" if self.rc is not None else "")
