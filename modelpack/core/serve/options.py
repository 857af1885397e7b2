"""An engine's command-line options across its versions, and checking argv words against them.

Each engine's data module (`llamacpp_options`, `vllm_options`, generated from the engines' own
code by scripts/serve_tables.py) records, for every spelling, which of a few sampled versions
accept it and how many values it takes there. Between two samples that agree, the versions in
between are taken to agree too; where they disagree, modelpack does not guess: a pin between
them gets "cannot tell" with the two samples named. A pin newer than the newest sample is
judged as the newest; one older than the oldest is refused where the version is read.

`check_words` walks extra flags (one argv word per list item, as the engine receives them) and
reports each problem as an `OptionProblem` (which word, message, fix); the spec layer gives it
the spec's file, line and field path.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

__all__ = ["Availability", "OptionProblem", "OptionTable", "Presence", "check_words"]

V = TypeVar("V")
"""An engine's version type (ordered)."""

_NEGATIVE_NUMBER = re.compile(r"^-\d+(\.\d+)?$")


class Presence(Enum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Availability(Generic[V]):
    """What one version does with one spelling, and the samples that say so."""

    presence: Presence
    values: int | None
    """How many values the spelling takes there (None: the table does not record it)."""
    added_after: V | None = None
    """For NO or UNKNOWN: the last sample without it before a sample with it."""
    first_with: V | None = None
    removed_after: V | None = None
    """For NO or UNKNOWN: the last sample with it before one without it."""
    first_without: V | None = None


@dataclass(frozen=True)
class OptionProblem:
    index: int
    """The extra flag (list item) the problem is about."""
    message: str
    hint: str | None = None


class OptionTable(Generic[V]):
    """One engine's spellings by sampled version.

    `rows` maps a spelling to (history, hint, other spellings): history has one character per
    sample, the number of values taken there ("0", "1", "2"), "1" alone where arity is not
    recorded (`arity=False`), or "-" where the sample refuses the spelling.
    """

    def __init__(
        self,
        *,
        engine: str,
        samples: Sequence[V],
        labels: Sequence[str],
        rows: Mapping[str, tuple[str, str, tuple[str, ...]]],
        arity: bool,
        spell: Callable[[V], str],
    ) -> None:
        self.engine = engine
        self.samples = tuple(samples)
        self.labels = tuple(labels)
        self.rows = dict(rows)
        self.arity = arity
        self.spell = spell
        for spelling, (history, _, _) in self.rows.items():
            if len(history) != len(self.samples):
                raise ValueError(f"{engine} {spelling}: history does not match the samples")

    @property
    def newest(self) -> V:
        return self.samples[-1]

    def availability(self, spelling: str, version: V) -> Availability[V]:
        row = self.rows.get(spelling)
        if row is None:
            return Availability(Presence.NO, None)
        history = row[0]
        before = [i for i, s in enumerate(self.samples) if s <= version]  # type: ignore[operator]
        after = [i for i, s in enumerate(self.samples) if s >= version]  # type: ignore[operator]
        low = before[-1] if before else 0
        high = after[0] if after else len(self.samples) - 1
        if not after:
            high = low = len(self.samples) - 1
        mark_low, mark_high = history[low], history[high]
        if mark_low == mark_high:
            presence = Presence.NO if mark_low == "-" else Presence.YES
            values = None if mark_low == "-" or not self.arity else int(mark_low)
        else:
            presence, values = Presence.UNKNOWN, None
        if presence is Presence.YES:
            return Availability(presence, values)
        return Availability(presence, None, *self._change_around(history, low, high))

    def _change_around(
        self, history: str, low: int, high: int
    ) -> tuple[V | None, V | None, V | None, V | None]:
        """(added_after, first_with, removed_after, first_without) nearest the version."""
        added_after = first_with = removed_after = first_without = None
        for i in range(max(high, 1), len(self.samples)):
            if history[i - 1] == "-" and history[i] != "-":
                added_after, first_with = self.samples[i - 1], self.samples[i]
                break
        for i in range(min(low, len(self.samples) - 1), 0, -1):
            if history[i - 1] != "-" and history[i] == "-":
                removed_after, first_without = self.samples[i - 1], self.samples[i]
                break
        return added_after, first_with, removed_after, first_without

    def spellings_at(self, version: V) -> list[str]:
        return [s for s in self.rows if self.availability(s, version).presence is Presence.YES]

    def aliases(self, spelling: str) -> tuple[str, ...]:
        row = self.rows.get(spelling)
        return row[2] if row else ()

    def hint_text(self, spelling: str) -> str:
        row = self.rows.get(spelling)
        return row[1] if row else ""

    def describe(self, spelling: str, version: V) -> tuple[str, str | None] | None:
        """(what is wrong, fix) when `version` does not surely take `spelling`; else None."""
        found = self.availability(spelling, version)
        name, at = self.engine, self.spell(version)
        if found.presence is Presence.YES:
            return None
        if found.presence is Presence.UNKNOWN:
            return (
                f"modelpack cannot tell whether {name} {at} takes {spelling}: "
                + self._between(found),
                f"pin one of the versions modelpack knows ({', '.join(self.labels)}), or drop "
                f"{spelling}",
            )
        if spelling not in self.rows:
            return f"{name} has no option {spelling}", self._did_you_mean(spelling, version)
        if found.removed_after is not None:
            back = (
                f"; back in {self.spell(found.first_with)}" if found.first_with is not None else ""
            )
            return (
                f"{spelling} does not exist in {name} {at}; removed after "
                f"{self.spell(found.removed_after)} (gone in "
                f"{self.spell(found.first_without)}{back})",  # type: ignore[arg-type]
                self._did_you_mean(spelling, version)
                or f"drop {spelling}, or pin {self.spell(found.removed_after)}",
            )
        if found.first_with is not None and found.added_after is not None:
            return (
                f"{spelling} does not exist in {name} {at}; added after "
                f"{self.spell(found.added_after)} (in {self.spell(found.first_with)})",
                f"pin {self.spell(found.first_with)} or later, or drop {spelling}",
            )
        return f"{name} {at} has no option {spelling}", self._did_you_mean(spelling, version)

    def _between(self, found: Availability[V]) -> str:
        if found.first_with is not None and found.added_after is not None:
            return (
                f"it was added between {self.spell(found.added_after)} and "
                f"{self.spell(found.first_with)}"
            )
        assert found.removed_after is not None and found.first_without is not None
        return (
            f"it was removed between {self.spell(found.removed_after)} and "
            f"{self.spell(found.first_without)}"
        )

    def _did_you_mean(self, spelling: str, version: V) -> str | None:
        known = self.spellings_at(version)
        close = difflib.get_close_matches(spelling, known, n=1, cutoff=0.75)
        return f"did you mean {close[0]}?" if close else None


def normalise(spelling: str) -> str:
    """What both engines' parsers look up: `_` reads as `-` in a `--` option (llama.cpp's
    `common/arg.cpp`, vLLM's FlexibleArgumentParser)."""
    return spelling.replace("_", "-") if spelling.startswith("--") else spelling


def check_words(
    table: OptionTable[V],
    words: Sequence[str],
    version: V,
    *,
    owned: Mapping[str, str],
    equals_form: bool,
    normalise: Callable[[str], str],
) -> list[OptionProblem]:
    """Problems with `words` (extra flags, one argv word each) for `version` of the engine.

    `owned` maps a spelling to the spec field that renders it: such an option may not be set
    again through extra flags. `equals_form` says whether the engine reads `--flag=value`.
    """
    problems: list[OptionProblem] = []
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("-") or _NEGATIVE_NUMBER.match(word):
            problems.append(
                OptionProblem(
                    index,
                    f"{word!r} is not an option (an option starts with '-')",
                    "give each option and each of its values as its own list item, in order",
                )
            )
            index += 1
            continue
        spelling, _, inline = word.partition("=")
        if inline and not equals_form:
            problems.append(
                OptionProblem(
                    index,
                    f"{table.engine} does not read {spelling}=VALUE",
                    f"give the value as the next item: [{spelling}, {inline}]",
                )
            )
            index += 1
            continue
        spelling = normalise(spelling)
        field = owned.get(spelling) or next(
            (owned[a] for a in table.aliases(spelling) if a in owned), None
        )
        if field is not None:
            problems.append(
                OptionProblem(
                    index,
                    f"{spelling} is what the `{field}` field renders",
                    f"set `{field}` instead of passing {spelling} in extra_flags",
                )
            )
        described = table.describe(spelling, version)
        if described is not None:
            problems.append(OptionProblem(index, *described))
        found = table.availability(spelling, version)
        if found.values is not None and not inline:
            wanted = found.values
            given = 0
            while given < wanted and index + 1 + given < len(words):
                given += 1
            if given < wanted:
                hint = table.hint_text(spelling)
                problems.append(
                    OptionProblem(
                        index,
                        f"{spelling} takes {wanted} value{'s' if wanted > 1 else ''} in "
                        f"{table.engine} {table.spell(version)}"
                        + (f" ({hint})" if hint else "")
                        + f", {given} given",
                        "give each value as its own list item after the option",
                    )
                )
            index += 1 + given
            continue
        index += 1
        while (
            found.values is None
            and index < len(words)
            and (not words[index].startswith("-") or _NEGATIVE_NUMBER.match(words[index]))
        ):
            index += 1
    return problems
