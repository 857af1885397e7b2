"""What `modelpack inspect` tells about a GGUF file, as data.

`model_facts` turns a `GGUFInfo` into the facts people check before importing a model (shape,
size, tensor mix, tokenizer, special tokens, chat template, license) and `raw_keys` gives every
key/value with large arrays summarised. Both are plain data so the CLI can print them as a
table or JSON, and tests and other tools can use them directly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelpack.core.gguf.control_vector import (
    ControlVectorFacts,
    control_vector_facts,
    is_control_vector,
)
from modelpack.core.gguf.format import Keys, ValueType
from modelpack.core.gguf.reader import ArraySummary, GGUFInfo, StringSummary

__all__ = ["ModelFacts", "SpecialToken", "bos_eos", "model_facts", "raw_keys", "special_tokens"]

SPECIAL_TOKEN_KEYS: dict[str, str] = {
    "bos": "tokenizer.ggml.bos_token_id",
    "eos": "tokenizer.ggml.eos_token_id",
    "eot": "tokenizer.ggml.eot_token_id",
    "eom": "tokenizer.ggml.eom_token_id",
    "unknown": "tokenizer.ggml.unknown_token_id",
    "padding": "tokenizer.ggml.padding_token_id",
    "separator": "tokenizer.ggml.seperator_token_id",
}
"""Special-token roles and their keys (llama.cpp spells `seperator` that way)."""

_SHOWN_ARRAY_ITEMS = 8


@dataclass(frozen=True)
class SpecialToken:
    role: str
    id: int
    text: str | None
    """The token's text from the vocabulary; None when the id is outside it."""


@dataclass(frozen=True)
class ModelFacts:
    source: str
    file_size: int
    gguf_version: int
    kind: str
    """`model`, `adapter` (`general.type`; files without it are models) or `control-vector`
    (architecture `controlvector`, direction.N tensors: see core.gguf.control_vector)."""
    architecture: str | None
    name: str | None
    license: str | None
    parameter_count: int
    block_count: int | None
    embedding_length: int | None
    feed_forward_length: int | list[int] | None
    head_count: int | list[int] | None
    head_count_kv: int | list[int] | None
    context_length: int | None
    sliding_window: int | None
    file_type: str | None
    tensor_count: int
    tensor_bytes: int
    tensor_types: dict[str, int | None]
    """Bytes per tensor type, largest first; None for a type modelpack does not know."""
    tokenizer_model: str | None
    vocab_size: int | None
    special_tokens: list[SpecialToken]
    chat_template: str | None
    adapter_type: str | None = None
    lora_alpha: float | None = None
    control_vector: ControlVectorFacts | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def special_tokens(info: GGUFInfo) -> list[SpecialToken]:
    """The special tokens the file names, with their text (decoding only those tokens)."""
    ids: dict[str, int] = {}
    for role, key in SPECIAL_TOKEN_KEYS.items():
        value = info.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            ids[role] = value
    texts = info.string_items(Keys.TOKENS, ids.values()) if ids and _has_strings(info) else {}
    return [SpecialToken(role, value, texts.get(value)) for role, value in ids.items()]


def bos_eos(info: GGUFInfo) -> tuple[str, str]:
    """The BOS and EOS texts a chat template sees as `bos_token`/`eos_token` ("" if none)."""
    texts = {t.role: t.text for t in special_tokens(info)}
    return texts.get("bos") or "", texts.get("eos") or ""


def model_facts(info: GGUFInfo) -> ModelFacts:
    """The facts `inspect` shows. Decodes the token list only to name the special tokens."""
    special = special_tokens(info)
    alpha = info.get("adapter.lora.alpha")
    vector = control_vector_facts(info) if is_control_vector(info) else None
    return ModelFacts(
        source=info.source,
        file_size=info.file_size,
        gguf_version=info.version,
        kind="control-vector" if vector is not None else _text(info, "general.type") or "model",
        architecture=info.architecture,
        name=info.name,
        license=_text(info, "general.license"),
        parameter_count=info.parameter_count,
        block_count=info.block_count,
        embedding_length=info.embedding_length,
        feed_forward_length=info.feed_forward_length,
        head_count=info.head_count,
        head_count_kv=info.head_count_kv,
        context_length=info.context_length,
        sliding_window=info.sliding_window,
        file_type=info.file_type_name,
        tensor_count=len(info.tensors),
        tensor_bytes=info.tensor_bytes,
        tensor_types=info.tensor_type_bytes(),
        tokenizer_model=_text(info, "tokenizer.ggml.model"),
        vocab_size=info.vocab_size,
        special_tokens=special,
        chat_template=info.chat_template,
        adapter_type=_text(info, "adapter.type"),
        lora_alpha=float(alpha) if isinstance(alpha, int | float) else None,
        control_vector=vector,
        warnings=[str(w) for w in info.warnings] + (vector.problems if vector else []),
    )


def raw_keys(info: GGUFInfo) -> dict[str, Any]:
    """Every key/value in file order, JSON-ready: a long array becomes a short summary
    (`{"array": "string", "count": 49152, "first": [...]}`) and a long string its size, so the
    output stays readable."""
    out: dict[str, Any] = {}
    for key, value in info.metadata.items():
        if isinstance(value, ArraySummary):
            out[key] = {"array": value.type.name.lower(), "count": value.count}
        elif isinstance(value, StringSummary):
            out[key] = {"string": "not decoded", "bytes": value.size}
        elif isinstance(value, list) and len(value) > _SHOWN_ARRAY_ITEMS:
            out[key] = {
                "array": info.value_types[key][-1].name.lower(),
                "count": len(value),
                "first": value[:_SHOWN_ARRAY_ITEMS],
            }
        else:
            out[key] = value
    return out


def _has_strings(info: GGUFInfo) -> bool:
    """Whether the token list is there as strings (a damaged file may hold something else)."""
    tokens = info.get(Keys.TOKENS)
    return isinstance(tokens, list) or (
        isinstance(tokens, ArraySummary) and tokens.type == ValueType.STRING
    )


def _text(info: GGUFInfo, key: str) -> str | None:
    """A string key's text, decoded if it was summarised; None when missing or not a string."""
    return info.text(key) if isinstance(info.get(key), str | StringSummary) else None
