"""The GGUF format as data: magic, versions, type ids, tensor block sizes and metadata key names.

Kept apart from the reader (`modelpack.core.gguf.reader`) so that other modules (memory
estimates, the inspect command, lint) can use the tables without importing the parser. Values
follow llama.cpp: `ggml/include/ggml.h` (tensor types), `gguf.h` (value types), `llama.h` (file
types) and gguf-py's `gguf/constants.py` (key names, `GGML_QUANT_SIZES`); tests check them
against the installed `gguf` package.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

__all__ = [
    "DEFAULT_ALIGNMENT",
    "FILE_TYPE_NAMES",
    "MAGIC",
    "MAX_DIMS",
    "MAX_TENSOR_NAME",
    "REMOVED_TENSOR_TYPES",
    "SCALAR_FORMATS",
    "SUPPORTED_VERSIONS",
    "TENSOR_BLOCK_SIZES",
    "FileType",
    "Keys",
    "TensorType",
    "ValueType",
    "file_type_name",
    "tensor_type_name",
]

MAGIC: Final = b"GGUF"
SUPPORTED_VERSIONS: Final = frozenset({1, 2, 3})
"""v1 (Aug 2023) stored counts, string and array lengths and tensor dims as uint32; v2 made them
uint64; v3 added big-endian files. Version 1 is still read: old files exist, the layout is known."""

DEFAULT_ALIGNMENT: Final = 32
"""Alignment of the data section and of every tensor offset unless `general.alignment` says
otherwise (it must then be a uint32 power of two)."""

MAX_DIMS: Final = 4
"""GGML_MAX_DIMS: a tensor info with more dimensions is rejected by llama.cpp."""

MAX_TENSOR_NAME: Final = 64
"""GGML_MAX_NAME: llama.cpp refuses tensor names of this many bytes or more."""


class ValueType(IntEnum):
    """Type ids of metadata values (`gguf_type` in gguf.h)."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


SCALAR_FORMATS: Final[dict[ValueType, str]] = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "B",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}
"""`struct` format characters of the fixed-size value types (a bool is one byte; llama.cpp reads
any non-zero byte as true)."""


class TensorType(IntEnum):
    """Every ggml tensor type id that has appeared in GGUF files (`ggml_type` in ggml.h).

    4 and 5 (Q4_2, Q4_3) were removed before GGUF existed. 31-33 and 36-38 were interleaved
    repacks that llama.cpp now refuses in files (see `REMOVED_TENSOR_TYPES`); they are listed so
    that old files still get a name and a size instead of a bare number.
    """

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    IQ1_M = 29
    BF16 = 30
    Q4_0_4_4 = 31
    Q4_0_4_8 = 32
    Q4_0_8_8 = 33
    TQ1_0 = 34
    TQ2_0 = 35
    IQ4_NL_4_4 = 36
    IQ4_NL_4_8 = 37
    IQ4_NL_8_8 = 38
    MXFP4 = 39
    NVFP4 = 40
    Q1_0 = 41


REMOVED_TENSOR_TYPES: Final = frozenset(
    {
        TensorType.Q4_0_4_4,
        TensorType.Q4_0_4_8,
        TensorType.Q4_0_8_8,
        TensorType.IQ4_NL_4_4,
        TensorType.IQ4_NL_4_8,
        TensorType.IQ4_NL_8_8,
    }
)
"""Runtime repacks of Q4_0/IQ4_NL that were briefly written to files; current llama.cpp refuses
them (block size 0 in its type table) and gguf-py cannot name them."""

_QK_K: Final = 256

