"""Spreading the matrix over CI jobs, and joining their results again.

A CI system's job matrix already runs work on several machines at once; modelpack only has to
say which cells each job runs and how to join what they wrote. `modelpack matrix --shard I/N`
runs shard I of N, `modelpack report merge` joins the shards' JSON into one result.

The split is deterministic and balanced: the cells of the whole matrix, in the order the
unsharded matrix runs them (packages as named or declared, each package's variants in chain
order, each variant's prompts in spec order), are cut into N contiguous runs whose sizes
differ by at most one. Contiguous, because a variant is loaded once per shard that has any of
its cells and a load costs more than a prompt: each variant is then loaded by at most two
shards. Every job computes the same split from the same spec and arguments, with no
coordinator, and shard order joined is the unsharded order, so a merged result lists its
cells exactly as the unsharded matrix would.

Merging refuses what would make a wrong report: shards of different matrices (their counts or
planned sizes differ), a shard given twice or missing (a CI job that failed before uploading
its report must not pass as a smaller green matrix), a cell in two results, and results of
different targets or repeat counts. Each cell keeps the host and server version it ran on.
Pure: results in, result out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from modelpack.core.results.matrix import MatrixResult, ShardInfo, TargetConfig
from modelpack.errors import InputError, UsageError

T = TypeVar("T")

_SHARD = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")
_SHARD_HINT = "write --shard I/N with 1 <= I <= N, e.g. --shard 2/4 for the second of four"


@dataclass(frozen=True)
class Shard:
    index: int
    """1-based, as CI job matrices number them."""
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        match = _SHARD.fullmatch(text)
        if match is None:
            raise UsageError(f"--shard {text!r} is not I/N", hint=_SHARD_HINT)
        index, count = int(match[1]), int(match[2])
        if not 1 <= index <= count:
            raise UsageError(f"--shard {text}: I must be between 1 and N", hint=_SHARD_HINT)
        return cls(index, count)

    def take(self, items: Sequence[T]) -> list[T]:
        """This shard's contiguous share of `items`: sizes differ by at most one, and the
        shards 1..N together are `items` in order, each item once."""
        start = (self.index - 1) * len(items) // self.count
        end = self.index * len(items) // self.count
        return list(items[start:end])

    def info(self, planned: int) -> ShardInfo:
        return ShardInfo(index=self.index, count=self.count, planned=planned)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def with_cell_origin(result: MatrixResult) -> MatrixResult:
    """The result with each cell's host and server version filled from the result's own, for
    results written before cells kept them."""
    cells = [
        cell.model_copy(
            update={
                "host": cell.host or result.host,
                "server_version": cell.server_version or result.server_version,
            }
        )
        for cell in result.cells
    ]
    return result.model_copy(update={"cells": cells})


def merge(results: Sequence[tuple[str, MatrixResult]]) -> MatrixResult:
    """One result from several (source name, result) pairs: the shards of one matrix (all of
    them), or whole results of different servers. Cells are ordered by shard, else as given."""
    if not results:
        raise UsageError("nothing to merge", hint="give the JSON reports of the shards")
    _same(results, "target", lambda r: r.target)
    _same(results, "repeat count", lambda r: str(r.repeat))
    ordered = _check_shards(results)
    seen: dict[tuple[str, str, str], str] = {}
    cells = []
    for source, result in ordered:
        for cell in with_cell_origin(result).cells:
            if cell.key in seen:
                raise InputError(
                    f"cell {cell.name!r} is also in {seen[cell.key]}",
                    source=source,
                    hint="merge each shard's report once, and shards of one matrix only",
                )
            seen[cell.key] = source
            cells.append(cell)
    first = ordered[0][1]
    return MatrixResult(
        target=first.target,
        server_version=_joined(r.server_version for _, r in ordered),
        host=_joined(r.host for _, r in ordered) or first.host,
        started_at=min(r.started_at for _, r in ordered),
        finished_at=max(r.finished_at for _, r in ordered),
        # The shards run side by side: the matrix took as long as its slowest shard.
        wall_s=max(r.wall_s for _, r in ordered),
        repeat=first.repeat,
        cells=cells,
        targets=_targets(ordered),
    )


def _targets(results: Sequence[tuple[str, MatrixResult]]) -> list[TargetConfig]:
    """Every shard's target configs, each distinct one once (shards on one server report the
    same config; shards on two servers keep both)."""
    found: dict[str, TargetConfig] = {}
    for _, result in results:
        for target in result.targets:
            found.setdefault(target.model_dump_json(), target)
    return list(found.values())


def _joined(values: Iterable[str | None]) -> str | None:
    """The distinct values in order, comma-separated (the hosts of a merged result)."""
    return ", ".join(dict.fromkeys(v for v in values if v)) or None


def _same(
    results: Sequence[tuple[str, MatrixResult]], what: str, get: Callable[[MatrixResult], str]
) -> None:
    first_source, first = results[0]
    for source, result in results[1:]:
        if get(result) != get(first):
            raise InputError(
                f"its {what} is {get(result)}, but {first_source}'s is {get(first)}",
                source=source,
                hint="merge the reports of one matrix run",
            )


def _check_shards(
    results: Sequence[tuple[str, MatrixResult]],
) -> list[tuple[str, MatrixResult]]:
    sharded = [(s, r) for s, r in results if r.shard is not None]
    if not sharded:
        return list(results)
    if len(sharded) != len(results):
        whole = next(s for s, r in results if r.shard is None)
        raise InputError(
            "is a whole matrix, but the others are shards",
            source=whole,
            hint="merge the shards of one matrix, or whole results, not both",
        )
    first_source, first = sharded[0]
    assert first.shard is not None
    by_index: dict[int, str] = {}
    for source, result in sharded:
        shard = result.shard
        assert shard is not None
        if (shard.count, shard.planned) != (first.shard.count, first.shard.planned):
            raise InputError(
                f"is shard {shard} of a {shard.planned}-cell matrix, but {first_source} is "
                f"shard {first.shard} of a {first.shard.planned}-cell one",
                source=source,
                hint="merge the shards of one matrix run (same spec, packages and filters)",
            )
        if shard.index in by_index:
            raise InputError(
                f"is shard {shard}, as is {by_index[shard.index]}",
                source=source,
                hint="give each shard's report once",
            )
        by_index[shard.index] = source
    missing = [str(i) for i in range(1, first.shard.count + 1) if i not in by_index]
    if missing:
        raise UsageError(
            f"shard(s) {', '.join(missing)} of {first.shard.count} missing: a merged report "
            "would hide their cells",
            hint="give every shard's JSON report; a shard job that failed before writing one "
            "must be rerun",
        )
    return sorted(sharded, key=lambda pair: pair[1].shard.index if pair[1].shard else 0)
