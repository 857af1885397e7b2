#!/usr/bin/env python3
"""How fast does modelpack read GGUF metadata? Target: milliseconds, whatever the file's size.

Reads the same files with modelpack's reader and with llama.cpp's `gguf.GGUFReader`, in the same
run, because absolute times drift on shared machines:

- the real SmolLM2-135M GGUF (98 MB, 49k-token vocabulary, 49k merges, 272 tensors);
- a synthetic header shaped like a 7B model (Qwen2.5-7B: 28 layers, 339 tensor infos) with a
  152,064-token vocabulary, as many merges and token types, written once into a temporary
  folder; its tensor data is a sparse region of several GB (`truncate`), to show that the header
  read does not grow with the file.

modelpack is timed with large arrays skipped (the default) and with `arrays=True` (every token
and merge decoded, as GGUFReader does). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/gguf_bench.py [--model PATH] [--vocab N]

Targets (issue 7): at least 50x faster than GGUFReader, under 20 ms for SmolLM2.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import gguf  # noqa: E402

from modelpack.core.gguf.format import TENSOR_BLOCK_SIZES, TensorType, ValueType  # noqa: E402
from modelpack.core.gguf.reader import read_gguf  # noqa: E402

SMOLLM2 = REPO / "gguf" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def best_of(runs: int, work: Callable[[], object]) -> float:
    """Fastest of `runs` calls, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


SEVEN_B = (28, 3584, 18944, 28, 4)
"""Qwen2.5-7B's shape: layers, embedding, feed-forward, heads, KV heads."""


