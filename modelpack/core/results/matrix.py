"""The smoke-test matrix as data: packages x variants x prompts, each run one or more times.

`modelpack matrix` fills a MatrixResult, saves it as JSON, and every report (terminal table,
JUnit XML, Markdown) and every comparison with a baseline is computed from it, so a saved
result can be re-rendered later (`modelpack report`) exactly as it was first shown.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelpack.core.results.memory import MemoryCheck
from modelpack.core.results.runs import METRICS, PromptRuns, Run, Spread

__all__ = ["MATRIX_FORMAT", "MATRIX_VERSION", "METRICS", "Cell", "MatrixResult", "Run", "Spread"]

MATRIX_FORMAT: Final = "modelpack-matrix"
MATRIX_VERSION: Final = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Cell(PromptRuns):
    """One package x variant x prompt: the prompt's runs on that variant's tag."""

    package: str
    variant: str
    tag: str
    gpu_fraction: float | None = None
    memory: MemoryCheck | None = None
    """The variant's `/api/ps` size and size_vram next to modelpack's estimate (the same in
    every cell of a variant: it is loaded once for all its prompts)."""
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
