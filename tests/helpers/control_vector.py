"""Control-vector GGUFs as llama.cpp's cvector-generator writes them, for tests.

`general.architecture = "controlvector"`, `controlvector.model_hint`, `controlvector.layer_count`
(n_layer - 1 for a full vector) and one F32 `direction.N` tensor of shape [n_embd] per layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import gguf
import numpy as np


def write_control_vector(
    path: Path,
    *,
    n_embd: int,
    layers: Iterable[int],
    model_hint: str = "llama",
    layer_count: int | None = None,
    dtype: type = np.float32,
) -> Path:
    layers = list(layers)
    writer = gguf.GGUFWriter(str(path), "controlvector")
    writer.add_string("controlvector.model_hint", model_hint)
    writer.add_int32("controlvector.layer_count", layer_count or len(layers))
    rng = np.random.default_rng(0)
    for layer in layers:
        writer.add_tensor(f"direction.{layer}", rng.standard_normal(n_embd).astype(dtype) * 0.01)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