def write_synthetic(path: Path, *, vocab: int) -> None:
    """A GGUF header shaped like a 7B model (Qwen2.5-7B: 28 layers, 339 tensors, Q4_K_M-like
    mix) with a `vocab`-token vocabulary and merges, followed by a sparse data region: the
    file is several GB on paper and a few MB on disk."""
    kvs: list[bytes] = []

    def text(key: str, value: str) -> None:
        kvs.append(gguf_string(key) + struct.pack("<I", ValueType.STRING) + gguf_string(value))

    def scalar(key: str, vtype: ValueType, fmt: str, value: object) -> None:
        kvs.append(gguf_string(key) + struct.pack("<I", vtype) + struct.pack("<" + fmt, value))

    def array(key: str, elem: ValueType, payload: bytes, count: int) -> None:
        kvs.append(gguf_string(key) + struct.pack("<IIQ", ValueType.ARRAY, elem, count) + payload)

    layers, embd, ff, heads, kv_heads = SEVEN_B
    text("general.architecture", "qwen2")
    scalar("qwen2.block_count", ValueType.UINT32, "I", layers)
    scalar("qwen2.context_length", ValueType.UINT32, "I", 131072)
    scalar("qwen2.embedding_length", ValueType.UINT32, "I", embd)
    scalar("qwen2.feed_forward_length", ValueType.UINT32, "I", ff)
    scalar("qwen2.attention.head_count", ValueType.UINT32, "I", heads)
    scalar("qwen2.attention.head_count_kv", ValueType.UINT32, "I", kv_heads)
    scalar("general.file_type", ValueType.UINT32, "I", 15)
    text("tokenizer.ggml.model", "gpt2")
    tokens = b"".join(gguf_string(f"tok{i}" if i % 7 else f"▁wörd{i}") for i in range(vocab))
    array("tokenizer.ggml.tokens", ValueType.STRING, tokens, vocab)
    types = struct.pack(f"<{vocab}i", *[1] * vocab)
    array("tokenizer.ggml.token_type", ValueType.INT32, types, vocab)
    merges = b"".join(gguf_string(f"t{i} k{i}") for i in range(vocab))
    array("tokenizer.ggml.merges", ValueType.STRING, merges, vocab)
    n_kv = len(kvs)

    kv_dim = embd // heads * kv_heads
    shapes: list[tuple[str, tuple[int, ...], TensorType]] = [
        ("token_embd.weight", (embd, vocab), TensorType.Q4_K)
    ]
    for i in range(layers):
        shapes += [
            (f"blk.{i}.attn_norm.weight", (embd,), TensorType.F32),
            (f"blk.{i}.attn_q.weight", (embd, embd), TensorType.Q4_K),
            (f"blk.{i}.attn_q.bias", (embd,), TensorType.F32),
            (f"blk.{i}.attn_k.weight", (embd, kv_dim), TensorType.Q4_K),
            (f"blk.{i}.attn_k.bias", (kv_dim,), TensorType.F32),
            (f"blk.{i}.attn_v.weight", (embd, kv_dim), TensorType.Q6_K),
            (f"blk.{i}.attn_v.bias", (kv_dim,), TensorType.F32),
            (f"blk.{i}.attn_output.weight", (embd, embd), TensorType.Q4_K),
            (f"blk.{i}.ffn_norm.weight", (embd,), TensorType.F32),
            (f"blk.{i}.ffn_gate.weight", (embd, ff), TensorType.Q4_K),
            (f"blk.{i}.ffn_up.weight", (embd, ff), TensorType.Q4_K),
            (f"blk.{i}.ffn_down.weight", (ff, embd), TensorType.Q6_K),
        ]
    shapes += [
        ("output_norm.weight", (embd,), TensorType.F32),
        ("output.weight", (embd, vocab), TensorType.Q6_K),
    ]
    infos = []
    offset = 0
    for name, ne, ttype in shapes:
        infos.append(
            gguf_string(name)
            + struct.pack(f"<I{len(ne)}Q", len(ne), *ne)
            + struct.pack("<IQ", ttype, offset)
        )
        block, block_bytes = TENSOR_BLOCK_SIZES[ttype]
        n_bytes = math.prod(ne) // block * block_bytes
        offset += -(-n_bytes // 32) * 32
    n_tensors = len(shapes)
    header = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + b"".join(kvs) + b"".join(infos)
    header += b"\0" * (-len(header) % 32)
    with path.open("wb") as f:
        f.write(header)
        f.truncate(len(header) + offset)


def compare(label: str, path: Path, *, runs: int, reader_runs: int) -> None:
    info = read_gguf(path)
    on_disk = path.stat().st_blocks * 512
    print(
        f"{label}: {path.stat().st_size / 1e9:.2f} GB ({on_disk / 1e6:.1f} MB on disk), "
        f"{len(info.metadata)} keys, {len(info.tensors)} tensors, "
        f"vocabulary {info.vocab_size}, header {info.data_offset / 1e6:.2f} MB"
    )
    skipped = best_of(runs, lambda: read_gguf(path))
    full = best_of(max(runs // 3, 1), lambda: read_gguf(path, arrays=True))
    reader = best_of(reader_runs, lambda: gguf.GGUFReader(path))
    print(f"  modelpack read_gguf, large arrays skipped  {skipped * 1e3:9.1f} ms")
    print(f"  modelpack read_gguf, arrays=True           {full * 1e3:9.1f} ms")
    print(f"  gguf.GGUFReader (gguf {version()})             {reader * 1e3:9.1f} ms")
    print(
        f"  GGUFReader / modelpack: {reader / skipped:.0f}x (skipped), "
        f"{reader / full:.0f}x (arrays=True)"
    )


def version() -> str:
    from importlib.metadata import version as dist_version

    return dist_version("gguf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=SMOLLM2)
    parser.add_argument("--vocab", type=int, default=152_064)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    if args.model.exists():
        compare(args.model.name, args.model, runs=args.runs, reader_runs=2)
    else:
        print(f"{args.model} not found (scripts/fetch_model.py fetches it); skipping it")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.gguf"
        started = time.perf_counter()
        write_synthetic(path, vocab=args.vocab)
        print(f"(synthetic file written in {time.perf_counter() - started:.1f} s)")
        compare("synthetic 7B-shaped", path, runs=args.runs, reader_runs=1)


if __name__ == "__main__":
    main()
