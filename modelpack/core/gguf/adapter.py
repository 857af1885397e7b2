"""Does a LoRA adapter GGUF fit its base model? Checked from both headers, before any create.

Ollama accepts an ADAPTER of any shape at create time; the mismatch surfaces only when the
model loads (llama.cpp: "tensor has incorrect shape", the classic 4096 vs 5120 of a 7B adapter
on a 13B base). The checks mirror llama.cpp's loader (`llama-adapter.cpp`): the same
architecture; every `X.lora_a`/`X.lora_b` pair has a base tensor `X`, with `lora_a.ne[0]` equal
to the base's input size `X.ne[0]`, `lora_b.ne[1]` equal to its output size `X.ne[1]`, and the
pair sharing one rank. Problems are phrased in the model's terms (embedding length, layer count)
where the tensor says which one it is.

`pick_adapter` chooses among several candidate adapters by these facts alone, never by file
name or date, so a package that lists adapters for several bases always gets its own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from modelpack.core.gguf.control_vector import is_control_vector
from modelpack.core.gguf.reader import GGUFInfo

__all__ = ["AdapterChoice", "adapter_layers", "adapter_problems", "is_adapter", "pick_adapter"]

_LAYER = re.compile(r"^blk\.(\d+)\.")
_SHOWN = 3
_EMBEDDING_SIDES = {
    "input": (
        "attn_q.weight",
        "attn_k.weight",
        "attn_v.weight",
        "ffn_gate.weight",
        "ffn_up.weight",
    ),
    "output": ("attn_q.weight", "attn_output.weight", "ffn_down.weight"),
}
"""Which side of which weight has the embedding length, to say so instead of a bare size."""


def is_adapter(info: GGUFInfo) -> bool:
    """`general.type` says adapter, or the tensors are LoRA pairs (older converters)."""
    if info.get("general.type") == "adapter":
        return True
    return bool(info.tensors) and all(t.name.endswith((".lora_a", ".lora_b")) for t in info.tensors)


def adapter_layers(info: GGUFInfo) -> int | None:
    """Layers the adapter was made for, as far as it shows: its `block_count` key if any,
    else the highest `blk.N` it touches plus one (a lower bound)."""
    declared = info.block_count
    if declared is not None:
        return declared
    found = [int(m.group(1)) for t in info.tensors if (m := _LAYER.match(t.name))]
    return max(found) + 1 if found else None


def adapter_problems(adapter: GGUFInfo, base: GGUFInfo) -> list[str]:
    """Why `adapter` cannot be applied to `base`, one line each; empty when it fits."""
    if is_control_vector(adapter):
        return [
            f"{adapter.source} is a control vector, not a LoRA adapter (control vectors run on "
            "llama-server: declare it under serve.control_vectors)"
        ]
    if not is_adapter(adapter):
        return [f"{adapter.source} is a model, not a LoRA adapter (general.type is not 'adapter')"]
    if is_adapter(base):
        return [f"the base {base.source} is itself an adapter; FROM must name a model"]
    problems: list[str] = []
    if adapter.architecture != base.architecture:
        problems.append(
            f"architecture {adapter.architecture or '(none)'} does not match the base's "
            f"{base.architecture or '(none)'}"
        )
        return problems
    a_embd, b_embd = adapter.embedding_length, base.embedding_length
    if a_embd is not None and b_embd is not None and a_embd != b_embd:
        problems.append(f"embedding length {a_embd} does not match the base's {b_embd}")
    a_layers, b_layers = adapter_layers(adapter), base.block_count
    if a_layers is not None and b_layers is not None and a_layers > b_layers:
        problems.append(f"made for at least {a_layers} layers, the base has {b_layers}")
    problems += _tensor_problems(adapter, base, embedding=b_embd, layers=b_layers)
    if any(p.startswith("embedding length") for p in problems):
        # Every other size follows from the embedding length: naming them adds only noise.
        problems = [p for p in problems if " size " not in p]
    return _dedupe(problems)


@dataclass(frozen=True)
class AdapterChoice:
    chosen: GGUFInfo | None
    rejected: dict[str, list[str]]
    """Each candidate that does not fit, by source, with why."""
    ambiguous: list[str]
    """Sources of every fitting candidate when more than one fits (then `chosen` is None)."""


def pick_adapter(base: GGUFInfo, candidates: Sequence[GGUFInfo]) -> AdapterChoice:
    """The one candidate that fits `base`. Several fitting ones are narrowed by the adapter's
    `general.base_model.0.name` naming the base (`general.name`/`general.basename`); if that
    does not single one out, nothing is chosen: guessing would pick by accident."""
    rejected: dict[str, list[str]] = {}
    fitting: list[GGUFInfo] = []
    for candidate in candidates:
        problems = adapter_problems(candidate, base)
        if problems:
            rejected[candidate.source] = problems
        else:
            fitting.append(candidate)
    if len(fitting) > 1:
        names = {n.lower() for n in (base.name, base.get("general.basename")) if isinstance(n, str)}
        named = [c for c in fitting if _base_name(c) in names]
        if len(named) == 1:
            fitting = named
    if len(fitting) == 1:
        return AdapterChoice(fitting[0], rejected, [])
    return AdapterChoice(None, rejected, [c.source for c in fitting] if fitting else [])


def _base_name(adapter: GGUFInfo) -> str | None:
    value = adapter.get("general.base_model.0.name")
    return value.lower() if isinstance(value, str) else None


def _tensor_problems(
    adapter: GGUFInfo, base: GGUFInfo, *, embedding: int | None, layers: int | None
) -> list[str]:
    base_shapes = {t.name: t.shape for t in base.tensors}
    shapes = {t.name: t.shape for t in adapter.tensors}
    problems: list[str] = []
    missing: list[str] = []
    for name, a_shape in shapes.items():
        if not name.endswith(".lora_a"):
            continue
        target = name.removesuffix(".lora_a")
        b_shape = shapes.get(f"{target}.lora_b")
        if b_shape is None:
            problems.append(f"{target} has lora_a but no lora_b")
            continue
        if target not in base_shapes:
            missing.append(target)
            continue
        want = base_shapes[target]
        if len(a_shape) < 2 or len(b_shape) < 2 or len(want) < 2:
            problems.append(f"{target} is not a matrix in the adapter or the base")
            continue
        if a_shape[1] != b_shape[0]:
            problems.append(
                f"{target}: lora_a and lora_b ranks differ ({a_shape[1]} vs {b_shape[0]})"
            )
        if a_shape[0] != want[0]:
            problems.append(_size_problem(target, "input", a_shape[0], want[0], embedding))
        if b_shape[1] != want[1]:
            problems.append(_size_problem(target, "output", b_shape[1], want[1], embedding))
    for name in shapes:
        if name.endswith(".lora_b") and f"{name.removesuffix('.lora_b')}.lora_a" not in shapes:
            problems.append(f"{name.removesuffix('.lora_b')} has lora_b but no lora_a")
    if missing:
        shown = ", ".join(missing[:_SHOWN]) + (
            f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        )
        why = f" (the base has {layers} layers)" if layers is not None else ""
        problems.append(f"the base has no tensor {shown}{why}")
    return problems


def _size_problem(target: str, side: str, got: int, want: int, embedding: int | None) -> str:
    if want == embedding and target.endswith(_EMBEDDING_SIDES[side]):
        return f"embedding length {got} does not match the base's {want} ({target} {side})"
    return f"{target} {side} size {got} does not match the base's {want}"


def _dedupe(lines: list[str]) -> list[str]:
    """Many layers fail the same way; say each distinct problem once, first tensor named."""
    seen: dict[str, str] = {}
    for line in lines:
        key = re.sub(r"blk\.\d+\.", "blk.N.", line.split(" (", 1)[0])
        seen.setdefault(key, line)
    return list(seen.values())
