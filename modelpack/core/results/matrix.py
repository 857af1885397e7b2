"""The smoke-test matrix as data: packages x variants x prompts, each run one or more times.

`modelpack matrix` fills a MatrixResult, saves it as JSON, and every report (terminal table,
JUnit XML, Markdown) and every comparison with a baseline is computed from it, so a saved
result can be re-rendered later (`modelpack report`) exactly as it was first shown.
"""

from __future__ import annotations

import statistics
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MATRIX_FORMAT: Final = "modelpack-matrix"
MATRIX_VERSION: Final = 1

# The metrics a run has, the direction that is better, and their unit, for reports and
# baselines. TTFT and load are times (lower is better); rates are higher-is-better.
METRICS: dict[str, tuple[Literal["lower", "higher"], str]] = {
    "ttft_ms": ("lower", "ms"),
    "load_s": ("lower", "s"),
    "decode_tps": ("higher", "tok/s"),
    "prompt_tps": ("higher", "tok/s"),
    "total_s": ("lower", "s"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Run(_Model):
    """One generation of one prompt on one variant."""

    passed: bool
    answer: str = ""
    failures: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    ttft_ms: float | None = None
    """Time to first token measured on the client."""
    load_s: float | None = None
    """Server-reported load_duration (the first run of a variant loads it cold)."""
    prompt_tps: float | None = None
    decode_tps: float | None = None
    total_s: float | None = None
    """Client wall time of the whole generation."""
    server_total_s: float | None = None
    """Server-reported total_duration (for overhead accounting)."""
    eval_count: int | None = None


class Spread(_Model):
    """Median and spread of one metric over the repeated runs of a cell."""

    median: float
    minimum: float
    maximum: float
    count: int

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.1 means the runs varied by 10% of the median."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0


class Cell(_Model):
    """One package x variant x prompt, with its runs (several when repeated)."""

    package: str
    variant: str
    tag: str
    prompt: str
    expect: str | None = None
    runs: list[Run] = Field(default_factory=list)
    error: str | None = None
    """Why the cell could not run at all (e.g. the server's 500 at load)."""
    gpu_fraction: float | None = None
    cpu_pressure: float | None = None
    """Share of the cell's wall time in which some task on this machine waited for a CPU
    (Linux PSI), when the server ran on this machine; None where not measured. A baseline
    comparison does not judge the timing of a contended cell (`modelpack.edge.load`)."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.package, self.variant, self.prompt)

    @property
    def name(self) -> str:
        return f"{self.package}/{self.variant}: {self.prompt}"

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.runs) and all(r.passed for r in self.runs)

    @property
    def failure(self) -> str | None:
        """The one-line reason a failed cell failed."""
        if self.error:
            return self.error
        for index, run in enumerate(self.runs):
            if not run.passed:
                prefix = f"run {index + 1}: " if len(self.runs) > 1 else ""
                return prefix + "; ".join(run.failures or ["failed"])
        return None if self.runs else "no runs"

    def stat(self, metric: str) -> Spread | None:
        values = [v for v in (getattr(r, metric) for r in self.runs) if v is not None]
        if not values:
            return None
        return Spread(
            median=statistics.median(values),
            minimum=min(values),
            maximum=max(values),
            count=len(values),
        )


class MatrixResult(_Model):
    format: Literal["modelpack-matrix"] = MATRIX_FORMAT
    version: Literal[1] = MATRIX_VERSION
    target: Literal["ollama", "openai"] = "ollama"
    server_version: str | None = None
    host: str
    started_at: str
    finished_at: str
    wall_s: float
    repeat: int = 1
    cells: list[Cell] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.cells) and all(cell.passed for cell in self.cells)

    @property
    def failed(self) -> list[Cell]:
        return [cell for cell in self.cells if not cell.passed]

    def cell(self, package: str, variant: str, prompt: str) -> Cell | None:
        return next((c for c in self.cells if c.key == (package, variant, prompt)), None)
