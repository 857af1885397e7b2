"""The build's terminal table: readable at 80 columns, with the long sentences below it."""

from __future__ import annotations

import pytest
from rich.console import Console

from modelpack.cli.tables import build_table
from modelpack.core.results.record import BuildRecord, VariantResult
from modelpack.core.results.runs import PromptRuns, Run

CPU = "not fully on the GPU (0% offloaded)"
NO_EXPECT = "no expect: a pass only proves the output is not degenerate"


def variant(name: str, verdict: str, **fields: object) -> VariantResult:
    prompt = PromptRuns(
        prompt="p", runs=[Run(passed=verdict == "passed", answer="a", load_s=1.406)]
    )
    return VariantResult(
        variant=name, tag=f"m:pkg-{name}", verdict=verdict, prompts=[prompt], **fields
    )


def render(record: BuildRecord) -> tuple[list[str], list[str]]:
    table, notes = build_table(record)
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    return console.export_text().splitlines(), notes


def cells(lines: list[str]) -> list[list[str]]:
    """Each table row's cells, a row that wraps over several lines joined back."""
    rows: list[list[str]] = []
    for line in lines:
        if line.startswith("│"):
            parts = [part.strip() for part in line.split("│")[1:-1]]
            if rows and not parts[1]:
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], parts, strict=True)]
            else:
                rows.append(parts)
    return rows


def record(*variants: VariantResult, stable: str | None = None) -> BuildRecord:
    return BuildRecord(
        package="pkg",
        spec_digest="sha256:" + "0" * 64,
        ollama_version="0.9.3",
        host="http://127.0.0.1:11434",
        started_at="2026-11-23T10:00:00+00:00",
        finished_at="2026-11-23T10:00:09+00:00",
        variants=list(variants),
        stable_tag="m:pkg",
        stable_variant=stable,
    )


def test_rows_fit_80_columns_and_notes_go_below_grouped() -> None:
    lines, notes = render(
        record(
            variant("lightweight", "passed", warnings=[CPU], template_parity=True),
            variant("simple", "passed", warnings=[CPU], created=True),
            variant("full", "failed", reason="HTTP 500: model requires more system memory"),
            stable="simple",
        )
    )
    assert max(len(line) for line in lines) <= 80
    rows = cells(lines)
    assert [row[0] for row in rows] == ["lightweight", "simple *", "full"]
    assert [row[1] for row in rows] == ["passed (kept)", "passed", "failed"]
    assert rows[0][2:4] == ["= GGUF", "1.41"]
    assert any("kept: unchanged since the last build" in line for line in lines)
    assert notes == [
        f"lightweight, simple: {CPU}",
        f"lightweight, simple: {NO_EXPECT}",
        "full: HTTP 500: model requires more system memory",
    ]


def test_a_pass_with_every_prompt_expected_has_no_such_note() -> None:
    expected = PromptRuns(prompt="p", expect="a", runs=[Run(passed=True, answer="a")])
    _, notes = render(
        record(
            VariantResult(variant="v", tag="m:pkg-v", verdict="passed", prompts=[expected]),
            variant("w", "passed"),
        )
    )
    assert notes == [f"w: {NO_EXPECT}"]


def test_a_skipped_variant_says_so_and_why() -> None:
    too_big = "needs 373.79 MiB of RAM, 300 MiB available"
    lines, notes = render(record(variant("full", "skipped", reason=too_big)))
    ((name, verdict, *_),) = cells(lines)
    assert (name, verdict) == ("full", "skipped")
    assert not any("kept" in line for line in lines)
    assert notes == [f"full: {too_big}"]


def test_live_verdict_lines_name_each_verdict() -> None:
    """The line printed as each variant finishes: a skip is not shown as a failure."""
    from modelpack.cli.cmd_build import _Display
    from modelpack.core.results.record import Verdict
    from modelpack.jobs.events import Event, EventKind

    console = Console(width=80, record=True, color_system=None)
    display = _Display(console)
    skipped, failed, passed = Verdict.SKIPPED, Verdict.FAILED, Verdict.PASSED
    display.event(Event(EventKind.VERDICT, "full", "needs 373.79 MiB of RAM", verdict=skipped))
    display.event(Event(EventKind.VERDICT, "simple", "HTTP 500", verdict=failed))
    display.event(Event(EventKind.VERDICT, "tiny", "", verdict=passed))
    assert console.export_text().splitlines() == [
        "full skipped: needs 373.79 MiB of RAM",
        "simple failed: HTTP 500",
        "tiny passed",
    ]


def test_server_text_is_escaped_on_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """A server's 500 body reaches the table notes escaped, and cannot open rich markup."""
    from modelpack.cli.cmd_build import _table

    reason = "load failed: HTTP 500: \x1b[2J[red]boom[/red]"
    _table(record(variant("full", "failed", reason=reason)))
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\\x1b[2J[red]boom[/red]" in out


def test_each_measured_variant_gets_a_memory_line_below_the_table() -> None:
    from modelpack.core.gguf.memory import MIB
    from modelpack.core.results.memory import MemoryCheck
    from modelpack.core.results.reports import from_record, memory_lines, to_junit, to_markdown

    checked = MemoryCheck(size=445 * MIB, size_vram=0, estimated=400 * MIB, num_ctx=4096)
    built = record(
        variant("full", "passed", memory=checked),
        variant("simple", "skipped", reason="does not fit"),
        stable="full",
    )
    _, notes = render(built)
    assert "full: memory: measured 445.00 MiB, estimated 400.00 MiB (+11.2%)" in notes
    assert not any(n.startswith("simple: memory") for n in notes)
    matrix = from_record(built)
    assert memory_lines(matrix) == [
        "pkg/full: memory: measured 445.00 MiB, estimated 400.00 MiB (+11.2%)"
    ]
    markdown = to_markdown(matrix)
    assert "### Memory" in markdown and "estimated 400.00 MiB (+11.2%)" in markdown
    assert f'name="memory_size" value="{445 * MIB}"' in to_junit(matrix)
