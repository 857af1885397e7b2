"""Baseline comparison: real slowdowns and new failures are regressions; noise and tiny changes
are not; improvements and missing cells are reported without failing."""

from __future__ import annotations

import pytest

from modelpack.core.results.baseline import CONTENDED, NOISE_FLOOR, Finding, compare, to_text
from modelpack.core.results.matrix import Cell, MatrixResult, Run

FRANCE = "What is the capital of France?"
HAIKU = "Write a haiku about autumn."

# Three runs of each cell, with the few percent of jitter a real repeated matrix shows.
TTFT = (805.0, 812.0, 821.0)
LOAD = (0.84, 0.85, 0.87)
DECODE = (30.2, 30.5, 30.9)


def scaled(values: tuple[float, ...], factor: float) -> tuple[float, ...]:
    return tuple(value * factor for value in values)


def cell(
    variant: str = "full",
    prompt: str = FRANCE,
    *,
    ttft: tuple[float, ...] = TTFT,
    load: tuple[float, ...] = LOAD,
    decode: tuple[float, ...] = DECODE,
    total: tuple[float, ...] | None = None,
    failures: tuple[str, ...] = (),
    error: str | None = None,
    package: str = "main-gpu",
    pressure: float | None = None,
) -> Cell:
    runs = [
        Run(
            passed=not failures,
            answer="" if failures else "The capital of France is Paris.",
            failures=list(failures),
            ttft_ms=t,
            load_s=loaded,
            prompt_tps=36.4,
            decode_tps=rate,
            total_s=seconds,
            eval_count=8,
        )
        for t, loaded, rate, seconds in zip(
            ttft, load, decode, total or (2.02,) * len(ttft), strict=True
        )
    ]
    return Cell(
        package=package,
        variant=variant,
        tag=f"smollm2:{package}-{variant}",
        prompt=prompt,
        runs=[] if error else runs,
        error=error,
        gpu_fraction=1.0,
        cpu_pressure=pressure,
    )


def matrix(*cells: Cell, version: str = "0.9.3") -> MatrixResult:
    return MatrixResult(
        server_version=version,
        host="http://127.0.0.1:54023",
        started_at="2026-11-23T11:37:34+00:00",
        finished_at="2026-11-23T11:38:16+00:00",
        wall_s=42.3,
        repeat=3,
        cells=list(cells),
    )


def baseline() -> MatrixResult:
    return matrix(
        cell("full"),
        cell("full", HAIKU, ttft=(58.0, 61.0, 63.0)),
        cell("simple", ttft=(930.0, 941.0, 950.0), decode=(28.8, 29.1, 29.4)),
        cell("q4", package="qwen-cpu", load=(1.9, 2.0, 2.05), decode=(12.1, 12.3, 12.4)),
    )


def with_cell(result: MatrixResult, replacement: Cell) -> MatrixResult:
    cells = [replacement if c.key == replacement.key else c for c in result.cells]
    assert cells != result.cells, "the replacement must match a cell"
    return result.model_copy(update={"cells": cells})


def messages(findings: list[Finding]) -> list[str]:
    return [finding.message for finding in findings]


def test_identical_rerun_is_clean():
    comparison = compare(baseline(), baseline())
    assert comparison.ok
    assert (comparison.regressions, comparison.improvements, comparison.notes) == ([], [], [])
    assert comparison.compared == 4
    assert to_text(comparison).startswith("baseline comparison ok: 0 regressions, 0 improvements")


def test_an_injected_30_percent_slowdown_is_a_regression():
    current = with_cell(baseline(), cell("full", ttft=scaled(TTFT, 1.3)))
    comparison = compare(current, baseline())
    assert not comparison.ok
    assert messages(comparison.regressions) == [
        'main-gpu/full "What is the capital of France?": ttft_ms 812 -> 1056 ms (+30%)'
    ]
    (finding,) = comparison.regressions
    assert (finding.kind, finding.metric, finding.key) == (
        "slower",
        "ttft_ms",
        current.cells[0].key,
    )
    assert finding.change == pytest.approx(0.3)
    assert comparison.improvements == []


