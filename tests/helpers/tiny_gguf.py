"""Tiny random-weight GGUF models of any shape, written with llama.cpp's `gguf` package.

Both real Ollama servers load and run these (the output is gibberish, as it should be), so they
make fast fixtures for every shape a test needs: an unknown architecture, a missing key, a huge
trained context, grouped-query attention, F16 or F32 weights. A few hundred KB each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np

_UNKNOWN, _NORMAL, _CONTROL, _BYTE = 2, 1, 3, 6
_WORDS = ("the", "a", "of", "and", "to", "in", "is", "it", "that", "Paris", "France", "capital")


def _vocab() -> tuple[list[str], list[float], list[int]]:
    """A byte-fallback SentencePiece vocabulary: specials, all 256 bytes, a few words."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [_UNKNOWN, _CONTROL, _CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [_BYTE] * 256
    tokens += [f"\u2581{w}" for w in _WORDS]
    types += [_NORMAL] * len(_WORDS)
    scores = [0.0] * 3 + [-1000.0] * 256 + [-float(i) for i in range(len(_WORDS))]
    return tokens, scores, types


def write_tiny_gguf(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int | None = None,
    n_ff: int | None = None,
    context_length: int = 2048,
    dtype: str = "f32",
    extra: Mapping[str, Any] | None = None,
    omit: Iterable[str] = (),
    seed: int = 0,
) -> Path:
    """Write a llama-shaped GGUF. Keys are named with `arch` (so an unknown arch stays
    consistent); `omit` drops keys by full name; `extra` adds keys (str, int, float, bool)."""
    n_head_kv = n_head_kv or n_head
    n_ff = n_ff or 2 * n_embd
    head_dim = n_embd // n_head
    omitted = set(omit)
    rng = np.random.default_rng(seed)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)
    weight_type = {"f32": np.float32, "f16": np.float16}[dtype]

    writer = gguf.GGUFWriter(str(path), arch)
    kv: dict[str, tuple[str, Any]] = {
        "general.name": ("str", f"tiny-{arch}"),
        "general.file_type": ("u32", 0 if dtype == "f32" else 1),
        f"{arch}.block_count": ("u32", n_layer),
        f"{arch}.context_length": ("u32", context_length),
        f"{arch}.embedding_length": ("u32", n_embd),
        f"{arch}.feed_forward_length": ("u32", n_ff),
        f"{arch}.attention.head_count": ("u32", n_head),
        f"{arch}.attention.head_count_kv": ("u32", n_head_kv),
        f"{arch}.attention.layer_norm_rms_epsilon": ("f32", 1e-5),
        f"{arch}.rope.dimension_count": ("u32", head_dim),
        "tokenizer.ggml.model": ("str", "llama"),
        "tokenizer.ggml.bos_token_id": ("u32", 1),
        "tokenizer.ggml.eos_token_id": ("u32", 2),
        "tokenizer.ggml.unknown_token_id": ("u32", 0),
    }
    for key, value in (extra or {}).items():
        kind = {bool: "bool", int: "u32", float: "f32", str: "str"}[type(value)]
        kv[key] = (kind, value)
    adders: dict[str, Callable[[str, Any], None]] = {
        "str": writer.add_string,
        "u32": writer.add_uint32,
        "f32": writer.add_float32,
        "bool": writer.add_bool,
    }
    for key, (kind, value) in kv.items():
        if key not in omitted:
            adders[kind](key, value)
    if "tokenizer.ggml.tokens" not in omitted:
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(weight_type)

    def norm() -> np.ndarray:
        return np.ones(n_embd, dtype=np.float32)

    n_embd_kv = head_dim * n_head_kv
    # numpy shapes are ggml's `ne` reversed: token_embd is ne {n_embd, n_vocab}.
    writer.add_tensor("token_embd.weight", weight(n_vocab, n_embd))
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(n_embd_kv, n_embd))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(n_embd_kv, n_embd))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(n_embd, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(n_ff, n_embd))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", weight(n_vocab, n_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


LORA_TARGETS = ("attn_q", "attn_k", "attn_v", "attn_output")


def write_tiny_lora(
    path: Path,
    *,
    arch: str = "llama",
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int | None = None,
    rank: int = 4,
    alpha: float = 8.0,
    base_name: str | None = None,
    targets: Iterable[str] = LORA_TARGETS,
    seed: int = 0,
) -> Path:
    """Write a LoRA adapter GGUF as llama.cpp's convert_lora_to_gguf lays it out: general.type
    `adapter`, `adapter.type` lora, `adapter.lora.alpha`, and for each target weight `X` a pair
    `X.lora_a` (ne {in, rank}) and `X.lora_b` (ne {rank, out}), F32. No base hyperparameters:
    the shapes are all that say which base it was made for."""
    n_head_kv = n_head_kv or n_head
    n_embd_kv = n_embd // n_head * n_head_kv
    out_size = {"attn_q": n_embd, "attn_k": n_embd_kv, "attn_v": n_embd_kv, "attn_output": n_embd}
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("general.name", f"tiny-{arch}-lora")
    if base_name is not None:
        writer.add_uint32("general.base_model.count", 1)
        writer.add_string("general.base_model.0.name", base_name)
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    for i in range(n_layer):
        for target in targets:
            name = f"blk.{i}.{target}.weight"
            # numpy shapes are ggml's `ne` reversed.
            a = (rng.standard_normal((rank, n_embd)) * 0.01).astype(np.float32)
            b = np.zeros((out_size[target], rank), dtype=np.float32)
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
