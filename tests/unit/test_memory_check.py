"""Measured memory (`/api/ps`) against the estimate, the budget, and num_ctx above the trained
context: the pure parts (`modelpack.core.results.memory`, `modelpack.core.gguf.memory`).

The real servers' figures are checked in tests/integration/test_memory_check_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.shaped_gguf import write_shaped_gguf

from modelpack.core.gguf.memory import (
    MIB,
    OLLAMA_GPU_RESERVE,
    context_cap,
    default_parallel,
    effective_num_ctx,
    model_shape,
    ollama_reported_size,
    reported_size,
)
from modelpack.core.gguf.reader import GGUFInfo, read_gguf
from modelpack.core.modelfile.lint import lint, with_trained_context
from modelpack.core.results.memory import (
    MEMORY_TOLERANCE,
    MemoryCheck,
    budget_failure,
    check_memory,
)
from modelpack.core.versions import OllamaVersion

V093 = OllamaVersion.parse("0.9.3")
V054 = OllamaVersion.parse("0.5.4")
SHAPE = {
    "n_layer": 30,
    "n_embd": 576,
    "n_head": 9,
    "n_head_kv": 3,
    "n_ff": 1536,
    "n_vocab": 49152,
    "context_length": 8192,
}


@pytest.fixture
def info(tmp_path: Path) -> GGUFInfo:
    return read_gguf(write_shaped_gguf(tmp_path / "m.gguf", **SHAPE))  # type: ignore[arg-type]


def test_default_parallel_follows_the_schedulers_history() -> None:
    """server/sched.go defaultParallel: 4 before 0.6.7, 2 to 0.9.x, 1 from 0.10.0."""
    assert [default_parallel(OllamaVersion.parse(v)) for v in ("0.5.4", "0.6.6", "0.6.7")] == [
        4,
        4,
        2,
    ]
    assert [default_parallel(OllamaVersion.parse(v)) for v in ("0.9.3", "0.9.6", "0.10.0")] == [
        2,
        2,
        1,
    ]


def test_num_ctx_is_capped_at_the_trained_context_only_from_0_9_3() -> None:
    assert effective_num_ctx(V093, requested=16384, trained=8192) == 8192
    assert effective_num_ctx(OllamaVersion.parse("0.9.2"), requested=16384, trained=8192) == 16384
    assert effective_num_ctx(V054, requested=16384, trained=8192) == 16384
    assert effective_num_ctx(V093, requested=4096, trained=8192) == 4096
    assert context_cap(V093, 4096, 8192) is None
    assert context_cap(V093, 8192, 8192) is None
    assert context_cap(V093, 16384, None) is None
    assert "caps it and runs num_ctx 8192" in (context_cap(V093, 16384, 8192) or "")
    assert "runs num_ctx 16384 as asked" in (context_cap(V054, 16384, 8192) or "")


@pytest.mark.parametrize("ctx", [2048, 4096, 8192])
@pytest.mark.parametrize("parallel", [1, 2, 4])
@pytest.mark.parametrize("tied", [False, True])
def test_expected_size_is_ollamas_own_quantity(
    tmp_path: Path, ctx: int, parallel: int, *, tied: bool
) -> None:
    """On a CPU the expected `size` is within 0.3% of Ollama 0.9.3's own formula, which equals
    `/api/ps` to the byte (tests/integration/test_memory_real.py). Without the safety layer,
    with the token embedding an untied model's estimate leaves out, or with the runtime
    overheads Ollama does not count, it would be off by several percent."""
    path = write_shaped_gguf(tmp_path / "m.gguf", tied=tied, **SHAPE)  # type: ignore[arg-type]
    shape = model_shape(read_gguf(path))
    ollama = ollama_reported_size(shape, ctx=ctx, parallel=parallel)
    ours = reported_size(shape, V093, ctx=ctx, parallel=parallel, num_gpu=0)
    assert abs(ours.size - ollama["total"]) / ollama["total"] < 0.003
    assert ours.safety_layer == ollama["buffer_layer"]
    assert ours.size_vram == 0
    assert ours.size == ours.estimate.buffers + ours.safety_layer - ours.uncounted
    assert ours.uncounted == (0 if tied else shape.input_bytes)


def test_a_gpu_load_adds_ollamas_gpu_reserve_to_size_and_vram(info: GGUFInfo) -> None:
    shape = model_shape(info)
    cpu = reported_size(shape, V093, ctx=4096, parallel=1, num_gpu=0)
    gpu = reported_size(shape, V093, ctx=4096, parallel=1, num_gpu=None)
    assert gpu.size_vram == gpu.estimate.gpu_total - gpu.estimate.gpu_overhead + (
        gpu.safety_layer + OLLAMA_GPU_RESERVE
    )
    assert gpu.size > cpu.size + OLLAMA_GPU_RESERVE - 64 * MIB
    new = reported_size(shape, OllamaVersion.parse("0.13.0"), ctx=4096, parallel=1, num_gpu=None)
    assert new.safety_layer == 0 and new.size == new.estimate.buffers


def test_check_uses_the_versions_parallel_and_the_capped_context(info: GGUFInfo) -> None:
    size = reported_size(info, V093, ctx=8192, parallel=2, num_gpu=0).size
    check = check_memory(info, {"num_ctx": 32768}, V093, size=size, size_vram=0, parallel=None)
    assert (check.num_ctx, check.parallel, check.parallel_from, check.num_gpu) == (
        8192,
        2,
        "default",
        0,
    )
    assert check.estimated == size and check.deviation == 0
    assert check.warning() is None
    old = check_memory(info, {"num_ctx": 4096}, V054, size=size, size_vram=0, parallel=None)
    assert (old.num_ctx, old.parallel) == (4096, 4)
    managed = check_memory(info, {}, V093, size=size, size_vram=0, parallel=1)
    assert (managed.num_ctx, managed.parallel, managed.parallel_from) == (4096, 1, "server")


def test_a_deviation_beyond_the_tolerance_is_a_warning_naming_the_causes(info: GGUFInfo) -> None:
    expected = reported_size(info, V093, ctx=4096, parallel=2, num_gpu=0).size
    within = check_memory(
        info, {"num_ctx": 4096}, V093, size=int(expected * 1.05), size_vram=0, parallel=None
    )
    assert within.warning() is None
    assert within.line() == (
        f"memory: measured {within.size / MIB:.2f} MiB, estimated {expected / MIB:.2f} MiB (+5.0%)"
    )
    # The case: 4-bit loading silently off, 29.8 GB for an estimated 19.3 GB.
    over = check_memory(
        info, {"num_ctx": 4096}, V093, size=int(expected * 1.544), size_vram=0, parallel=None
    )
    warning = over.warning() or ""
    assert "54% above the estimate" in warning
    assert f"tolerance {MEMORY_TOLERANCE:.0%}" in warning
    for cause in ("another model still loaded", "a different quantization", "num_ctx 4096"):
        assert cause in warning
    assert "x 2 sequences" in warning and "assumed" in warning
    under = check_memory(
        info, {"num_ctx": 4096}, V093, size=int(expected * 0.8), size_vram=0, parallel=2
    )
    assert "20% below the estimate" in (under.warning() or "")
    assert "assumed" not in (under.warning() or "")


def test_no_estimate_without_a_gguf() -> None:
    check = check_memory(None, {}, V093, size=123 * MIB, size_vram=0, parallel=None)
    assert check.estimated is None and check.warning() is None
    assert (
        check.line()
        == "memory: measured 123.00 MiB, no estimate (FROM names a model, not a GGUF file)"
    )


def test_a_measured_value_over_the_budget_fails() -> None:
    check = MemoryCheck(size=30 * 1024 * MIB, size_vram=20 * 1024 * MIB)
    assert budget_failure(check, None, None) is None
    assert budget_failure(check, 24 * 1024 * MIB, 16 * 1024 * MIB) is None
    assert budget_failure(check, 16 * 1024 * MIB, None) == (
        "memory: measured 20.00 GiB of VRAM is over the budget's 16.00 GiB"
    )
    assert budget_failure(check, 24 * 1024 * MIB, 8 * 1024 * MIB) == (
        "memory: measured 10.00 GiB of RAM is over the budget's 8.00 GiB"
    )
    cpu = MemoryCheck(size=500 * MIB, size_vram=0)
    assert budget_failure(cpu, 0, 400 * MIB) == (
        "memory: measured 500.00 MiB of RAM is over the budget's 400.00 MiB"
    )
    assert budget_failure(check, 0, None) == (
        "memory: measured 20.00 GiB of VRAM is over the budget's none (a CPU-only machine)"
    )


def test_lint_warns_on_num_ctx_above_the_trained_context_with_its_line() -> None:
    text = "FROM ./m.gguf\nPARAMETER temperature 0.2\nPARAMETER num_ctx 16384\n"
    report = lint(text, source="Modelfile", version=V093)
    assert with_trained_context(report, 32768).diagnostics == report.diagnostics
    warned = with_trained_context(report, 8192)
    [warning] = [d for d in warned.diagnostics if d.code == "num-ctx-above-trained"]
    assert warning.line == 3 and not warning.is_error
    assert "runs num_ctx 8192" in warning.message
    old = with_trained_context(lint(text, source="Modelfile", version=V054), 8192)
    assert any("runs num_ctx 16384 as asked" in d.message for d in old.diagnostics)


def test_the_runners_logged_parallel_wins_over_what_was_assumed() -> None:
    from modelpack.core.package.spec import MemoryBudget
    from modelpack.jobs.memory import ServerMemory

    line = (
        'msg="starting llama server" cmd="/x/ollama-lib runner --model /m --ctx-size 2048 '
        '--batch-size 512 --n-gpu-layers 0 --threads 2 --no-mmap --parallel 1 --port 42091"\n'
    )
    logged = ServerMemory(V054, parallel=4).check(None, 100 * MIB, 0, None, log=line).check
    assert logged is not None and (logged.parallel, logged.parallel_from) == (1, "server")
    assumed = ServerMemory(V054).check(None, 100 * MIB, 0, None).check
    assert assumed is not None and (assumed.parallel, assumed.parallel_from) == (4, "default")
    assert ServerMemory(V093).check(None, None, None, None).check is None
    budget = MemoryBudget(vram="0", ram="64MiB")
    over = ServerMemory(V093).check(None, 100 * MIB, 0, budget)
    assert over.failure == "memory: measured 100.00 MiB of RAM is over the budget's 64.00 MiB"