def test_lower_throughput_and_longer_load_are_regressions():
    current = with_cell(
        baseline(),
        cell("q4", package="qwen-cpu", load=(2.6, 2.7, 2.75), decode=(9.1, 9.2, 9.3)),
    )
    assert messages(compare(current, baseline()).regressions) == [
        'qwen-cpu/q4 "What is the capital of France?": load_s 2.00 -> 2.70 s (+35%)',
        'qwen-cpu/q4 "What is the capital of France?": decode_tps 12.3 -> 9.20 tok/s (-25%)',
    ]


def test_a_change_below_the_threshold_is_not_flagged():
    current = with_cell(baseline(), cell("full", ttft=scaled(TTFT, 1.15)))
    assert compare(current, baseline()).ok
    assert not compare(current, baseline(), threshold=0.1).ok


def test_a_change_within_the_runs_spread_is_noise():
    # Medians 812 -> 1000 ms (+23%), but the runs are all over the place on both sides: their
    # median absolute deviations (103 + 240 ms) exceed the 188 ms change.
    noisy_before = with_cell(baseline(), cell("full", ttft=(700.0, 812.0, 915.0)))
    noisy_after = with_cell(baseline(), cell("full", ttft=(760.0, 1000.0, 1240.0)))
    assert compare(noisy_after, noisy_before).regressions == []
    # The same medians with tight runs are a real slowdown.
    tight_after = with_cell(baseline(), cell("full", ttft=(990.0, 1000.0, 1012.0)))
    assert messages(compare(tight_after, baseline()).regressions) == [
        'main-gpu/full "What is the capital of France?": ttft_ms 812 -> 1000 ms (+23%)'
    ]


def test_a_cold_first_run_does_not_hide_a_slowdown():
    # The first run of a variant loads the model; the warm runs' TTFT went up 35%.
    before = matrix(cell("full", ttft=(1763.0, 50.0, 52.0)))
    after = matrix(cell("full", ttft=(1900.0, 68.0, 70.0)))
    assert messages(compare(after, before).regressions) == [
        'main-gpu/full "What is the capital of France?": ttft_ms 52.0 -> 70.0 ms (+35%)'
    ]


def test_tiny_absolute_changes_are_noise():
    before = matrix(cell("full", ttft=(3.0,), load=(0.02,), decode=(30.5,)))
    after = matrix(cell("full", ttft=(4.0,), load=(0.04,), decode=(30.5,)))
    comparison = compare(after, before)
    assert comparison.ok
    assert comparison.improvements == []
    assert NOISE_FLOOR["ttft_ms"] > 1.0
    assert not compare(after, before, noise={}).ok


def test_a_metric_that_was_zero_is_reported_without_a_percentage():
    before = matrix(cell("full", ttft=(812.0,), load=(0.0,), decode=(30.5,)))
    after = matrix(cell("full", ttft=(812.0,), load=(0.6,), decode=(30.5,)))
    assert messages(compare(after, before).regressions) == [
        'main-gpu/full "What is the capital of France?": load_s 0.00 -> 0.60 s (from 0)'
    ]


def test_a_new_failure_is_a_regression():
    current = with_cell(baseline(), cell("simple", failures=("empty answer",)))
    current = with_cell(current, cell("q4", package="qwen-cpu", error="load failed: HTTP 500"))
    comparison = compare(current, baseline())
    assert messages(comparison.regressions) == [
        'main-gpu/simple "What is the capital of France?": now fails (run 1: empty answer), '
        "passed in the baseline",
        'qwen-cpu/q4 "What is the capital of France?": now fails (load failed: HTTP 500), '
        "passed in the baseline",
    ]
    assert {finding.kind for finding in comparison.regressions} == {"failing"}


