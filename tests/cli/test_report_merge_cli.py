"""`modelpack report merge` from the command line, on saved shard reports (no server)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.core.results.matrix import Cell, MatrixResult, Run
from modelpack.core.results.reports import to_json
from modelpack.core.results.shard import Shard

CELLS = [
    Cell(
        package="pkg",
        variant=variant,
        tag=f"m:pkg-{variant}",
        prompt="France",
        runs=[Run(passed=variant != "bad", answer="Paris")],
    )
    for variant in ("full", "simple", "bad")
]


def write_shards(folder: Path, cells: list[Cell], count: int) -> list[str]:
    names = []
    for index in range(1, count + 1):
        shard = Shard(index, count)
        result = MatrixResult(
            server_version="0.9.3",
            host=f"http://127.0.0.1:{1000 + index}",
            started_at="2026-01-01T00:00:00+00:00",
            finished_at="2026-01-01T00:01:00+00:00",
            wall_s=1.0,
            shard=shard.info(len(cells)),
            cells=shard.take(cells),
        )
        name = folder / f"s{index}.json"
        name.write_text(to_json(result))
        names.append(str(name))
    return names


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": ""})


def test_merge_writes_one_report_and_exits_by_the_verdicts(tmp_path: Path) -> None:
    passing = write_shards(tmp_path, CELLS[:2], 2)
    merged = run("report", "merge", *passing, "--json", str(tmp_path / "all.json"))
    assert merged.exit_code == 0, merged.output
    data = json.loads((tmp_path / "all.json").read_text())
    assert [c["variant"] for c in data["cells"]] == ["full", "simple"]
    assert [c["host"] for c in data["cells"]] == ["http://127.0.0.1:1001", "http://127.0.0.1:1002"]

    failing = write_shards(tmp_path, CELLS, 2)
    assert run("report", "merge", *failing).exit_code == 1


def test_merge_of_an_incomplete_set_is_one_error_line(tmp_path: Path) -> None:
    names = write_shards(tmp_path, CELLS, 3)
    result = run("report", "merge", names[0], names[2], "--json", str(tmp_path / "all.json"))
    assert result.exit_code == 2
    assert result.output.startswith("error: shard(s) 2 of 3 missing")
    assert len(result.output.splitlines()) == 1
    assert not (tmp_path / "all.json").exists()


def test_report_file_still_rerenders_a_saved_result(tmp_path: Path) -> None:
    (name,) = write_shards(tmp_path, CELLS[:1], 1)
    shown = run("report", name, "--markdown", str(tmp_path / "a.md"))
    assert shown.exit_code == 0, shown.output
    assert "(shard 1/1 of the matrix)" in (tmp_path / "a.md").read_text()
    assert run("report", "show", name).exit_code == 0
