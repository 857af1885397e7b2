"""Comparing a matrix result with a baseline (the last release's), so QA sees regressions.

Cells are matched by (package, variant, prompt). For every metric in `METRICS` that both cells
have, the change of the medians counts when it is worse (or better) by more than `threshold` of
the baseline value, *and* it is not noise:

- it is at least the metric's absolute floor (`NOISE_FLOOR`: 5 ms of TTFT, 50 ms of load, ...),
  so 3 ms -> 4 ms of TTFT is not "33% slower";
- it is larger than the two cells' spreads added up, where a cell's spread is the median
  absolute deviation (MAD) of its repeated runs: the median distance of a run from the cell's
  median. Both medians move by less than that when the runs merely jitter. MAD and not the
  range, because the first run of a variant loads the model: its TTFT is a cold outlier (1.7 s
  among 50 ms runs) that would widen a range until no real slowdown could be seen. One run (or
  two equal ones) has no spread, so unrepeated cells are judged on the threshold and floor alone;
- neither side's CPU was contended while the cell ran: `Cell.cpu_pressure`, the share of its
  time in which some task on the machine waited for a CPU, is at most `CONTENDED` (25%).
  Contention is not jitter that repeats reveal: one busy-looping process on a 2-core machine
  slowed SmolLM2 3-30x in every metric, server-measured decode rate included (ggml's threads
  wait for each other), while the repeats of a cell still agreed. No spread rule tells that
  apart from a real 3x regression without also excusing the real one, so the contention is
  measured instead, and a contended cell's timing is left unjudged, with a note. Quiet runs
  measure near 5%; a cell measured nowhere (old files, no Linux PSI, a remote server) is
  judged as before.

A cell that passed in the baseline and fails now is a regression; one that failed and passes now
is an improvement. Cells found on one side only, cells that still fail or were not run, a
changed server version and timing left unjudged for contention are notes: worth reading, never
a failure. Verdicts are judged however busy the machine was. Pure: no I/O, no clock.

Each side records what served its cells (`MatrixResult.targets`: engine, version or build,
declared and reported settings). Where a cell's target config differs between the two sides,
its regressions say how, so a slowdown names its likely cause: `decode_tps 96.9 -> 74.6 tok/s
(-23%; quantization awq_marlin -> awq)`, and one note per target lists the changes.

Cells are matched by (package, variant, prompt) by default. `match=("package", "prompt")`
compares an Ollama run with an OpenAI-engine run of the same package (whose only variant is
"openai"); a key that more than one cell of a side has is an error, since the pairing would be a
guess (filter the Ollama run with --variant).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from modelpack.core.results.matrix import METRICS, Cell, MatrixResult, TargetConfig

DEFAULT_THRESHOLD = 0.2

MATCH_FIELDS = ("package", "variant", "prompt")
"""What a cell can be matched by; the default matches by all three."""

NOISE_FLOOR: Mapping[str, float] = {
    "ttft_ms": 5.0,
    "load_s": 0.05,
    "decode_tps": 1.0,
    "prompt_tps": 5.0,
    "total_s": 0.05,
}
"""The smallest absolute change of each metric worth reporting, in the metric's unit."""

CONTENDED = 0.25
"""The share of a cell's time with tasks waiting for a CPU above which its timing is not judged.
Quiet reruns of the test matrix measured 5%; with one CPU hog on 2 cores, 71-92%."""

Kind = Literal["slower", "faster", "failing", "fixed", "missing", "new", "info"]


@dataclass(frozen=True)
class Finding:
    """One line of a comparison: what changed, for which cell, and by how much."""

    kind: Kind
    message: str
    key: tuple[str, str, str] | None = None
    metric: str | None = None
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    """Relative change of the median, (current - baseline) / baseline: +0.33 is 33% more."""

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Comparison:
    """Regressions fail a release check; improvements and notes are only reported."""

    threshold: float
    compared: int
    """How many cells were found on both sides."""
    regressions: list[Finding] = field(default_factory=list)
    improvements: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.regressions