def test_a_failure_in_both_is_a_note_and_a_fix_is_an_improvement():
    failing = with_cell(baseline(), cell("simple", failures=("empty answer",)))
    still = compare(failing, failing)
    assert still.ok
    assert messages(still.notes) == [
        'main-gpu/simple "What is the capital of France?": still fails (run 1: empty answer)'
    ]
    fixed = compare(baseline(), failing)
    assert fixed.ok
    assert messages(fixed.improvements) == [
        'main-gpu/simple "What is the capital of France?": now passes (failed in the baseline)'
    ]


def test_improvements_are_listed_but_do_not_fail():
    current = with_cell(
        baseline(), cell("full", ttft=scaled(TTFT, 0.6), decode=scaled(DECODE, 1.4))
    )
    comparison = compare(current, baseline())
    assert comparison.ok
    assert messages(comparison.improvements) == [
        'main-gpu/full "What is the capital of France?": ttft_ms 812 -> 487 ms (-40%)',
        'main-gpu/full "What is the capital of France?": decode_tps 30.5 -> 42.7 tok/s (+40%)',
    ]
    assert {finding.kind for finding in comparison.improvements} == {"faster"}


def test_missing_and_new_cells_are_notes():
    before = baseline()
    current = matrix(*before.cells[1:], cell("lightweight", ttft=(650.0, 655.0, 660.0)))
    comparison = compare(current, before, threshold=0.2)
    assert comparison.ok
    assert comparison.compared == 3
    assert messages(comparison.notes) == [
        'main-gpu/lightweight "What is the capital of France?": new, not in the baseline',
        'main-gpu/full "What is the capital of France?": in the baseline, missing now',
    ]
    assert [finding.kind for finding in comparison.notes] == ["new", "missing"]


def test_a_new_server_version_is_noted():
    comparison = compare(matrix(*baseline().cells, version="0.10.0"), baseline())
    assert comparison.ok
    assert messages(comparison.notes) == ["server version 0.9.3 -> 0.10.0"]


def test_messages_stay_on_one_line():
    long_prompt = "Explain, step by step,\nhow a transformer model turns a prompt into tokens."
    before = matrix(cell("full", long_prompt))
    after = matrix(cell("full", long_prompt, ttft=scaled(TTFT, 1.5)))
    (finding,) = compare(after, before).regressions
    assert finding.message == (
        'main-gpu/full "Explain, step by step, how a transfor...": ttft_ms 812 -> 1218 ms (+50%)'
    )
    failing = matrix(cell("full", long_prompt, failures=("degenerate:\nthe the the",)))
    (finding,) = compare(failing, before).regressions
    assert finding.message.endswith(
        ": now fails (run 1: degenerate: the the the), passed in the baseline"
    )


def test_to_text_lists_every_finding_under_a_summary():
    current = with_cell(baseline(), cell("full", ttft=scaled(TTFT, 1.3)))
    current = with_cell(current, cell("simple", decode=scaled(DECODE, 1.5)))
    current = matrix(*current.cells[:3], version="0.10.0")
    text = to_text(compare(current, baseline()))
    assert text.splitlines() == [
        "baseline comparison REGRESSED: 1 regression, 1 improvement, 2 notes "
        "(3 cells compared, threshold 20%)",
        'REGRESSION  main-gpu/full "What is the capital of France?": ttft_ms 812 -> 1056 ms (+30%)',
        'improved    main-gpu/simple "What is the capital of France?": decode_tps 29.1 -> 45.8 '
        "tok/s (+57%)",
        "note        server version 0.9.3 -> 0.10.0",
        'note        qwen-cpu/q4 "What is the capital of France?": in the baseline, missing now',
    ]


def test_a_negative_threshold_is_refused():
    with pytest.raises(ValueError, match="threshold"):
        compare(baseline(), baseline(), threshold=-0.1)


