"""A loaded variant's memory as the server reports it, checked against modelpack's estimate.

The smoke loop reads `size` and `size_vram` from `/api/ps` while the variant is loaded. They are
kept here next to what modelpack expected for that same load (`reported_size` in
`modelpack.core.gguf.memory`: the variant's num_ctx as Ollama runs it, its num_gpu, the KV cache
type and the server's parallel sequences), so that a surprise is said at once:

- a measured value over the declared budget (`ollama.memory`, `--vram`, `--ram`) fails the
  variant: `size_vram` against the VRAM budget, the rest (`size - size_vram`) against the RAM
  budget, or all of `size` against RAM on a CPU-only budget;
- a deviation from the estimate beyond `MEMORY_TOLERANCE` is a warning naming the likely
  causes. docs/memory.md says why the tolerance is what it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, ConfigDict

from modelpack.core.gguf.memory import format_size

if TYPE_CHECKING:
    from modelpack.core.gguf.reader import GGUFInfo
    from modelpack.core.versions import OllamaVersion

__all__ = ["MEMORY_TOLERANCE", "MemoryCheck", "budget_failure", "check_memory"]

MEMORY_TOLERANCE: Final = 0.10
"""How far `/api/ps` `size` may lie from the estimate before it is a warning. On the real
Ollama 0.9.3 and 0.5.4 CPU runners the two agree within 0.2%; the margin is for what was not
measured (Ollama's own graph formula for other architectures, its GPU reserve). The surprises it
is there to catch are far larger: 4-bit loading silently off (+54%), a context other than the
one asked for, another quantization (Q8_0 is 1.7 times Q4_1)."""


class MemoryCheck(BaseModel):
    """`/api/ps` figures for one loaded variant and modelpack's estimate of them (bytes)."""

    model_config = ConfigDict(extra="forbid")

    size: int
    """`/api/ps` `size`: all the memory the server says the model takes."""
    size_vram: int | None = None
    """`/api/ps` `size_vram`: the part of it on GPUs."""
    estimated: int | None = None
    """modelpack's estimate of `size`; None when it could not be made (FROM names a model,
    or the GGUF lacks the keys an estimate needs)."""
    estimated_vram: int | None = None
    num_ctx: int | None = None
    """num_ctx per sequence the estimate is for: the variant's, as the server runs it."""
    num_gpu: int | None = None
    """Layers on the GPU the estimate is for (the output layer counts as one; 0: CPU)."""
    kv_type: str = "f16"
    parallel: int | None = None
    """Sequences the server loads a model with (OLLAMA_NUM_PARALLEL, or the version's default)."""
    parallel_from: str | None = None
    """Where `parallel` comes from: "server" (the managed server's environment) or "default"
    (the version's default, assumed for a server modelpack does not manage)."""
    tolerance: float = MEMORY_TOLERANCE
    note: str | None = None
    """Why there is no estimate, when there is none."""

    @property
    def deviation(self) -> float | None:
        """(measured - estimated) / estimated; None without an estimate."""
        if not self.estimated:
            return None
        return (self.size - self.estimated) / self.estimated

    def line(self) -> str:
        """`memory: measured 445.10 MiB, estimated 445.50 MiB (-0.1%)`, with the VRAM part
        when the model is on a GPU at all."""
        measured = format_size(self.size)
        if self.size_vram:
            measured += f" ({format_size(self.size_vram)} VRAM)"
        if self.estimated is None:
            return f"memory: measured {measured}, no estimate" + (
                f" ({self.note})" if self.note else ""
            )
        deviation = self.deviation
        change = f" ({deviation:+.1%})" if deviation is not None else ""
        return f"memory: measured {measured}, estimated {format_size(self.estimated)}{change}"

    def warning(self) -> str | None:
        """The deviation beyond the tolerance, with its likely causes; None within it."""
        deviation = self.deviation
        if deviation is None or abs(deviation) <= self.tolerance:
            return None
        direction = "above" if deviation > 0 else "below"
        sequences = f" x {self.parallel} sequences" if self.parallel and self.parallel > 1 else ""
        assumed = (
            " (assumed: the version's default, as the server is not managed by modelpack)"
            if self.parallel_from == "default"
            else ""
        )
        return (
            f"memory: measured {format_size(self.size)} is {abs(deviation):.0%} {direction} the "
            f"estimate {format_size(self.estimated or 0)} (tolerance {self.tolerance:.0%}); "
            "likely causes: another model still loaded, a different quantization than declared, "
            f"or a context other than the num_ctx {self.num_ctx}{sequences} requested{assumed}"
        )


def budget_failure(check: MemoryCheck, vram: int | None, ram: int | None) -> str | None:
    """Why the measured memory breaks the budget (`vram`, `ram` in bytes; None: not declared;
    `vram` 0: a CPU-only machine); None when it keeps to it."""
    on_gpu = check.size_vram or 0
    if vram is not None and on_gpu > vram:
        return f"memory: measured {format_size(on_gpu)} of VRAM is over the budget's " + (
            format_size(vram) if vram else "none (a CPU-only machine)"
        )
    host = check.size - on_gpu
    if ram is not None and host > ram:
        return (
            f"memory: measured {format_size(host)} of RAM is over the budget's {format_size(ram)}"
        )
    return None


def check_memory(
    info: GGUFInfo | None,
    parameters: Mapping[str, object],
    version: OllamaVersion,
    *,
    size: int,
    size_vram: int | None,
    parallel: int | None,
    kv_type: str = "f16",
    vram: int | None = None,
) -> MemoryCheck:
    """`/api/ps` figures for a variant loaded from `info` with `parameters`, next to the
    estimate for that load. `parallel` None: the server is not managed by modelpack, and the
    version's default is assumed. `vram`: the budget's, for the default num_ctx of versions
    that choose it by VRAM. A GGUF the estimate cannot read gives a check without one."""
    from modelpack.core.gguf.memory import (
        DEFAULT_UBATCH,
        MemoryShapeError,
        default_parallel,
        effective_num_ctx,
        model_shape,
        reported_size,
    )

    sequences = parallel or default_parallel(version)
    check = MemoryCheck(
        size=size,
        size_vram=size_vram,
        kv_type=kv_type,
        parallel=sequences,
        parallel_from="server" if parallel else "default",
    )
    if info is None:
        return check.model_copy(update={"note": "FROM names a model, not a GGUF file"})
    try:
        shape = model_shape(info)
    except MemoryShapeError as exc:
        return check.model_copy(update={"note": exc.message})
    requested = parameters.get("num_ctx")
    ctx = effective_num_ctx(
        version,
        requested=requested if isinstance(requested, int) else None,
        vram=vram,
        trained=shape.context_length,
    )
    layers = parameters.get("num_gpu")
    if not size_vram:
        num_gpu: int | None = 0  # the server ran it on the CPU, whatever was asked
    elif isinstance(layers, int) and 0 <= layers <= shape.n_layer + 1:
        num_gpu = layers
    else:
        num_gpu = None  # all layers: a partial offload shows as a deviation
    batch = parameters.get("num_batch")
    # The runner passes num_batch as llama.cpp's n_batch; its n_ubatch stays at most 512.
    ubatch = min(batch, DEFAULT_UBATCH) if isinstance(batch, int) and batch > 0 else DEFAULT_UBATCH
    expected = reported_size(
        shape,
        version,
        ctx=ctx,
        parallel=sequences,
        kv_type=kv_type,
        num_gpu=num_gpu,
        ubatch=ubatch,
    )
    return check.model_copy(
        update={
            "estimated": expected.size,
            "estimated_vram": expected.size_vram,
            "num_ctx": ctx,
            "num_gpu": expected.estimate.num_gpu,
        }
    )