def compare(
    current: MatrixResult,
    baseline: MatrixResult,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    noise: Mapping[str, float] = NOISE_FLOOR,
    match: tuple[str, ...] = MATCH_FIELDS,
) -> Comparison:
    """Compare every cell of `current` with the baseline's cell of the same key.

    `noise` maps a metric to the smallest absolute change that counts (`NOISE_FLOOR`; pass `{}`
    to count any change beyond the threshold and the runs' spread).
    """
    if threshold < 0:
        raise ValueError(f"threshold must not be negative, got {threshold}")
    unknown = [f for f in match if f not in MATCH_FIELDS]
    if unknown or not match:
        raise ValueError(
            f"cells match by {', '.join(MATCH_FIELDS)}, not {', '.join(unknown) or 'nothing'}"
        )
    regressions: list[Finding] = []
    improvements: list[Finding] = []
    notes: list[Finding] = _context_notes(current, baseline)
    before = _keyed(baseline, match, "the baseline")
    now = _keyed(current, match, "this run")
    compared = 0
    contended: list[tuple[Cell, Cell]] = []
    changed: dict[tuple[str, str, str, str], str] = {}
    for key, cell in now.items():
        old = before.get(key)
        if old is None:
            notes.append(Finding("new", f"{label(cell)}: new, not in the baseline", cell.key))
            continue
        compared += 1
        config = config_changes(baseline.target_of(old), current.target_of(cell))
        if config:
            changed[(old.package, old.tag, cell.package, cell.tag)] = config
        _compare_verdicts(cell, old, regressions, improvements, notes)
        if _contended(cell) or _contended(old):
            contended.append((cell, old))
            continue
        for metric in METRICS:
            finding = _compare_metric(
                cell, old, metric, threshold, noise.get(metric, 0.0), config=config
            )
            if finding is None:
                continue
            (regressions if finding.kind == "slower" else improvements).append(finding)
    for key, old in before.items():
        if key not in now:
            notes.append(Finding("missing", f"{label(old)}: in the baseline, missing now", old.key))
    for (_, old_tag, package, tag), config in changed.items():
        where = tag if tag == old_tag else f"{old_tag} -> {tag}"
        notes.append(Finding("info", f"{package} ({where}): config {config}"))
    if contended:
        notes.append(_unjudged(contended, compared))
    return Comparison(threshold, compared, regressions, improvements, notes)


def _keyed(result: MatrixResult, match: tuple[str, ...], side: str) -> dict[tuple[str, ...], Cell]:
    keyed: dict[tuple[str, ...], Cell] = {}
    for cell in result.cells:
        key = tuple(getattr(cell, f) for f in match)
        if key in keyed:
            raise ValueError(
                f"{side} has more than one cell for {' / '.join(key)} "
                f"({keyed[key].variant} and {cell.variant}) when matching by {', '.join(match)}"
            )
        keyed[key] = cell
    return keyed


def config_changes(before: TargetConfig | None, now: TargetConfig | None) -> str:
    """How what served a cell changed, as "quantization awq_marlin -> awq, version b1 -> b2";
    empty when either side is not recorded or nothing changed."""
    if before is None or now is None:
        return ""
    old, new = before.settings(), now.settings()
    parts = []
    for name in [*old, *(n for n in new if n not in old)]:
        if old.get(name) != new.get(name):
            parts.append(f"{name} {old.get(name, 'not set')} -> {new.get(name, 'not set')}")
    return ", ".join(parts)


def to_text(comparison: Comparison) -> str:
    """The comparison for a terminal or a log: a summary line, then one line per finding."""
    lines = [summary(comparison)]
    for title, findings in (
        ("REGRESSION", comparison.regressions),
        ("improved  ", comparison.improvements),
        ("note      ", comparison.notes),
    ):
        lines += [f"{title}  {finding.message}" for finding in findings]
    return "\n".join(lines) + "\n"


def summary(comparison: Comparison) -> str:
    """One line: the verdict and the counts, with the threshold used."""
    counts = ", ".join(
        _plural(len(findings), word)
        for findings, word in (
            (comparison.regressions, "regression"),
            (comparison.improvements, "improvement"),
            (comparison.notes, "note"),
        )
    )
    verdict = "ok" if comparison.ok else "REGRESSED"
    return (
        f"baseline comparison {verdict}: {counts} "
        f"({_plural(comparison.compared, 'cell')} compared, threshold {comparison.threshold:.0%})"
    )


def label(cell: Cell) -> str:
    """`package/variant "prompt"` on one line, the prompt shortened to stay readable."""
    prompt = _one_line(cell.prompt)
    if len(prompt) > 40:
        prompt = prompt[:37] + "..."
    return f'{cell.package}/{cell.variant} "{prompt}"'


