"""llama.cpp control vectors: recognise one, and check it against a base model, from headers.

A control vector (what llama.cpp's `cvector-generator` writes) is a GGUF with
`general.architecture = "controlvector"`, `controlvector.model_hint` (the architecture it was
made on), `controlvector.layer_count`, and one F32 tensor `direction.N` of shape [n_embd] per
layer N it steers (N from 1: layer 0 is never steered). llama.cpp's loader
(`common_control_vector_load_one` in common/common.cpp) refuses a file whose direction tensors
are not F32, not 1-D, of differing lengths, or numbered 0 or not at all, and then the whole
server fails to start; `llama_adapter_cvec::apply` refuses a vector whose n_embd is not the
model's ("control vector n_embd does not match model"), and directions for layers the model
does not have (N >= n_layer) are silently never applied. The same rules are checked here,
before anything starts: a vector made for a 4096-wide model is refused for a 576-wide base.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from modelpack.core.gguf.reader import GGUFInfo

__all__ = [
    "ControlVectorFacts",
    "control_vector_facts",
    "control_vector_problems",
    "is_control_vector",
]

ARCHITECTURE = "controlvector"
_DIRECTION = re.compile(r"^direction\.(\d+)$")


def is_control_vector(info: GGUFInfo) -> bool:
    """Its architecture says so, or every tensor is a `direction.N`."""
    if info.architecture == ARCHITECTURE:
        return True
    return bool(info.tensors) and all(_DIRECTION.match(t.name) for t in info.tensors)


@dataclass(frozen=True)
class ControlVectorFacts:
    width: int | None
    """n_embd: the length of its direction tensors (None when they disagree or are absent)."""
    layers: list[int]
    """The layers it has a direction for, ascending."""
    layer_count: int | None
    """`controlvector.layer_count` as written (cvector-generator writes n_layer - 1)."""
    model_hint: str | None
    problems: list[str] = field(default_factory=list)
    """Why llama.cpp's loader would refuse the file itself, whatever the base."""


def control_vector_facts(info: GGUFInfo) -> ControlVectorFacts:
    widths: set[int] = set()
    layers: list[int] = []
    problems: list[str] = []
    for tensor in info.tensors:
        match = _DIRECTION.match(tensor.name)
        if match is None:
            problems.append(f"tensor {tensor.name} is not a direction.N (llama.cpp refuses it)")
            continue
        layer = int(match.group(1))
        if layer == 0:
            problems.append("direction.0: layer 0 is never steered (llama.cpp refuses it)")
        if tensor.type_name != "F32":
            problems.append(f"{tensor.name} is {tensor.type_name}, llama.cpp takes only F32")
        if len(tensor.shape) != 1:
            problems.append(f"{tensor.name} has shape {list(tensor.shape)}, not [n_embd]")
        else:
            widths.add(tensor.shape[0])
        layers.append(layer)
    if not layers:
        problems.append("it has no direction tensors")
    if len(widths) > 1:
        problems.append(
            "its directions differ in length ("
            + ", ".join(str(w) for w in sorted(widths))
            + "): llama.cpp refuses it"
        )
    count = info.get("controlvector.layer_count")
    hint = info.get("controlvector.model_hint")
    return ControlVectorFacts(
        width=next(iter(widths)) if len(widths) == 1 else None,
        layers=sorted(set(layers)),
        layer_count=count if isinstance(count, int) and not isinstance(count, bool) else None,
        model_hint=hint if isinstance(hint, str) else None,
        problems=problems,
    )


def control_vector_problems(
    vector: GGUFInfo, base: GGUFInfo, layers: Sequence[int] | None = None
) -> list[str]:
    """Why `vector` cannot steer `base` (applied on `layers` = [from, to] when given)."""
    if not is_control_vector(vector):
        return [f"{vector.source} is not a control vector (no controlvector architecture)"]
    if is_control_vector(base):
        return [f"the base {base.source} is itself a control vector; it must be a model"]
    facts = control_vector_facts(vector)
    problems = list(facts.problems)
    width, n_layer = base.embedding_length, base.block_count
    if facts.width is not None and width is not None and facts.width != width:
        problems.append(
            f"a control vector for a {facts.width}-wide model does not fit the base's "
            f"embedding length {width}"
        )
    if facts.layers and n_layer is not None and facts.layers[-1] >= n_layer:
        problems.append(
            f"it steers layers up to {facts.layers[-1]}, the base has {n_layer} "
            f"(directions 1 to {n_layer - 1} are applied; llama.cpp drops the rest)"
        )
    if layers is not None:
        low, high = layers
        if n_layer is not None and high > n_layer - 1:
            problems.append(
                f"the layer range [{low}, {high}] goes past the base's last steerable layer "
                f"{n_layer - 1}"
            )
        if facts.layers and not any(low <= n <= high for n in facts.layers):
            problems.append(
                f"the layer range [{low}, {high}] misses every layer it steers "
                f"({_span(facts.layers)})"
            )
    return problems


def _span(layers: Sequence[int]) -> str:
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]} to {layers[-1]}"