# Shaped like real reruns of the test matrix (SmolLM2, 2 runs a cell, a 2-core machine): quiet,
# tasks waited for the CPU 5% of a cell's time; with one CPU hog, 71-92%, and every metric was
# 3-30x worse while a cell's two runs still agreed (decode 29.9 -> 3.8 and 3.8 tok/s).
QUIET = 0.05
LOADED = 0.92


def contended(result: MatrixResult, pressure: float) -> MatrixResult:
    cells = [c.model_copy(update={"cpu_pressure": pressure}) for c in result.cells]
    return result.model_copy(update={"cells": cells})


def loaded_rerun(pressure: float) -> MatrixResult:
    """+95% total_s, 3x the TTFT, a tenth of the decode rate, with tight repeats."""
    slow = cell(
        "full",
        ttft=scaled(TTFT, 3.0),
        decode=scaled(DECODE, 0.1),
        total=(3.90, 3.94, 3.99),
        pressure=pressure,
    )
    return with_cell(contended(baseline(), QUIET), slow)


def test_a_loaded_rerun_is_not_judged_on_timing() -> None:
    comparison = compare(loaded_rerun(LOADED), contended(baseline(), QUIET))
    assert comparison.ok
    assert comparison.improvements == []
    assert messages(comparison.notes) == [
        "timing of 1 of 4 cells not judged: the CPU was contended (tasks waited for it up to "
        "92% of the time now, 5% in the baseline); compare runs made on a quiet machine"
    ]


def test_the_same_slowdown_on_a_quiet_machine_is_a_regression() -> None:
    comparison = compare(loaded_rerun(QUIET), contended(baseline(), QUIET))
    assert messages(comparison.regressions) == [
        'main-gpu/full "What is the capital of France?": ttft_ms 812 -> 2436 ms (+200%)',
        'main-gpu/full "What is the capital of France?": decode_tps 30.5 -> 3.05 tok/s (-90%)',
        'main-gpu/full "What is the capital of France?": total_s 2.02 -> 3.94 s (+95%)',
    ]
    assert comparison.notes == []


def test_a_contended_baseline_is_not_judged_either() -> None:
    """Measured under load, the baseline would make a quiet rerun look 3x faster."""
    before = with_cell(contended(baseline(), QUIET), cell("full", ttft=scaled(TTFT, 3.0)))
    before = with_cell(before, cell("full", ttft=scaled(TTFT, 3.0), pressure=LOADED))
    comparison = compare(contended(baseline(), QUIET), before)
    assert (comparison.regressions, comparison.improvements) == ([], [])
    assert messages(comparison.notes) == [
        "timing of 1 of 4 cells not judged: the CPU was contended (tasks waited for it up to "
        "5% of the time now, 92% in the baseline); compare runs made on a quiet machine"
    ]


def test_contention_is_judged_from_its_threshold_up() -> None:
    at_limit = with_cell(baseline(), cell("full", ttft=scaled(TTFT, 3.0), pressure=CONTENDED))
    assert not compare(at_limit, baseline()).ok
    above = with_cell(baseline(), cell("full", ttft=scaled(TTFT, 3.0), pressure=CONTENDED + 0.01))
    assert compare(above, baseline()).ok


def test_real_regressions_with_tight_repeats_are_still_flagged_on_a_quiet_machine() -> None:
    halved = with_cell(baseline(), cell("full", decode=scaled(DECODE, 0.5), pressure=QUIET))
    assert messages(compare(halved, contended(baseline(), QUIET)).regressions) == [
        'main-gpu/full "What is the capital of France?": decode_tps 30.5 -> 15.2 tok/s (-50%)'
    ]
    three_times = with_cell(
        baseline(),
        cell("q4", package="qwen-cpu", ttft=scaled(TTFT, 3.0), total=(6.0, 6.06, 6.1)),
    )
    assert messages(compare(three_times, baseline()).regressions) == [
        'qwen-cpu/q4 "What is the capital of France?": ttft_ms 812 -> 2436 ms (+200%)',
        'qwen-cpu/q4 "What is the capital of France?": total_s 2.02 -> 6.06 s (+200%)',
    ]