def format_value(value: float) -> str:
    """A metric value with as many digits as its size deserves: 812, 30.5, 0.85."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _context_notes(current: MatrixResult, baseline: MatrixResult) -> list[Finding]:
    notes: list[Finding] = []
    if current.target != baseline.target:
        notes.append(Finding("info", f"target {baseline.target} -> {current.target}"))
    if current.server_version != baseline.server_version:
        notes.append(
            Finding(
                "info",
                f"server version {baseline.server_version or '?'} -> "
                f"{current.server_version or '?'}",
            )
        )
    if current.repeat != baseline.repeat:
        notes.append(Finding("info", f"repeat {baseline.repeat} -> {current.repeat}"))
    return notes


def status(cell: Cell) -> Literal["passed", "failed", "not run"]:
    """A cell's verdict; "not run" is a cell with neither runs nor an error (a skipped build)."""
    if cell.passed:
        return "passed"
    return "not run" if not cell.runs and cell.error is None else "failed"


def _contended(cell: Cell) -> bool:
    return cell.cpu_pressure is not None and cell.cpu_pressure > CONTENDED


def _unjudged(pairs: list[tuple[Cell, Cell]], compared: int) -> Finding:
    """One note for every cell whose timing a contended CPU made meaningless."""

    def worst(cells: list[Cell]) -> str:
        shares = [c.cpu_pressure for c in cells if c.cpu_pressure is not None]
        return f"{max(shares):.0%}" if shares else "not measured"

    now = worst([cell for cell, _ in pairs])
    before = worst([old for _, old in pairs])
    return Finding(
        "info",
        f"timing of {len(pairs)} of {_plural(compared, 'cell')} not judged: the CPU was "
        f"contended (tasks waited for it up to {now} of the time now, {before} in the "
        "baseline); compare runs made on a quiet machine",
    )


def _compare_verdicts(
    cell: Cell,
    old: Cell,
    regressions: list[Finding],
    improvements: list[Finding],
    notes: list[Finding],
) -> None:
    now, before = status(cell), status(old)
    if now == before == "passed":
        return
    if now == "failed" and before == "passed":
        message = f"{label(cell)}: now fails ({_one_line(cell.failure)}), passed in the baseline"
        regressions.append(Finding("failing", message, cell.key))
    elif now == "passed":
        improvements.append(
            Finding("fixed", f"{label(cell)}: now passes ({before} in the baseline)", cell.key)
        )
    elif now == "failed":
        notes.append(
            Finding("failing", f"{label(cell)}: still fails ({_one_line(cell.failure)})", cell.key)
        )
    else:
        was = "nor in the baseline" if before == "not run" else f"{before} in the baseline"
        notes.append(Finding("info", f"{label(cell)}: not run now, {was}", cell.key))


def _compare_metric(
    cell: Cell, old: Cell, metric: str, threshold: float, floor: float, *, config: str = ""
) -> Finding | None:
    """A slower/faster finding for one metric, or None when unchanged, noise or missing."""
    now, before = cell.stat(metric), old.stat(metric)
    if now is None or before is None:
        return None
    delta = now.median - before.median
    if abs(delta) < floor or abs(delta) <= deviation(cell, metric) + deviation(old, metric):
        return None
    change = delta / before.median if before.median else math.copysign(math.inf, delta)
    better, unit = METRICS[metric]
    worse = -change if better == "higher" else change
    if abs(worse) <= threshold:
        return None
    percent = "from 0" if math.isinf(change) else f"{change:+.0%}"
    because = f"; {config}" if config else ""
    message = (
        f"{label(cell)}: {metric} {format_value(before.median)} -> "
        f"{format_value(now.median)} {unit} ({percent}{because})"
    )
    kind: Kind = "slower" if worse > 0 else "faster"
    return Finding(kind, message, cell.key, metric, before.median, now.median, change)


def deviation(cell: Cell, metric: str) -> float:
    """The median absolute deviation of a metric over a cell's runs (0 for one run)."""
    values: list[float] = [
        value for value in (getattr(run, metric) for run in cell.runs) if value is not None
    ]
    if not values:
        return 0.0
    middle = statistics.median(values)
    return statistics.median(abs(value - middle) for value in values)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
