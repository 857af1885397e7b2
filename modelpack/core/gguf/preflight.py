"""Refuse a GGUF that no Ollama can load, before anything is uploaded.

Ollama's create does not look inside the GGUF; a file without its architecture keys is
accepted and then fails at the first request. The legacy server (0.5.4) does worse: a missing
`<arch>.block_count` makes the first generate crash the whole server process with a Go panic
(seen on the real 0.5.4 build), and 0.9.3 answers HTTP 500. These checks read only the header.
"""

from __future__ import annotations

from modelpack.core.gguf.adapter import is_adapter
from modelpack.core.gguf.control_vector import is_control_vector
from modelpack.core.gguf.format import Keys
from modelpack.core.gguf.reader import GGUFInfo

__all__ = ["REQUIRED_ARCH_KEYS", "model_problems"]

REQUIRED_ARCH_KEYS = (Keys.BLOCK_COUNT, Keys.CONTEXT_LENGTH, Keys.EMBEDDING_LENGTH)
"""Keys llama.cpp's loader requires of every architecture (attention keys are not: Mamba and
RWKV have no attention heads)."""

_RECONVERT = "convert the model again with a current llama.cpp (convert_hf_to_gguf.py)"


def model_problems(info: GGUFInfo) -> list[tuple[str, str]]:
    """(problem, fix) pairs that make `info` unusable as FROM; empty when it looks loadable."""
    if is_adapter(info):
        return [
            (
                "is a LoRA adapter, not a model",
                "name the base model in from: and the adapter under adapters:",
            )
        ]
    if is_control_vector(info):
        return [
            (
                "is a llama.cpp control vector, not a model",
                "name the base model in from:, and the vector under serve.control_vectors of a "
                "llama-server block (Ollama cannot apply control vectors)",
            )
        ]
    arch = info.architecture
    if arch is None:
        return [("has no general.architecture key", _RECONVERT)]
    missing = [
        key.format(arch=arch)
        for key in REQUIRED_ARCH_KEYS
        if key.format(arch=arch) not in info.metadata
    ]
    if not missing:
        return []
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    return [
        (
            f"lacks {missing[0]}{more}: Ollama 0.5.4 crashes loading such a file and newer "
            "versions fail with HTTP 500",
            _RECONVERT,
        )
    ]
