#!/usr/bin/env python3
"""How fast does modelpack read GGUF metadata? Target: milliseconds, whatever the file's size.

Reads the same files with modelpack's reader and with llama.cpp's `gguf.GGUFReader`, in the same
run, because absolute times drift on shared machines:

- the real SmolLM2-135M GGUF (98 MB, 49k-token vocabulary, 49k merges, 272 tensors);
- a synthetic model written once into a temporary folder: a 150k-token vocabulary, 150k merges,
  scores and token types, and a few thousand tensor infos whose data is a sparse region of many
  GB (`truncate`), to show that the header read does not grow with the file.

modelpack is timed with large arrays skipped (the default) and with `arrays=True` (every token
and merge decoded, as GGUFReader does). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/gguf_bench.py [--model PATH] [--tensors N] [--vocab N]
"""

from __future__ import annotations

import argparse
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import gguf  # noqa: E402

from modelpack.core.gguf import read_gguf  # noqa: E402
from modelpack.core.gguf_spec import TENSOR_BLOCK_SIZES, TensorType, ValueType  # noqa: E402

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


def write_synthetic(path: Path, *, vocab: int, n_tensors: int) -> None:
    """A llama-shaped GGUF header with a big vocabulary and many tensor infos, followed by a
    sparse data region: the file is many GB on paper and a few MB on disk."""
    kvs: list[bytes] = []

    def text(key: str, value: str) -> None:
        kvs.append(gguf_string(key) + struct.pack("<I", ValueType.STRING) + gguf_string(value))

    def scalar(key: str, vtype: ValueType, fmt: str, value: object) -> None:
        kvs.append(gguf_string(key) + struct.pack("<I", vtype) + struct.pack("<" + fmt, value))

    def array(key: str, elem: ValueType, payload: bytes, count: int) -> None:
        kvs.append(gguf_string(key) + struct.pack("<IIQ", ValueType.ARRAY, elem, count) + payload)

    layers = max(n_tensors // 9, 1)
    text("general.architecture", "llama")
    scalar("llama.block_count", ValueType.UINT32, "I", layers)
    scalar("llama.context_length", ValueType.UINT32, "I", 131072)
    scalar("llama.embedding_length", ValueType.UINT32, "I", 4096)
    scalar("llama.attention.head_count", ValueType.UINT32, "I", 32)
    scalar("llama.attention.head_count_kv", ValueType.UINT32, "I", 8)
    scalar("general.file_type", ValueType.UINT32, "I", 15)
    text("tokenizer.ggml.model", "gpt2")
    tokens = b"".join(gguf_string(f"tok{i}" if i % 7 else f"▁wörd{i}") for i in range(vocab))
    array("tokenizer.ggml.tokens", ValueType.STRING, tokens, vocab)
    scores = struct.pack(f"<{vocab}f", *[0.0] * vocab)
    array("tokenizer.ggml.scores", ValueType.FLOAT32, scores, vocab)
    types = struct.pack(f"<{vocab}i", *[1] * vocab)
    array("tokenizer.ggml.token_type", ValueType.INT32, types, vocab)
    merges = b"".join(gguf_string(f"t{i} k{i}") for i in range(vocab))
    array("tokenizer.ggml.merges", ValueType.STRING, merges, vocab)
    n_kv = len(kvs)

    infos = []
    offset = 0
    block, block_bytes = TENSOR_BLOCK_SIZES[TensorType.Q4_K]
    for i in range(n_tensors):
        ne = (4096, 4096)
        name = f"blk.{i // 9}.t{i % 9}.weight"
        infos.append(
            gguf_string(name)
            + struct.pack("<I2Q", len(ne), *ne)
            + struct.pack("<IQ", TensorType.Q4_K, offset)
        )
        n_bytes = ne[0] * ne[1] // block * block_bytes
        offset += -(-n_bytes // 32) * 32
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
    parser.add_argument("--tensors", type=int, default=3000)
    parser.add_argument("--vocab", type=int, default=150_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    if args.model.exists():
        compare(args.model.name, args.model, runs=args.runs, reader_runs=2)
    else:
        print(f"{args.model} not found (scripts/fetch_model.py fetches it); skipping it")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.gguf"
        started = time.perf_counter()
        write_synthetic(path, vocab=args.vocab, n_tensors=args.tensors)
        print(f"(synthetic file written in {time.perf_counter() - started:.1f} s)")
        compare("synthetic", path, runs=args.runs, reader_runs=1)


if __name__ == "__main__":
    main()
