"""Synthetic GGUF files of real model shapes (a 14B model in milliseconds, a few KB on disk).

Memory estimates need the header only: the metadata and the tensor table with every tensor's
shape and type. This writer emits exactly that with `struct`, places the tensors as llama.cpp
lays them out (in order, aligned) and makes the data region a hole with `truncate`, so the file
has its real size but no data blocks. `read_gguf` accepts it like any model; llama.cpp would
load it too if it had a tokenizer (it has `{arch}.vocab_size` instead, which is all the
estimate needs).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

from modelpack.core.gguf.format import TENSOR_BLOCK_SIZES, TensorType, ValueType

_ALIGN = 32


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(value: object) -> bytes:
    if isinstance(value, bool):
        return struct.pack("<IB", ValueType.BOOL, value)
    if isinstance(value, int):
        return struct.pack("<II", ValueType.UINT32, value)
    if isinstance(value, float):
        return struct.pack("<If", ValueType.FLOAT32, value)
    if isinstance(value, str):
        return struct.pack("<I", ValueType.STRING) + _string(value)
    if isinstance(value, list | tuple):
        if all(isinstance(v, bool) for v in value):
            body = b"".join(struct.pack("<B", v) for v in value)
            return struct.pack("<IIQ", ValueType.ARRAY, ValueType.BOOL, len(value)) + body
        body = b"".join(struct.pack("<I", v) for v in value)
        return struct.pack("<IIQ", ValueType.ARRAY, ValueType.UINT32, len(value)) + body
    raise TypeError(f"unsupported metadata value {value!r}")


def tensor_bytes(ttype: TensorType, shape: Sequence[int]) -> int:
    block, size = TENSOR_BLOCK_SIZES[ttype]
    n = 1
    for dim in shape:
        n *= dim
    return n // block * size


def write_shaped_gguf(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int,
    n_embd: int,
    n_head: int,
    n_head_kv: int | Sequence[int] | None = None,
    n_ff: int,
    n_vocab: int,
    context_length: int = 32768,
    weight_type: TensorType = TensorType.Q4_0,
    tied: bool = False,
    key_length: int | None = None,
    value_length: int | None = None,
    sliding_window: int | None = None,
    sliding_window_pattern: int | Sequence[bool] | None = None,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write a llama-layout GGUF header of this shape with a sparse data region.

    `n_head_kv` may be a list (one per layer); `tied` leaves out `output.weight`, as models that
    share the token embedding do; `key_length`/`value_length` set a head size other than
    n_embd / n_head (gemma). Norms are F32, every matrix is `weight_type`.
    """
    kv_heads = n_head if n_head_kv is None else n_head_kv
    per_layer = list(kv_heads) if not isinstance(kv_heads, int) else [kv_heads] * n_layer
    head_k = key_length or n_embd // n_head
    head_v = value_length or n_embd // n_head

    metadata: dict[str, object] = {
        "general.architecture": arch,
        "general.name": f"shaped-{arch}-{n_layer}x{n_embd}",
        "general.file_type": 2 if weight_type == TensorType.Q4_0 else 1,
        f"{arch}.block_count": n_layer,
        f"{arch}.context_length": context_length,
        f"{arch}.embedding_length": n_embd,
        f"{arch}.feed_forward_length": n_ff,
        f"{arch}.attention.head_count": n_head,
        f"{arch}.attention.head_count_kv": kv_heads if isinstance(kv_heads, int) else per_layer,
        f"{arch}.attention.layer_norm_rms_epsilon": 1e-6,
        f"{arch}.rope.dimension_count": head_k,
        f"{arch}.vocab_size": n_vocab,
    }
    if key_length is not None:
        metadata[f"{arch}.attention.key_length"] = key_length
    if value_length is not None:
        metadata[f"{arch}.attention.value_length"] = value_length
    if sliding_window is not None:
        metadata[f"{arch}.attention.sliding_window"] = sliding_window
    if sliding_window_pattern is not None:
        metadata[f"{arch}.attention.sliding_window_pattern"] = (
            sliding_window_pattern
            if isinstance(sliding_window_pattern, int)
            else [bool(v) for v in sliding_window_pattern]
        )
    metadata.update(extra or {})

    f32, w = TensorType.F32, weight_type
    tensors: list[tuple[str, tuple[int, ...], TensorType]] = [
        ("token_embd.weight", (n_embd, n_vocab), w)
    ]
    for il, heads_kv in enumerate(per_layer):
        tensors += [
            (f"blk.{il}.attn_norm.weight", (n_embd,), f32),
            (f"blk.{il}.attn_q.weight", (n_embd, n_head * head_k), w),
            (f"blk.{il}.attn_k.weight", (n_embd, heads_kv * head_k), w),
            (f"blk.{il}.attn_v.weight", (n_embd, heads_kv * head_v), w),
            (f"blk.{il}.attn_output.weight", (n_head * head_v, n_embd), w),
            (f"blk.{il}.ffn_norm.weight", (n_embd,), f32),
            (f"blk.{il}.ffn_gate.weight", (n_embd, n_ff), w),
            (f"blk.{il}.ffn_up.weight", (n_embd, n_ff), w),
            (f"blk.{il}.ffn_down.weight", (n_ff, n_embd), w),
        ]
    tensors.append(("output_norm.weight", (n_embd,), f32))
    if not tied:
        tensors.append(("output.weight", (n_embd, n_vocab), w))

    header = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for key, value in metadata.items():
        header += _string(key) + _value(value)
    offset = 0
    for name, shape, ttype in tensors:
        header += _string(name) + struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
        header += struct.pack("<IQ", ttype, offset)
        offset += -(-tensor_bytes(ttype, shape) // _ALIGN) * _ALIGN
    header += b"\0" * (-len(header) % _ALIGN)
    with open(path, "wb") as out:
        out.write(header)
        out.truncate(len(header) + offset)  # a hole: no data blocks are written
    return path