def test_a_cold_first_run_that_varies_is_noise_not_a_regression() -> None:
    """The first prompt of a variant, 2 runs: cold, then warm (the baseline's figures are a
    real cell's). The rerun's cold load took longer: +96% total_s, but the load alone spreads
    the two runs wider than that, and the warm run did not change."""
    before = matrix(
        cell("a", ttft=(1363.0, 61.0), load=(0.87, 0.01), decode=(31.3, 30.1), total=(1.62, 0.32))
    )
    after = matrix(
        cell("a", ttft=(2690.0, 66.0), load=(2.40, 0.01), decode=(30.4, 30.0), total=(3.46, 0.34))
    )
    assert compare(after, before).ok


def test_a_new_failure_is_a_regression_however_busy_the_machine() -> None:
    failing = cell("simple", failures=("empty answer",), pressure=0.98)
    comparison = compare(with_cell(contended(baseline(), 0.98), failing), baseline())
    assert messages(comparison.regressions) == [
        'main-gpu/simple "What is the capital of France?": now fails (run 1: empty answer), '
        "passed in the baseline"
    ]
    assert "timing of 4 of 4 cells not judged" in messages(comparison.notes)[0]


# --- the config that served each cell -------------------------------------------------------


def _served(
    quantization: str, decode: tuple[float, ...], *, variant: str = "openai"
) -> MatrixResult:
    from modelpack.core.results.matrix import TargetConfig

    served = cell(variant, decode=decode)
    result = matrix(served).model_copy(update={"target": "openai"})
    config = TargetConfig(
        package="main-gpu",
        tag=served.tag,
        engine="vllm",
        version="0.10.1.1",
        declared={"quantization": "awq_marlin", "max_model_len": "8192"},
        reported={"quantization": quantization},
    )
    return result.model_copy(update={"targets": [config]})


def test_a_regression_names_the_config_that_changed() -> None:
    before = _served("awq_marlin", (96.5, 96.9, 97.2))
    now = _served("awq", (74.4, 74.6, 74.9))
    comparison = compare(now, before)
    (regression,) = comparison.regressions
    assert regression.message == (
        f'main-gpu/openai "{FRANCE}": decode_tps 96.9 -> 74.6 tok/s '
        "(-23%; quantization awq_marlin -> awq)"
    )
    assert "main-gpu (smollm2:main-gpu-openai): config quantization awq_marlin -> awq" in [
        n.message for n in comparison.notes
    ]


def test_an_unchanged_config_adds_nothing() -> None:
    before = _served("awq_marlin", (96.5, 96.9, 97.2))
    now = _served("awq_marlin", (74.4, 74.6, 74.9))
    (regression,) = compare(now, before).regressions
    assert regression.message.endswith("(-23%)")


def test_version_1_results_have_no_config() -> None:
    (regression,) = compare(matrix(cell(decode=scaled(DECODE, 0.5))), matrix(cell())).regressions
    assert regression.message.endswith("(-50%)")


def test_an_ollama_run_compares_with_an_openai_run_by_package_and_prompt() -> None:
    ollama = matrix(cell("full"))
    openai = matrix(cell("openai", decode=scaled(DECODE, 0.5)))
    assert compare(openai, ollama).compared == 0
    comparison = compare(openai, ollama, match=("package", "prompt"))
    assert comparison.compared == 1
    (regression,) = comparison.regressions
    assert regression.metric == "decode_tps"


def test_matching_by_package_and_prompt_refuses_to_guess() -> None:
    two = matrix(cell("full"), cell("simple"))
    with pytest.raises(ValueError, match=r"more than one cell for main-gpu / .*full and simple"):
        compare(matrix(cell("openai")), two, match=("package", "prompt"))
    with pytest.raises(ValueError, match="cells match by"):
        compare(two, two, match=("tag",))