TENSOR_BLOCK_SIZES: Final[dict[TensorType, tuple[int, int]]] = {
    TensorType.F32: (1, 4),
    TensorType.F16: (1, 2),
    TensorType.Q4_0: (32, 2 + 16),
    TensorType.Q4_1: (32, 2 + 2 + 16),
    TensorType.Q5_0: (32, 2 + 4 + 16),
    TensorType.Q5_1: (32, 2 + 2 + 4 + 16),
    TensorType.Q8_0: (32, 2 + 32),
    TensorType.Q8_1: (32, 4 + 4 + 32),
    TensorType.Q2_K: (256, 2 + 2 + _QK_K // 16 + _QK_K // 4),
    TensorType.Q3_K: (256, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    TensorType.Q4_K: (256, 2 + 2 + _QK_K // 2 + 12),
    TensorType.Q5_K: (256, 2 + 2 + _QK_K // 2 + _QK_K // 8 + 12),
    TensorType.Q6_K: (256, 2 + _QK_K // 2 + _QK_K // 4 + _QK_K // 16),
    TensorType.Q8_K: (256, 4 + _QK_K + _QK_K // 8),
    TensorType.IQ2_XXS: (256, 2 + _QK_K // 4),
    TensorType.IQ2_XS: (256, 2 + _QK_K // 4 + _QK_K // 32),
    TensorType.IQ3_XXS: (256, 2 + _QK_K // 4 + _QK_K // 8),
    TensorType.IQ1_S: (256, 2 + _QK_K // 8 + _QK_K // 16),
    TensorType.IQ4_NL: (32, 2 + 16),
    TensorType.IQ3_S: (256, 2 + _QK_K // 4 + _QK_K // 8 + _QK_K // 32 + 4),
    TensorType.IQ2_S: (256, 2 + _QK_K // 4 + _QK_K // 16),
    TensorType.IQ4_XS: (256, 2 + 2 + _QK_K // 2 + _QK_K // 64),
    TensorType.I8: (1, 1),
    TensorType.I16: (1, 2),
    TensorType.I32: (1, 4),
    TensorType.I64: (1, 8),
    TensorType.F64: (1, 8),
    TensorType.IQ1_M: (256, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    TensorType.BF16: (1, 2),
    TensorType.Q4_0_4_4: (32, 2 + 16),
    TensorType.Q4_0_4_8: (32, 2 + 16),
    TensorType.Q4_0_8_8: (32, 2 + 16),
    TensorType.TQ1_0: (256, 2 + 4 * 13),
    TensorType.TQ2_0: (256, 2 + 64),
    TensorType.IQ4_NL_4_4: (32, 2 + 16),
    TensorType.IQ4_NL_4_8: (32, 2 + 16),
    TensorType.IQ4_NL_8_8: (32, 2 + 16),
    TensorType.MXFP4: (32, 1 + 16),
    TensorType.NVFP4: (64, 4 + 32),
    TensorType.Q1_0: (128, 2 + 16),
}
"""(elements per block, bytes per block): a tensor takes n_elements // block * bytes, and its
first dimension must be a multiple of the block."""


class FileType(IntEnum):
    """`general.file_type` (`llama_ftype` in llama.h): the quantization the file was made with."""

    ALL_F32 = 0
    MOSTLY_F16 = 1
    MOSTLY_Q4_0 = 2
    MOSTLY_Q4_1 = 3
    MOSTLY_Q4_1_SOME_F16 = 4
    MOSTLY_Q4_2 = 5
    MOSTLY_Q4_3 = 6
    MOSTLY_Q8_0 = 7
    MOSTLY_Q5_0 = 8
    MOSTLY_Q5_1 = 9
    MOSTLY_Q2_K = 10
    MOSTLY_Q3_K_S = 11
    MOSTLY_Q3_K_M = 12
    MOSTLY_Q3_K_L = 13
    MOSTLY_Q4_K_S = 14
    MOSTLY_Q4_K_M = 15
    MOSTLY_Q5_K_S = 16
    MOSTLY_Q5_K_M = 17
    MOSTLY_Q6_K = 18
    MOSTLY_IQ2_XXS = 19
    MOSTLY_IQ2_XS = 20
    MOSTLY_Q2_K_S = 21
    MOSTLY_IQ3_XS = 22
    MOSTLY_IQ3_XXS = 23
    MOSTLY_IQ1_S = 24
    MOSTLY_IQ4_NL = 25
    MOSTLY_IQ3_S = 26
    MOSTLY_IQ3_M = 27
    MOSTLY_IQ2_S = 28
    MOSTLY_IQ2_M = 29
    MOSTLY_IQ4_XS = 30
    MOSTLY_IQ1_M = 31
    MOSTLY_BF16 = 32
    MOSTLY_Q4_0_4_4 = 33
    MOSTLY_Q4_0_4_8 = 34
    MOSTLY_Q4_0_8_8 = 35
    MOSTLY_TQ1_0 = 36
    MOSTLY_TQ2_0 = 37
    MOSTLY_MXFP4_MOE = 38
    MOSTLY_NVFP4 = 39
    MOSTLY_Q1_0 = 40
    GUESSED = 1024


FILE_TYPE_NAMES: Final[dict[int, str]] = {
    ft.value: ft.name.removeprefix("MOSTLY_").removeprefix("ALL_") for ft in FileType
}
"""Display names as users know them from file names and `ollama show` (`Q4_K_M`, `F16`, ...)."""


def file_type_name(value: int) -> str:
    """`Q4_K_M` for 15; `unknown(N)` for an id this table does not know, so nothing fails."""
    return FILE_TYPE_NAMES.get(value, f"unknown({value})")


def tensor_type_name(value: int) -> str:
    """`Q4_K` for 12; `unknown(N)` for an id this table does not know."""
    try:
        return TensorType(value).name
    except ValueError:
        return f"unknown({value})"


class Keys:
    """Metadata key names; `{arch}` is filled with `general.architecture` (`.format(arch=...)`).

    Only the keys modelpack reads or shows; gguf-py's `Keys` has the full list.
    """

    ARCHITECTURE: Final = "general.architecture"
    TYPE: Final = "general.type"
    NAME: Final = "general.name"
    BASENAME: Final = "general.basename"
    FINETUNE: Final = "general.finetune"
    SIZE_LABEL: Final = "general.size_label"
    ORGANIZATION: Final = "general.organization"
    LICENSE: Final = "general.license"
    FILE_TYPE: Final = "general.file_type"
    QUANTIZATION_VERSION: Final = "general.quantization_version"
    ALIGNMENT: Final = "general.alignment"

    VOCAB_SIZE: Final = "{arch}.vocab_size"
    CONTEXT_LENGTH: Final = "{arch}.context_length"
    EMBEDDING_LENGTH: Final = "{arch}.embedding_length"
    BLOCK_COUNT: Final = "{arch}.block_count"
    FEED_FORWARD_LENGTH: Final = "{arch}.feed_forward_length"
    EXPERT_COUNT: Final = "{arch}.expert_count"
    EXPERT_USED_COUNT: Final = "{arch}.expert_used_count"
    HEAD_COUNT: Final = "{arch}.attention.head_count"
    HEAD_COUNT_KV: Final = "{arch}.attention.head_count_kv"
    KEY_LENGTH: Final = "{arch}.attention.key_length"
    VALUE_LENGTH: Final = "{arch}.attention.value_length"
    SLIDING_WINDOW: Final = "{arch}.attention.sliding_window"
    LAYERNORM_RMS_EPS: Final = "{arch}.attention.layer_norm_rms_epsilon"
    ROPE_DIMENSION_COUNT: Final = "{arch}.rope.dimension_count"
    ROPE_FREQ_BASE: Final = "{arch}.rope.freq_base"

    TOKENIZER_MODEL: Final = "tokenizer.ggml.model"
    TOKENIZER_PRE: Final = "tokenizer.ggml.pre"
    TOKENS: Final = "tokenizer.ggml.tokens"
    TOKEN_TYPE: Final = "tokenizer.ggml.token_type"
    SCORES: Final = "tokenizer.ggml.scores"
    MERGES: Final = "tokenizer.ggml.merges"
    BOS_ID: Final = "tokenizer.ggml.bos_token_id"
    EOS_ID: Final = "tokenizer.ggml.eos_token_id"
    EOT_ID: Final = "tokenizer.ggml.eot_token_id"
    UNK_ID: Final = "tokenizer.ggml.unknown_token_id"
    SEP_ID: Final = "tokenizer.ggml.seperator_token_id"
    PAD_ID: Final = "tokenizer.ggml.padding_token_id"
    ADD_BOS: Final = "tokenizer.ggml.add_bos_token"
    ADD_EOS: Final = "tokenizer.ggml.add_eos_token"
    CHAT_TEMPLATE: Final = "tokenizer.chat_template"
