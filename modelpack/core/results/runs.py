"""The row build records and matrix results share: one prompt's runs on one model.

A build smoke-tests each variant once per prompt and a matrix may repeat each prompt, but both
run the same loop (`modelpack.jobs.smoke`) and keep its rows as they come: a `PromptRuns` per
prompt, a `Run` per generation. A build record's variant and a matrix cell therefore hold the
same data, and a report renders either without converting one into the other.
"""

from __future__ import annotations

import statistics
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["METRICS", "NO_EXPECT_NOTE", "PromptRuns", "Run", "Spread", "pass_notes"]

NO_EXPECT_NOTE = "no expect: a pass only proves the output is not degenerate"
"""What a prompt without an `expect` passed on (the judge adds it; tables show it)."""

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
    """One generation of one prompt on one model."""

    passed: bool
    answer: str = ""
    failures: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    ttft_ms: float | None = None
    """Time to first token measured on the client; the first run of a model loads it cold."""
    ttft_warm_ms: float | None = None
    """The first run only: a second, one-token generation's TTFT with the model loaded."""
    load_s: float | None = None
    """Server-reported load_duration."""
    prompt_tps: float | None = None
    decode_tps: float | None = None
    total_s: float | None = None
    """Client wall time of the whole generation."""
    server_total_s: float | None = None
    """Server-reported total_duration (for overhead accounting)."""
    eval_count: int | None = None


class Spread(_Model):
    """Median and spread of one metric over the repeated runs of a prompt."""

    median: float
    minimum: float
    maximum: float
    count: int

    @property
    def spread(self) -> float:
        """(max - min) / median: 0.1 means the runs varied by 10% of the median."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0


class PromptRuns(_Model):
    """One smoke prompt on one model: its runs (several when repeated), or why none ran."""

    prompt: str
    expect: str | None = None
    runs: list[Run] = Field(default_factory=list)
    error: str | None = None
    """Why the prompt could not run at all (the server's 500 at load, a timeout, ...)."""

    @model_validator(mode="before")
    @classmethod
    def _from_flat(cls, data: Any) -> Any:
        """Build records written before runs were shared kept one run's fields flat beside the
        prompt (`ttft_cold_ms` for the cold TTFT); read them as one run."""
        if not isinstance(data, dict) or "passed" not in data:
            return data
        flat = dict(data)
        keep = {key: flat.pop(key) for key in ("prompt", "expect") if key in flat}
        if "ttft_cold_ms" in flat:
            flat["ttft_ms"] = flat.pop("ttft_cold_ms")
        return {**keep, "runs": [flat]}

    @property
    def passed(self) -> bool:
        return self.error is None and bool(self.runs) and all(r.passed for r in self.runs)

    @property
    def failure(self) -> str | None:
        """The one-line reason a failed prompt failed."""
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


def pass_notes(prompt: PromptRuns) -> list[str]:
    """The note a passed prompt carries: without an expect, only "not degenerate" was shown."""
    return [NO_EXPECT_NOTE] if prompt.passed and prompt.expect is None else []
