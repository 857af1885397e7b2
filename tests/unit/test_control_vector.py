"""Control-vector GGUFs: recognised by inspect's facts, matched against a base like LoRAs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from helpers.control_vector import write_control_vector
from helpers.tiny_gguf import write_tiny_gguf, write_tiny_lora

from modelpack.core.gguf.adapter import adapter_problems, is_adapter
from modelpack.core.gguf.control_vector import (
    control_vector_facts,
    control_vector_problems,
    is_control_vector,
)
from modelpack.core.gguf.facts import model_facts
from modelpack.core.gguf.preflight import model_problems
from modelpack.core.gguf.reader import read_gguf


def test_recognised_with_its_width_and_layers(tmp_path: Path) -> None:
    vector = read_gguf(write_control_vector(tmp_path / "v.gguf", n_embd=576, layers=range(1, 30)))
    assert is_control_vector(vector) and not is_adapter(vector)
    facts = model_facts(vector)
    assert facts.kind == "control-vector"
    assert facts.control_vector is not None
    assert (facts.control_vector.width, facts.control_vector.layers[-1]) == (576, 29)
    assert facts.control_vector.model_hint == "llama"
    assert facts.warnings == []
    model = read_gguf(write_tiny_gguf(tmp_path / "m.gguf"))
    assert not is_control_vector(model)
    assert model_facts(model).kind == "model"


def test_4096_wide_vector_refused_for_a_576_wide_base(tmp_path: Path) -> None:
    """SmolLM2's width; four layers, not its thirty, so the base file is 54 MB, not 400."""
    base = read_gguf(write_tiny_gguf(tmp_path / "base.gguf", n_embd=576, n_head=9, n_layer=4))
    wide = read_gguf(write_control_vector(tmp_path / "wide.gguf", n_embd=4096, layers=range(1, 4)))
    fits = read_gguf(write_control_vector(tmp_path / "fits.gguf", n_embd=576, layers=range(1, 4)))
    assert control_vector_problems(wide, base) == [
        "a control vector for a 4096-wide model does not fit the base's embedding length 576"
    ]
    assert control_vector_problems(fits, base) == []


def test_layers_beyond_the_base_and_ranges(tmp_path: Path) -> None:
    base = read_gguf(write_tiny_gguf(tmp_path / "base.gguf", n_layer=4))
    deep = read_gguf(write_control_vector(tmp_path / "deep.gguf", n_embd=64, layers=range(1, 40)))
    assert control_vector_problems(deep, base) == [
        "it steers layers up to 39, the base has 4 (directions 1 to 3 are applied; llama.cpp "
        "drops the rest)"
    ]
    one = read_gguf(write_control_vector(tmp_path / "one.gguf", n_embd=64, layers=[3]))
    assert control_vector_problems(one, base, (1, 2)) == [
        "the layer range [1, 2] misses every layer it steers (3)"
    ]
    assert control_vector_problems(one, base, (1, 9)) == [
        "the layer range [1, 9] goes past the base's last steerable layer 3"
    ]
    assert control_vector_problems(one, base, (2, 3)) == []


def test_what_llamacpp_refuses_in_the_file_itself(tmp_path: Path) -> None:
    f16 = read_gguf(
        write_control_vector(tmp_path / "h.gguf", n_embd=64, layers=[0, 1], dtype=np.float16)
    )
    problems = control_vector_facts(f16).problems
    assert "direction.0: layer 0 is never steered (llama.cpp refuses it)" in problems
    assert "direction.1 is F16, llama.cpp takes only F32" in problems


def test_not_an_adapter_and_not_a_model(tmp_path: Path) -> None:
    base = read_gguf(write_tiny_gguf(tmp_path / "base.gguf"))
    vector = read_gguf(write_control_vector(tmp_path / "v.gguf", n_embd=64, layers=[1]))
    assert "is a control vector, not a LoRA adapter" in adapter_problems(vector, base)[0]
    assert model_problems(vector)[0][0] == "is a llama.cpp control vector, not a model"
    lora = read_gguf(write_tiny_lora(tmp_path / "l.gguf"))
    assert "is not a control vector" in control_vector_problems(lora, base)[0]
