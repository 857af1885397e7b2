"""Refuse a GGUF that Ollama cannot load, before anything is uploaded.

Ollama's create does not look inside the GGUF; a file without its architecture keys, or for an
architecture the target version does not know (`modelpack.core.gguf.architectures`), is
accepted and then fails at the first request. The legacy server (0.5.4) does worse: a missing
`<arch>.block_count` makes the first generate crash the whole server process with a Go panic
(seen on the real 0.5.4 build), and 0.9.3 answers HTTP 500. These checks read only the header.
"""

from __future__ import annotations

from modelpack.core.gguf.adapter import is_adapter
from modelpack.core.gguf.architectures import (
    RECORDED_FROM,
    RECORDED_UNTIL,
    first_loading,
    loadable_architectures,
)
from modelpack.core.gguf.control_vector import is_control_vector
from modelpack.core.gguf.format import Keys
from modelpack.core.gguf.reader import GGUFInfo
from modelpack.core.versions import OllamaVersion

__all__ = ["REQUIRED_ARCH_KEYS", "model_problems"]

REQUIRED_ARCH_KEYS = (Keys.BLOCK_COUNT, Keys.CONTEXT_LENGTH, Keys.EMBEDDING_LENGTH)
"""Keys llama.cpp's loader requires of every architecture (attention keys are not: Mamba and
RWKV have no attention heads)."""

_RECONVERT = "convert the model again with a current llama.cpp (convert_hf_to_gguf.py)"


def model_problems(info: GGUFInfo, version: OllamaVersion | None = None) -> list[tuple[str, str]]:
    """(problem, fix) pairs that make `info` unusable as FROM; empty when it looks loadable.
    With a target `version`, an architecture that version cannot load is one."""
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
    if version is not None:
        unknown = _unknown_architecture(arch, version)
        if unknown is not None:
            return [unknown]
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


def _unknown_architecture(arch: str, version: OllamaVersion) -> tuple[str, str] | None:
    """Why `version` cannot load `arch`, with what to do; None when it can (or is unrecorded)."""
    known = loadable_architectures(version)
    if known is None or arch in known:
        return None
    first = first_loading(arch)
    if first is not None:
        fix = f"Ollama {first} and later load it: target one of those"
    else:
        fix = (
            f"none of the releases modelpack has lists for ({RECORDED_FROM} up to "
            f"{RECORDED_UNTIL}) loads it: check general.architecture, or target a newer Ollama"
        )
    return f"is refused: Ollama {version} cannot load architecture {arch!r}", fix
