"""Sharding the matrix (`--shard I/N`) and merging the shards' results (`report merge`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import xmlschema
from hypothesis import given
from hypothesis import strategies as st

from modelpack.core.results.matrix import Cell, MatrixResult, Run
from modelpack.core.results.reports import JUNIT_XSD, load_result, to_json, to_junit, to_markdown
from modelpack.core.results.shard import Shard, merge
from modelpack.errors import InputError, UsageError


@given(items=st.lists(st.integers(), max_size=60), count=st.integers(1, 12))
def test_shards_partition_the_cells_in_order_and_balance_them(items: list[int], count: int) -> None:
    shares = [Shard(index, count).take(items) for index in range(1, count + 1)]
    assert [x for share in shares for x in share] == items  # each cell once, in order
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    # Deterministic: the same split every time.
    assert shares == [Shard(index, count).take(list(items)) for index in range(1, count + 1)]


def test_a_variant_is_split_over_at_most_two_shards() -> None:
    cells = [(variant, prompt) for variant in "abcde" for prompt in range(4)]
    for count in (2, 3, 4, 7):
        owners: dict[str, set[int]] = {}
        for index in range(1, count + 1):
            for variant, _ in Shard(index, count).take(cells):
                owners.setdefault(variant, set()).add(index)
        assert all(len(shards) <= 2 for shards in owners.values()), (count, owners)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2", "--shard '2' is not I/N"),
        ("a/b", "--shard 'a/b' is not I/N"),
        ("0/4", "--shard 0/4: I must be between 1 and N"),
        ("5/4", "--shard 5/4: I must be between 1 and N"),
        ("1/0", "--shard 1/0: I must be between 1 and N"),
    ],
)
def test_a_bad_shard_is_one_usage_error(text: str, message: str) -> None:
    with pytest.raises(UsageError) as error:
        Shard.parse(text)
    assert error.value.message == message
    assert Shard.parse(" 2 / 4 ") == Shard(2, 4)


def _cell(variant: str, prompt: str, *, passed: bool = True) -> Cell:
    return Cell(
        package="pkg",
        variant=variant,
        tag=f"m:pkg-{variant}",
        prompt=prompt,
        runs=[Run(passed=passed, answer="Paris", ttft_ms=10.0)],
    )


CELLS = [_cell(v, p) for v in ("full", "simple", "lite") for p in ("France", "Germany")]


def _shard(index: int, count: int, host: str, version: str = "0.9.3") -> MatrixResult:
    shard = Shard(index, count)
    return MatrixResult(
        server_version=version,
        host=host,
        started_at=f"2026-01-01T00:00:0{index}+00:00",
        finished_at=f"2026-01-01T00:01:0{index}+00:00",
        wall_s=10.0 * index,
        shard=shard.info(len(CELLS)),
        cells=[
            c.model_copy(update={"host": host, "server_version": version})
            for c in shard.take(CELLS)
        ],
    )


def test_merged_shards_are_the_whole_matrix_in_order_with_each_cells_server() -> None:
    a, b = "http://127.0.0.1:1111", "http://127.0.0.1:2222"
    shards = [_shard(i, 4, a if i % 2 else b, "0.9.3" if i % 2 else "0.5.4") for i in (1, 2, 3, 4)]
    # Given in any order, the result is in shard order.
    merged = merge(
        [
            (f"s{i}.json", r)
            for i, r in zip((3, 1, 4, 2), [shards[k] for k in (2, 0, 3, 1)], strict=True)
        ]
    )
    assert [c.key for c in merged.cells] == [c.key for c in CELLS]
    assert {c.host for c in merged.cells} == {a, b}
    # Six cells in four shards of 1, 2, 1 and 2: odd shards on a (0.9.3), even ones on b.
    assert [c.server_version for c in merged.cells] == ["0.9.3", *["0.5.4"] * 2, "0.9.3"] + [
        "0.5.4"
    ] * 2
    assert merged.host == f"{a}, {b}"
    assert merged.server_version == "0.9.3, 0.5.4"
    assert merged.shard is None
    assert merged.wall_s == 40.0  # the slowest shard
    assert merged.started_at.endswith("00:00:01+00:00")
    assert merged.passed
    # The per-cell origin survives JSON, and JUnit and Markdown show it.
    again = load_result(to_json(merged), source="merged.json")
    assert again == merged
    xml = to_junit(merged)
    xmlschema.XMLSchema(JUNIT_XSD).validate(xml)
    hosts = [
        p.get("value")
        for p in ET.fromstring(xml).iter("property")
        if p.get("name") == "host" and p.get("value") in (a, b)
    ]
    assert len(hosts) == len(CELLS)
    markdown = to_markdown(merged)
    assert "Cells by server:" in markdown
    assert (
        "- http://127.0.0.1:1111 (ollama 0.9.3): 2\n- http://127.0.0.1:2222 (ollama 0.5.4): 4\n"
        in markdown
    )


def test_a_missing_shard_is_an_error_not_a_smaller_green_matrix() -> None:
    shards = [_shard(i, 3, "http://h:1") for i in (1, 3)]
    with pytest.raises(UsageError, match=r"shard\(s\) 2 of 3 missing"):
        merge([(f"s{i}.json", r) for i, r in enumerate(shards)])


def test_a_shard_given_twice_or_of_another_run_is_refused() -> None:
    one = _shard(1, 2, "http://h:1")
    with pytest.raises(InputError, match=r"^b.json: is shard 1/2, as is a.json"):
        merge([("a.json", one), ("b.json", one), ("c.json", _shard(2, 2, "http://h:1"))])
    other = _shard(2, 3, "http://h:1")
    with pytest.raises(InputError, match=r"^b.json: is shard 2/3 of a 6-cell matrix, but a.json"):
        merge([("a.json", one), ("b.json", other)])
    repeated = _shard(2, 2, "http://h:1").model_copy(update={"repeat": 3})
    with pytest.raises(InputError, match=r"^b.json: its repeat count is 3, but a.json's is 1"):
        merge([("a.json", one), ("b.json", repeated)])


def test_whole_results_of_two_servers_merge_and_a_cell_in_both_is_refused() -> None:
    first = MatrixResult(
        server_version="0.9.3",
        host="http://a:1",
        started_at="t1",
        finished_at="t2",
        wall_s=1.0,
        cells=CELLS[:2],  # written before cells kept their host: the result's is used
    )
    second = first.model_copy(
        update={"host": "http://b:2", "server_version": "0.5.4", "cells": CELLS[2:]}
    )
    merged = merge([("a.json", first), ("b.json", second)])
    assert [(c.host, c.server_version) for c in merged.cells][1:3] == [
        ("http://a:1", "0.9.3"),
        ("http://b:2", "0.5.4"),
    ]
    with pytest.raises(InputError, match=r"^b.json: cell 'pkg/full: France' is also in a.json"):
        merge([("a.json", first), ("b.json", first)])


def test_a_failed_cell_in_one_shard_fails_the_merged_matrix() -> None:
    bad = _shard(2, 2, "http://h:1")
    bad = bad.model_copy(update={"cells": [_cell("lite", "x", passed=False)]})
    good = _shard(1, 2, "http://h:1")
    assert not merge([("a", good), ("b", bad)]).passed


def test_merged_shards_keep_each_distinct_target_config_once() -> None:
    """`--baseline` names config changes from `targets`: a merge must not drop them."""
    from modelpack.core.results.matrix import TargetConfig

    def config(host: str, version: str) -> TargetConfig:
        return TargetConfig(
            package="pkg", tag="m:pkg-full", engine="ollama", version=version,
            declared={"num_ctx": "4096"}, reported={"num_ctx": "4096"},
        )  # fmt: skip

    shards = [_shard(i, 2, "http://127.0.0.1:1111") for i in (1, 2)]
    same = [s.model_copy(update={"targets": [config("a", "0.9.3")]}) for s in shards]
    assert merge([("s1.json", same[0]), ("s2.json", same[1])]).targets == [config("a", "0.9.3")]
    other = same[1].model_copy(update={"targets": [config("b", "0.5.4")]})
    merged = merge([("s1.json", same[0]), ("s2.json", other)])
    assert [t.version for t in merged.targets] == ["0.9.3", "0.5.4"]
