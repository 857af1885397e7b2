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

__all__ = [
    "MATRIX_FORMAT",
    "MATRIX_VERSION",
    "METRICS",
    "READABLE_MATRIX_VERSIONS",
    "Cell",
    "MatrixResult",
    "Run",
    "ShardInfo",
    "Spread",
    "TargetConfig",
]

MATRIX_FORMAT: Final = "modelpack-matrix"
MATRIX_VERSION: Final = 2
"""2 added `targets` (each target's engine, version and settings), each cell's `host` and
`server_version`, and `shard`; 1 is read as it was."""
READABLE_MATRIX_VERSIONS: Final = (1, 2)


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
    host: str | None = None
    """The server the cell ran on; None in results written before cells kept it (the result's
    own `host` then says). A merged result (`modelpack report merge`) has cells of several."""
    server_version: str | None = None
    """That server's version, likewise."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.package, self.variant, self.prompt)

    @property
    def name(self) -> str:
        return f"{self.package}/{self.variant}: {self.prompt}"


class TargetConfig(_Model):
    """What served a package's cells: the engine, its version or build, and its settings as
    the spec declares them and as the server reported them (text, by setting name)."""

    package: str
    tag: str
    """The cells' tag: an Ollama variant tag, or the model asked of an OpenAI server."""
    engine: str
    """ollama, llama-server, vllm, or openai (a server that said neither)."""
    version: str | None = None
    declared: dict[str, str] = Field(default_factory=dict)
    reported: dict[str, str] = Field(default_factory=dict)

    def settings(self) -> dict[str, str]:
        """What ran: the reported value of each setting, else the declared one; with the
        engine and its version."""
        found = {"engine": self.engine, "version": self.version or "?"}
        return found | self.declared | self.reported


class ShardInfo(_Model):
    """Which share of the matrix a result holds (`modelpack matrix --shard I/N`)."""

    index: int = Field(ge=1)
    count: int = Field(ge=1)
    planned: int = Field(ge=0)
    """Cells in the whole, unsharded matrix: every shard of one matrix agrees on it."""

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class MatrixResult(_Model):
    format: Literal["modelpack-matrix"] = MATRIX_FORMAT
    version: Literal[1, 2] = MATRIX_VERSION
    target: Literal["ollama", "openai"] = "ollama"
    server_version: str | None = None
    host: str
    started_at: str
    finished_at: str
    wall_s: float
    repeat: int = 1
    shard: ShardInfo | None = None
    """Set when this result is one shard of a matrix; None for a whole or merged matrix."""
    cells: list[Cell] = Field(default_factory=list)
    targets: list[TargetConfig] = Field(default_factory=list)
    """Each package's target config, by (package, tag); empty in version 1 files."""

    def target_of(self, cell: Cell) -> TargetConfig | None:
        return next(
            (t for t in self.targets if (t.package, t.tag) == (cell.package, cell.tag)), None
        )

    @property
    def passed(self) -> bool:
        return bool(self.cells) and all(cell.passed for cell in self.cells)

    @property
    def failed(self) -> list[Cell]:
        return [cell for cell in self.cells if not cell.passed]

    def cell(self, package: str, variant: str, prompt: str) -> Cell | None:
        return next((c for c in self.cells if c.key == (package, variant, prompt)), None)
