"""Memory estimates: measured H100 buffers, and the mechanism on shapes that were not measured.

The H100 rows are those of docs/memory.md: llama.cpp's own buffer log and nvidia-smi
"used" for synthetic Q4_0 GGUFs of two real shapes at three contexts. The other tests check the
mechanism (what scales with what, where each layer goes, sliding windows, block sizes), so a
model fitted to those rows alone would fail them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers.shaped_gguf import tensor_bytes, write_shaped_gguf

from modelpack.core.gguf.format import TensorType
from modelpack.core.gguf.memory import (
    CTX_PAD,
    CUDA_RUNTIME_OVERHEAD,
    HOST_RUNTIME_OVERHEAD,
    MIB,
    MemoryShapeError,
    ModelShape,
    estimate,
    fit,
    model_shape,
    parse_size,
)
from modelpack.core.gguf.reader import read_gguf

SMOLLM2 = {
    "n_layer": 30,
    "n_embd": 576,
    "n_head": 9,
    "n_head_kv": 3,
    "n_ff": 1536,
    "n_vocab": 49152,
}
QWEN14B = {
    "n_layer": 48,
    "n_embd": 5120,
    "n_head": 40,
    "n_head_kv": 8,
    "n_ff": 13824,
    "n_vocab": 152064,
}
# (shape, ctx, used, GPU model, KV, GPU compute, host model, host compute), MiB
H100_ROWS = [
    ("smollm2", 4096, 777, 72.32, 90, 17.51, 15.19, 8.52),
    ("smollm2", 16384, 1059, 72.32, 360, 29.51, 15.19, 20.52),
    ("smollm2", 32768, 1435, 72.32, 720, 45.51, 15.19, 36.52),
    ("qwen14b", 4096, 9001, 7507.05, 768, 125.01, 417.66, 44.02),
    ("qwen14b", 16384, 11317, 7507.05, 3072, 137.01, 417.66, 56.02),
    ("qwen14b", 32768, 14405, 7507.05, 6144, 153.01, 417.66, 72.02),
]
SHAPES = {"smollm2": SMOLLM2, "qwen14b": QWEN14B}


def shaped(tmp_path: Path, name: str = "m.gguf", **shape: object) -> ModelShape:
    return model_shape(read_gguf(write_shaped_gguf(tmp_path / name, **shape)))  # type: ignore[arg-type]


def small(tmp_path: Path, **overrides: object) -> ModelShape:
    """A small llama whose rows are multiples of 512 (no CUDA row padding to account for)."""
    shape: dict[str, object] = {
        "n_layer": 8,
        "n_embd": 1024,
        "n_head": 16,
        "n_head_kv": 4,
        "n_ff": 2048,
        "n_vocab": 4096,
        "context_length": 65536,
    }
    return shaped(tmp_path, **{**shape, **overrides})


@pytest.mark.parametrize(
    ("name", "ctx", "used", "gpu_model", "kv", "gpu_compute", "host_model", "host_compute"),
    H100_ROWS,
)
def test_h100_rows(
    tmp_path: Path,
    name: str,
    ctx: int,
    used: float,
    gpu_model: float,
    kv: float,
    gpu_compute: float,
    host_model: float,
    host_compute: float,
) -> None:
    e = estimate(shaped(tmp_path, **SHAPES[name]), ctx=ctx)
    pairs = {
        "used": (e.gpu_total, used),
        "GPU model": (e.gpu_weights, gpu_model),
        "KV": (e.gpu_kv, kv),
        "GPU compute": (e.gpu_compute, gpu_compute),
        "host model": (e.host_weights, host_model),
        "host compute": (e.host_compute, host_compute),
    }
    errors = {k: (got / MIB - want) / want for k, (got, want) in pairs.items()}
    print(name, ctx, {k: f"{v:+.2%}" for k, v in errors.items()})
    assert {k: v for k, v in errors.items() if abs(v) > 0.10} == {}
    assert e.host_kv == 0  # every layer offloaded: the whole cache is on the GPU


def test_shaped_gguf_writes_a_14b_header_fast_and_sparse(tmp_path: Path) -> None:
    start = time.perf_counter()
    path = write_shaped_gguf(tmp_path / "big.gguf", **QWEN14B)
    elapsed = time.perf_counter() - start
    info = read_gguf(path)
    assert elapsed < 0.5
    assert path.stat().st_size > 8 * 10**9
    assert path.stat().st_blocks * 512 < 10 * MIB  # a hole, not 8 GB of zeros
    assert info.block_count == 48 and info.vocab_size == 152064
    assert len(info.tensors) == 3 + 48 * 9
    assert info.tensor("blk.0.attn_k.weight").shape == (5120, 1024)


def test_kv_scales_linearly_with_ctx_and_layers(tmp_path: Path) -> None:
    shape = small(tmp_path)
    per_cell_layer = 2 * 4 * 64 * 2  # K+V x kv heads x head dim x f16
    for ctx in (256, 4096, 10000):
        e = estimate(shape, ctx=ctx)
        assert e.kv_cache == 8 * -(-ctx // CTX_PAD) * CTX_PAD * per_cell_layer
    deeper = small(tmp_path, n_layer=16)
    assert estimate(deeper, ctx=4096).kv_cache == 2 * estimate(shape, ctx=4096).kv_cache
    assert estimate(shape, ctx=4096, parallel=3).kv_cache == 3 * estimate(shape, ctx=4096).kv_cache


def test_per_layer_kv_heads(tmp_path: Path) -> None:
    heads = [2, 4, 8, 4, 2, 4, 8, 4]
    shape = small(tmp_path, n_head_kv=heads)
    assert estimate(shape, ctx=1024).kv_cache == sum(heads) * 1024 * 2 * 64 * 2


@pytest.mark.parametrize(("kv_type", "block_bytes"), [("f16", 64), ("q8_0", 34), ("q4_0", 18)])
def test_kv_types_use_ggml_block_sizes(tmp_path: Path, kv_type: str, block_bytes: int) -> None:
    shape = small(tmp_path)
    f16 = estimate(shape, ctx=8192).kv_cache
    # 32 elements take 64 bytes in f16, 34 in q8_0 (f16 scale + 32 int8), 18 in q4_0
    assert estimate(shape, ctx=8192, kv_type=kv_type).kv_cache == f16 * block_bytes // 64


def test_sliding_window_layers_are_capped_at_the_window(tmp_path: Path) -> None:
    shape = shaped(
        tmp_path,
        arch="gemma3",
        n_layer=12,
        n_embd=1152,
        n_head=4,
        n_head_kv=1,
        key_length=256,
        value_length=256,
        n_ff=6912,
        n_vocab=262144,
        tied=True,
        sliding_window=512,
    )
    assert shape.swa_layers == (True,) * 5 + (False,) + (True,) * 5 + (False,)
    cell = 2 * 256 * 2  # K+V x 1 kv head x 256 x f16
    for ctx in (4096, 32768):
        e = estimate(shape, ctx=ctx)
        window = 1024  # pad(min(ctx, 512 + ubatch 512), 256)
        assert e.swa_cells == window
        assert e.kv_cache == (10 * window + 2 * ctx) * cell
    # below the window every layer holds the whole context
    assert estimate(shape, ctx=512).kv_cache == 12 * 512 * cell


def test_sliding_window_pattern_key_and_defaults(tmp_path: Path) -> None:
    base = {"n_layer": 4, "n_embd": 512, "n_head": 8, "n_ff": 1024, "n_vocab": 1000}
    pattern = shaped(
        tmp_path,
        "p.gguf",
        arch="cohere2",
        sliding_window=256,
        sliding_window_pattern=[True, False],
        **base,
    )
    assert pattern.swa_layers == (True, False, True, False)
    gemma2 = shaped(tmp_path, "g.gguf", arch="gemma2", **base)  # no key: llama.cpp's 4096
    assert gemma2.n_swa == 4096 and gemma2.swa_layers == (True, False, True, False)
    # llama.cpp ignores a window on llama-architecture models: full cache everywhere
    llama = shaped(tmp_path, "l.gguf", sliding_window=4096, **base)
    assert not any(llama.swa_layers)
    assert estimate(llama, ctx=32768).swa_cells == 0


def test_partial_offload_moves_layers_between_host_and_gpu(tmp_path: Path) -> None:
    shape = small(tmp_path)
    layer = shape.layer_bytes[0]
    embd = shape.input_bytes
    output = shape.output_bytes
    all_layers = estimate(shape, ctx=4096)
    assert all_layers.num_gpu == 9
    assert all_layers.host_weights == embd  # the token embedding stays on the host
    assert all_layers.gpu_weights == 8 * layer + output

    kv_layer = all_layers.gpu_kv // 8
    for num_gpu in range(9):
        e = estimate(shape, ctx=4096, num_gpu=num_gpu)
        assert e.gpu_weights == num_gpu * layer  # the last num_gpu layers, no output layer
        assert e.host_weights == embd + (8 - num_gpu) * layer + output
        assert (e.gpu_kv, e.host_kv) == (num_gpu * kv_layer, (8 - num_gpu) * kv_layer)
        assert e.weights == all_layers.weights
    cpu = estimate(shape, ctx=4096, num_gpu=0)
    assert cpu.gpu_total == 0 and cpu.gpu_overhead == 0 and cpu.gpu_compute == 0
    assert cpu.host_overhead == HOST_RUNTIME_OVERHEAD
    assert estimate(shape, ctx=4096, num_gpu=1).gpu_overhead == CUDA_RUNTIME_OVERHEAD
    # layers on the CPU need the layer's activations in the host compute buffer
    assert estimate(shape, ctx=4096, num_gpu=4).host_compute > all_layers.host_compute
    with pytest.raises(ValueError, match="num_gpu must be 0 to 9"):
        estimate(shape, ctx=4096, num_gpu=10)


def test_tied_embeddings_are_copied_to_the_gpu_with_the_output_layer(tmp_path: Path) -> None:
    tied = small(tmp_path, tied=True)
    embd = tensor_bytes(TensorType.Q4_0, (1024, 4096))
    assert tied.input_bytes == embd
    full = estimate(tied, ctx=2048)
    assert full.host_weights == embd
    assert full.gpu_weights == 8 * tied.layer_bytes[0] + tied.output_bytes + embd
    # output layer on the CPU: the one token_embd serves both, nothing is copied
    part = estimate(tied, ctx=2048, num_gpu=8)
    assert part.gpu_weights == 8 * tied.layer_bytes[0]
    assert part.host_weights == embd + tied.output_bytes


def test_compute_grows_with_ctx_through_the_mask_and_with_vocab_only_at_the_output(
    tmp_path: Path,
) -> None:
    shape = small(tmp_path)
    a, b = estimate(shape, ctx=4096), estimate(shape, ctx=8192)
    assert b.gpu_compute - a.gpu_compute == 512 * 4096 * 2  # F16 mask, ubatch x ctx
    assert b.host_compute - a.host_compute == 512 * 4096 * 2
    # without flash attention the KQ scores (n_head x ctx per token, f32) dominate
    no_fa = estimate(shape, ctx=8192, flash_attention=False)
    assert no_fa.gpu_compute >= 512 * 16 * 8192 * 4
    # the logits of a whole ubatch (older llama.cpp) dwarf a small model's layers
    big_vocab = small(tmp_path, n_vocab=131072)
    assert estimate(big_vocab, ctx=4096).gpu_compute == a.gpu_compute
    assert estimate(big_vocab, ctx=4096, all_logits=True).gpu_compute >= 512 * 131072 * 4


def test_fit_returns_the_largest_num_gpu_and_num_ctx(tmp_path: Path) -> None:
    shape = shaped(tmp_path, **QWEN14B)
    vram = 8 * 1024 * MIB
    answer = fit(shape, ctx=8192, vram=vram, ram=None)
    assert answer.fits and not answer.full_offload
    g = answer.num_gpu
    assert g is not None and 0 < g < 49
    assert estimate(shape, ctx=8192, num_gpu=g).gpu_total <= vram
    assert estimate(shape, ctx=8192, num_gpu=g + 1).gpu_total > vram
    assert answer.reason is not None and f"only {g} of 49 layers" in answer.reason

    roomy = fit(shape, ctx=8192, vram=12 * 1024 * MIB, ram=None)
    assert roomy.full_offload and roomy.reason is None
    n = roomy.num_ctx
    assert n is not None and n % CTX_PAD == 0 and 8192 < n < 32768
    assert estimate(shape, ctx=n).gpu_total <= 12 * 1024 * MIB
    assert estimate(shape, ctx=n + CTX_PAD).gpu_total > 12 * 1024 * MIB

    # a 80 GiB GPU holds the trained context: num_ctx stops there
    assert fit(shape, ctx=8192, vram=80 * 1024 * MIB, ram=None).num_ctx == 32768


def test_fit_reports_why_nothing_fits(tmp_path: Path) -> None:
    shape = shaped(tmp_path, **QWEN14B)
    tiny = fit(shape, ctx=8192, vram=512 * MIB, ram=1024 * MIB)
    assert not tiny.fits and tiny.num_gpu is None and tiny.num_ctx is None
    assert tiny.reason is not None and "nothing fits" in tiny.reason
    cpu = fit(shape, ctx=8192, vram=None, ram=4 * 1024 * MIB)
    assert not cpu.fits and cpu.reason is not None and "RAM" in cpu.reason
    cpu_ok = fit(shape, ctx=8192, vram=0, ram=32 * 1024 * MIB)
    assert cpu_ok.fits and cpu_ok.num_gpu == 0 and cpu_ok.reason is None
    assert cpu_ok.estimate.gpu_total == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24GiB", 24 * 2**30),
        ("24G", 24 * 2**30),
        ("24 gib", 24 * 2**30),
        ("24GB", 24 * 10**9),
        ("512MiB", 512 * 2**20),
        ("1.5T", int(1.5 * 2**40)),
        ("8000MB", 8 * 10**9),
        ("1000", 1000),
        ("0", 0),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "24 XB", "GiB", "-1G", "24iB", "1e9", "ten"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="examples: 24GiB"):
        parse_size(text)


def test_missing_keys_and_bad_arguments(tmp_path: Path) -> None:
    path = write_shaped_gguf(
        tmp_path / "m.gguf", n_layer=2, n_embd=64, n_head=4, n_ff=128, n_vocab=100
    )
    info = read_gguf(path)
    with pytest.raises(ValueError, match="kv_type"):
        estimate(info, ctx=1024, kv_type="q5_1")
    with pytest.raises(ValueError, match="positive"):
        estimate(info, ctx=0)
    broken = write_shaped_gguf(
        tmp_path / "b.gguf",
        n_layer=2,
        n_embd=64,
        n_head=4,
        n_ff=128,
        n_vocab=100,
        extra={"llama.block_count": 0},
    )
    with pytest.raises(MemoryShapeError, match=r"llama\.block_count is missing") as caught:
        model_shape(read_gguf(broken))
    assert str(caught.value).startswith(os.fspath(broken))
