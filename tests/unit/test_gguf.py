"""The GGUF reader: agrees with llama.cpp's gguf-py on every key and tensor, and turns every
broken or hostile file into one GGUFError (never a struct.error, a huge allocation or a hang)."""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from helpers.budget import fuzz_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.core.gguf import format as spec
from modelpack.core.gguf.facts import bos_eos, special_tokens
from modelpack.core.gguf.format import TensorType, ValueType
from modelpack.core.gguf.reader import (
    DEFAULT_ARRAY_LIMIT,
    MAX_ARRAY_DEPTH,
    MAX_INLINE_STRING,
    ArraySummary,
    GGUFError,
    GGUFInfo,
    StringSummary,
    read_gguf,
    read_gguf_bytes,
)
from modelpack.errors import InputError

V = ValueType


# --- Hand-built files: what no writer would produce -------------------------------------------


class Raw:
    """Builds GGUF bytes field by field, so a test can write any header, valid or not."""

    def __init__(self, version: int = 3, order: str = "<") -> None:
        self.version = version
        self.order = order
        self.size = "I" if version == 1 else "Q"
        self.kvs: list[bytes] = []
        self.infos: list[bytes] = []
        self.data = b""
        self.n_kv: int | None = None
        self.n_tensors: int | None = None

    def pack(self, fmt: str, *values: Any) -> bytes:
        return struct.pack(self.order + fmt, *values)

    def str_(self, text: str | bytes) -> bytes:
        raw = text.encode() if isinstance(text, str) else text
        return self.pack(self.size, len(raw)) + raw

    def encode(self, elem: int, item: Any) -> bytes:
        if elem == V.STRING:
            return self.str_(item)
        if elem == V.ARRAY:
            return self.array_payload(*item)
        if elem == V.BOOL and isinstance(item, bool):
            item = int(item)
        return self.pack(spec.SCALAR_FORMATS[V(elem)], item)

    def array_payload(self, elem: int, items: list[Any], count: int | None = None) -> bytes:
        n = len(items) if count is None else count
        body = b"".join(self.encode(elem, item) for item in items)
        return self.pack("I", elem) + self.pack(self.size, n) + body

    def kv(self, key: str | bytes, vtype: int, payload: bytes) -> Raw:
        self.kvs.append(self.str_(key) + self.pack("I", vtype) + payload)
        return self

    def scalar(self, key: str | bytes, vtype: int, value: Any) -> Raw:
        return self.kv(key, vtype, self.encode(vtype, value))

    def array(self, key: str, elem: int, items: list[Any], count: int | None = None) -> Raw:
        return self.kv(key, V.ARRAY, self.array_payload(elem, items, count))

    def tensor(
        self,
        name: str | bytes,
        shape: tuple[int, ...],
        ttype: int = TensorType.F32,
        offset: int | None = None,
        alignment: int = 32,
    ) -> Raw:
        """A tensor info (shape in ggml order) and, for a known type, zeroed data for it."""
        if offset is None:
            offset = len(self.data) + (-len(self.data) % alignment)
            if ttype in TensorType.__members__.values():
                block, size = spec.TENSOR_BLOCK_SIZES[TensorType(ttype)]
                self.data += b"\0" * (offset - len(self.data)) + b"\0" * (
                    math.prod(shape) // block * size
                )
        info = self.str_(name) + self.pack("I", len(shape))
        info += self.pack(self.size * len(shape), *shape) + self.pack("IQ", ttype, offset)
        self.infos.append(info)
        return self

    def build(self, alignment: int = 32) -> bytes:
        n_tensors = len(self.infos) if self.n_tensors is None else self.n_tensors
        n_kv = len(self.kvs) if self.n_kv is None else self.n_kv
        out = b"GGUF" + self.pack("I", self.version) + self.pack(self.size * 2, n_tensors, n_kv)
        out += b"".join(self.kvs) + b"".join(self.infos)
        if self.infos:
            out += b"\0" * (-len(out) % alignment) + self.data
        return out


SCALARS: list[tuple[str, ValueType, Any]] = [
    ("t.u8", V.UINT8, 255),
    ("t.i8", V.INT8, -128),
    ("t.u16", V.UINT16, 65535),
    ("t.i16", V.INT16, -32768),
    ("t.u32", V.UINT32, 2**32 - 1),
    ("t.i32", V.INT32, -(2**31)),
    ("t.f32", V.FLOAT32, 1.5),
    ("t.bool", V.BOOL, True),
    ("t.u64", V.UINT64, 2**64 - 1),
    ("t.i64", V.INT64, -(2**63)),
    ("t.f64", V.FLOAT64, math.pi),
]
ARRAYS: list[tuple[str, ValueType, list[Any]]] = [
    ("a.u8", V.UINT8, [0, 1, 255]),
    ("a.i8", V.INT8, [-128, 0, 127]),
    ("a.u16", V.UINT16, [0, 65535]),
    ("a.i16", V.INT16, [-32768, 32767]),
    ("a.u32", V.UINT32, [0, 2**32 - 1]),
    ("a.i32", V.INT32, [-(2**31), 2**31 - 1]),
    ("a.f32", V.FLOAT32, [0.5, -2.25, 1e-5]),
    ("a.bool", V.BOOL, [True, False, True]),
    ("a.str", V.STRING, ["", "héllo", "✓ \n tab\t"]),
    ("a.u64", V.UINT64, [2**64 - 1, 0]),
    ("a.i64", V.INT64, [-(2**63), 2**63 - 1]),
    ("a.f64", V.FLOAT64, [math.e, -0.0]),
]


def kitchen_sink(version: int = 3, order: str = "<") -> bytes:
    """A small file with every value type, arrays of each, nested and empty arrays, and three
    tensors; it ends exactly where the last tensor's data ends, so every cut is a truncation."""
    raw = Raw(version, order).scalar("general.architecture", V.STRING, "llama")
    for key, vtype, value in SCALARS:
        raw.scalar(key, vtype, value)
    raw.scalar("t.str", V.STRING, "ünïcödé ✓").scalar("t.empty", V.STRING, "")
    for key, vtype, items in ARRAYS:
        raw.array(key, vtype, items)
    raw.array("a.empty", V.UINT32, [])
    raw.array("a.nested", V.ARRAY, [(V.UINT8, [1, 2]), (V.UINT8, [3, 4, 5])])
    raw.array("a.nested_str", V.ARRAY, [(V.STRING, ["a", "bc"]), (V.STRING, ["d"])])
    raw.tensor("w.f32", (4, 2)).tensor("w.f16", (8,), TensorType.F16)
    raw.tensor("w.q4_0", (64, 2), TensorType.Q4_0)
    return raw.build()


def flatten(value: Any) -> Any:
    """gguf-py flattens arrays of arrays into one list."""
    if not isinstance(value, list):
        return value
    out: list[Any] = []
    for item in value:
        out.extend(flatten(item) if isinstance(item, list) else [item])
    return out


def assert_same_as_gguf_py(info: GGUFInfo, reader: gguf.GGUFReader) -> None:
    """Every key, type, value and tensor equals what gguf.GGUFReader reports."""
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert info.version == reader.fields["GGUF.version"].contents()
    assert list(info.metadata) == list(fields)
    for key, fld in fields.items():
        their_types = [int(t) for t in fld.types]
        assert info.value_types[key][0] == their_types[0], key
        if their_types[0] == V.ARRAY and len(their_types) > 1:
            assert info.value_types[key][1] == their_types[1], key
        value = info.metadata[key]
        assert not isinstance(value, ArraySummary), key
        assert flatten(value) == fld.contents(), key
    assert info.alignment == reader.alignment
    assert info.data_offset == reader.data_offset
    assert len(info.tensors) == len(reader.tensors)
    for ours, theirs in zip(info.tensors, reader.tensors, strict=True):
        assert ours.name == theirs.name
        # GGUFReader.shape is ggml's ne order (its `.data` view is the reversed numpy shape).
        assert ours.shape == tuple(theirs.shape.tolist()), ours.name
        assert ours.type == theirs.tensor_type and ours.type_name == theirs.tensor_type.name
        assert info.data_offset + ours.offset == theirs.data_offset, ours.name
        assert ours.n_bytes == theirs.n_bytes, ours.name
        assert ours.n_elements == theirs.n_elements, ours.name
    assert info.parameter_count == sum(t.n_elements for t in reader.tensors)


def error(data: bytes, **kwargs: Any) -> GGUFError:
    with pytest.raises(GGUFError) as caught:
        read_gguf_bytes(data, source="m.gguf", **kwargs)
    return caught.value


# --- The spec tables against gguf-py ----------------------------------------------------------


def test_value_types_match_gguf_py() -> None:
    assert {t.name: t.value for t in ValueType} == {t.name: t.value for t in gguf.GGUFValueType}
    assert set(spec.SCALAR_FORMATS) == set(ValueType) - {V.STRING, V.ARRAY}


def test_tensor_types_and_block_sizes_match_gguf_py() -> None:
    for qtype in gguf.GGMLQuantizationType:
        ours = TensorType(qtype.value)
        assert ours.name == qtype.name
        assert spec.TENSOR_BLOCK_SIZES[ours] == gguf.GGML_QUANT_SIZES[qtype], qtype.name
    extra = {t for t in TensorType if t.value not in set(gguf.GGMLQuantizationType)}
    assert extra == set(spec.REMOVED_TENSOR_TYPES)
    assert set(spec.TENSOR_BLOCK_SIZES) == set(TensorType)


def test_file_types_match_gguf_py_and_have_display_names() -> None:
    for ftype in gguf.LlamaFileType:
        assert spec.FileType(ftype.value).name == ftype.name
    assert spec.file_type_name(15) == "Q4_K_M"
    assert spec.file_type_name(0) == "F32"
    assert spec.file_type_name(1) == "F16"
    assert spec.file_type_name(32) == "BF16"
    assert spec.file_type_name(999) == "unknown(999)"
    assert spec.tensor_type_name(12) == "Q4_K"
    assert spec.tensor_type_name(99) == "unknown(99)"


def test_constants_and_keys_match_gguf_py() -> None:
    assert struct.unpack("<I", spec.MAGIC)[0] == gguf.GGUF_MAGIC
    assert spec.DEFAULT_ALIGNMENT == gguf.GGUF_DEFAULT_ALIGNMENT
    assert gguf.GGUF_VERSION in spec.SUPPORTED_VERSIONS
    k = gguf.Keys
    pairs = {
        spec.Keys.ARCHITECTURE: k.General.ARCHITECTURE,
        spec.Keys.FILE_TYPE: k.General.FILE_TYPE,
        spec.Keys.ALIGNMENT: k.General.ALIGNMENT,
        spec.Keys.LICENSE: k.General.LICENSE,
        spec.Keys.CONTEXT_LENGTH: k.LLM.CONTEXT_LENGTH,
        spec.Keys.BLOCK_COUNT: k.LLM.BLOCK_COUNT,
        spec.Keys.EMBEDDING_LENGTH: k.LLM.EMBEDDING_LENGTH,
        spec.Keys.FEED_FORWARD_LENGTH: k.LLM.FEED_FORWARD_LENGTH,
        spec.Keys.VOCAB_SIZE: k.LLM.VOCAB_SIZE,
        spec.Keys.HEAD_COUNT: k.Attention.HEAD_COUNT,
        spec.Keys.HEAD_COUNT_KV: k.Attention.HEAD_COUNT_KV,
        spec.Keys.KEY_LENGTH: k.Attention.KEY_LENGTH,
        spec.Keys.VALUE_LENGTH: k.Attention.VALUE_LENGTH,
        spec.Keys.SLIDING_WINDOW: k.Attention.SLIDING_WINDOW,
        spec.Keys.ROPE_DIMENSION_COUNT: k.Rope.DIMENSION_COUNT,
        spec.Keys.TOKENS: k.Tokenizer.LIST,
        spec.Keys.MERGES: k.Tokenizer.MERGES,
        spec.Keys.SEP_ID: k.Tokenizer.SEP_ID,
        spec.Keys.CHAT_TEMPLATE: k.Tokenizer.CHAT_TEMPLATE,
    }
    for ours, theirs in pairs.items():
        assert ours == theirs


# --- Agreement with gguf-py -------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        {"n_layer": 2, "n_embd": 64, "n_head": 4, "dtype": "f32"},
        {"n_layer": 1, "n_embd": 32, "n_head": 4, "n_head_kv": 2, "dtype": "f16"},
        {
            "arch": "qwen2",
            "n_layer": 3,
            "n_embd": 48,
            "n_head": 6,
            "n_head_kv": 1,
            "n_ff": 80,
            "context_length": 32768,
            "dtype": "f16",
            "extra": {"qwen2.rope.freq_base": 1e6, "general.flag": True, "general.note": "x"},
        },
    ],
    ids=["f32", "f16-gqa", "qwen2-extra"],
)
def test_tiny_models_match_gguf_py(tiny_gguf: Callable[..., Path], shape: dict[str, Any]) -> None:
    path = tiny_gguf(**shape)
    info = read_gguf(path, arrays=True)
    assert_same_as_gguf_py(info, gguf.GGUFReader(path))
    assert info.architecture == shape.get("arch", "llama")
    assert info.block_count == shape["n_layer"]
    assert info.head_count_kv == shape.get("n_head_kv", shape["n_head"])
    assert info.file_type_name == shape["dtype"].upper()
    assert info.warnings == ()


@pytest.mark.parametrize("endian", [gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])
def test_every_value_type_written_by_gguf_py(tmp_path: Path, endian: gguf.GGUFEndian) -> None:
    path = tmp_path / "types.gguf"
    writer = gguf.GGUFWriter(str(path), "llama", endianess=endian)
    for key, vtype, value in SCALARS:
        writer.add_key_value(key, value, gguf.GGUFValueType(vtype))
    writer.add_string("t.str", "ünïcödé ✓")
    for key, vtype, items in ARRAYS:
        writer.add_key_value(key, items, gguf.GGUFValueType.ARRAY, gguf.GGUFValueType(vtype))
    writer.add_array("a.nested", [[1, 2], [3, 4, 5]])
    writer.add_array("a.nested_str", [["a", "bc"], ["d"]])
    writer.add_custom_alignment(64)
    writer.add_tensor("w.f32", np.ones((3, 5), dtype=np.float32))
    writer.add_tensor("w.f16", np.ones((7,), dtype=np.float16))
    q4 = gguf.GGMLQuantizationType
    writer.add_tensor("w.q4_0", np.zeros((2, 18), dtype=np.uint8), raw_dtype=q4.Q4_0)
    writer.add_tensor("w.q4_k", np.zeros((1, 144), dtype=np.uint8), raw_dtype=q4.Q4_K)
    writer.add_tensor("w.q8_0", np.zeros((3, 34), dtype=np.uint8), raw_dtype=q4.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    info = read_gguf(path, arrays=True)
    assert_same_as_gguf_py(info, gguf.GGUFReader(path))
    assert info.byte_order == ("big" if endian == gguf.GGUFEndian.BIG else "little")
    assert info.alignment == 64 and info.data_offset % 64 == 0
    for key, _, value in SCALARS:
        assert info.metadata[key] == value and type(info.metadata[key]) is type(value)
    for key, vtype, items in ARRAYS:
        expected = [float(np.float32(x)) for x in items] if vtype == V.FLOAT32 else items
        assert info.metadata[key] == expected
    assert info.metadata["a.nested"] == [[1, 2], [3, 4, 5]]
    assert info.value_types["a.nested"] == (V.ARRAY, V.ARRAY)
    assert info.metadata["a.nested_str"] == [["a", "bc"], ["d"]]
    assert [(t.name, t.shape, t.type_name) for t in info.tensors] == [
        ("w.f32", (5, 3), "F32"),
        ("w.f16", (7,), "F16"),
        ("w.q4_0", (32, 2), "Q4_0"),
        ("w.q4_k", (256, 1), "Q4_K"),
        ("w.q8_0", (32, 3), "Q8_0"),
    ]


@pytest.mark.parametrize("version", [2, 3])
def test_hand_built_file_with_empty_arrays_matches_gguf_py(tmp_path: Path, version: int) -> None:
    path = tmp_path / "raw.gguf"
    path.write_bytes(kitchen_sink(version))
    info = read_gguf(path, arrays=True)
    assert info.version == version
    assert_same_as_gguf_py(info, gguf.GGUFReader(path))
    assert info.metadata["a.empty"] == [] and info.metadata["t.empty"] == ""
    assert info.file_size == path.stat().st_size


def test_version_1_reads_uint32_lengths_and_dims() -> None:
    info = read_gguf_bytes(kitchen_sink(version=1), arrays=True)
    v3 = read_gguf_bytes(kitchen_sink(version=3), arrays=True)
    assert info.version == 1
    assert dict(info.metadata) == dict(v3.metadata)
    assert [(t.name, t.shape, t.type, t.n_bytes) for t in info.tensors] == [
        (t.name, t.shape, t.type, t.n_bytes) for t in v3.tensors
    ]


def test_big_endian_hand_built_file_reads_the_same() -> None:
    big = read_gguf_bytes(kitchen_sink(order=">"), arrays=True)
    little = read_gguf_bytes(kitchen_sink(), arrays=True)
    assert big.byte_order == "big"
    assert dict(big.metadata) == dict(little.metadata)


def test_bytes_memoryview_and_file_give_the_same_result(tmp_path: Path) -> None:
    data = kitchen_sink()
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    results = [
        read_gguf(path),
        read_gguf_bytes(data),
        read_gguf_bytes(memoryview(bytearray(data))),
    ]
    for info in results:
        assert dict(info.metadata) == dict(results[0].metadata)
        assert info.tensors == results[0].tensors


# --- Large arrays: skipped, summarised, loaded on demand --------------------------------------


def test_large_arrays_are_summarised_and_load_on_demand(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf()
    full = read_gguf(path, arrays=True)
    n_tokens = len(full.metadata[spec.Keys.TOKENS])  # type: ignore[arg-type]
    assert n_tokens > 64

    info = read_gguf(path, arrays=64)
    tokens = info.metadata[spec.Keys.TOKENS]
    assert isinstance(tokens, ArraySummary)
    assert (tokens.type, tokens.count) == (V.STRING, n_tokens)
    assert tokens.offset == info.key_offsets[spec.Keys.TOKENS] + 8 + len(spec.Keys.TOKENS) + 4
    for key in (spec.Keys.TOKENS, spec.Keys.SCORES, spec.Keys.TOKEN_TYPE):
        assert isinstance(info.metadata[key], ArraySummary)
        assert info.load_array(key) == full.metadata[key]
    assert info.vocab_size == n_tokens
    assert info.tensors == full.tensors

    assert n_tokens > DEFAULT_ARRAY_LIMIT
    assert isinstance(read_gguf(path).metadata[spec.Keys.TOKENS], ArraySummary)
    assert (
        read_gguf(path, arrays=n_tokens).metadata[spec.Keys.TOKENS]
        == full.metadata[spec.Keys.TOKENS]
    )


def test_default_limit_summarises_arrays_longer_than_it() -> None:
    raw = Raw().array("short", V.UINT8, [1] * DEFAULT_ARRAY_LIMIT)
    raw.array("long", V.UINT8, [1] * (DEFAULT_ARRAY_LIMIT + 1))
    info = read_gguf_bytes(raw.build())
    assert info.metadata["short"] == [1] * DEFAULT_ARRAY_LIMIT
    offset = 24 + (8 + 5 + 4 + 12 + DEFAULT_ARRAY_LIMIT) + (8 + 4 + 4)
    size = 12 + DEFAULT_ARRAY_LIMIT + 1
    assert info.metadata["long"] == ArraySummary(V.UINT8, DEFAULT_ARRAY_LIMIT + 1, offset, size)
    assert info.load_array("long") == [1] * (DEFAULT_ARRAY_LIMIT + 1)


def test_arrays_false_summarises_every_non_empty_array() -> None:
    info = read_gguf_bytes(kitchen_sink(), arrays=False)
    for key, vtype, items in ARRAYS:
        summary = info.metadata[key]
        assert isinstance(summary, ArraySummary) and (summary.type, summary.count) == (
            vtype,
            len(items),
        )
        assert info.load_array(key) == read_gguf_bytes(kitchen_sink(), arrays=True).metadata[key]
    assert info.metadata["a.empty"] == []
    assert info.metadata["a.nested"] == ArraySummary(V.ARRAY, 2, *_span(info, "a.nested"))
    assert info.load_array("a.nested") == [[1, 2], [3, 4, 5]]


def _span(info: GGUFInfo, key: str) -> tuple[int, int]:
    summary = info.metadata[key]
    assert isinstance(summary, ArraySummary)
    return summary.offset, summary.size


def test_nested_arrays_count_all_their_elements_against_the_limit() -> None:
    raw = Raw().array("n", V.ARRAY, [(V.UINT8, [1, 2, 3]), (V.STRING, []), (V.STRING, ["x"])])
    assert read_gguf_bytes(raw.build(), arrays=7).metadata["n"] == [[1, 2, 3], [], ["x"]]
    assert isinstance(read_gguf_bytes(raw.build(), arrays=6).metadata["n"], ArraySummary)


def test_load_array_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(kitchen_sink())
    info = read_gguf(path, arrays=0)
    with pytest.raises(KeyError):
        info.load_array("no.such.key")
    with pytest.raises(TypeError):
        info.load_array("t.u8")
    assert info.load_array("a.empty") == []
    path.write_bytes(kitchen_sink() + b"\0" * 32)
    with pytest.raises(GGUFError, match="changed since"):
        info.load_array("a.u8")


def test_string_items_decode_only_the_asked_elements(tmp_path: Path) -> None:
    """Special tokens are named without decoding the vocabulary: the same texts as a full
    decode, for a summarised array and a decoded one, in either byte order and version."""
    words = [f"tok{i}" * (i % 5) for i in range(300)]
    for version, order in ((3, "<"), (3, ">"), (1, "<")):
        raw = Raw(version, order).array(spec.Keys.TOKENS, V.STRING, words)
        data = raw.build()
        summarised = read_gguf_bytes(data, arrays=0)
        assert isinstance(summarised.metadata[spec.Keys.TOKENS], ArraySummary)
        decoded = read_gguf_bytes(data, arrays=True)
        wanted = [299, 0, 7, 7, 150, 300, 10**9, -1]
        expected = {0: words[0], 7: words[7], 150: words[150], 299: words[299]}
        assert summarised.string_items(spec.Keys.TOKENS, wanted) == expected
        assert decoded.string_items(spec.Keys.TOKENS, wanted) == expected
        assert summarised.string_items(spec.Keys.TOKENS, []) == {}


def test_special_tokens_have_the_texts_a_full_decode_gives(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf(extra={"tokenizer.ggml.padding_token_id": 10**6})
    tokens = read_gguf(path, arrays=True).metadata[spec.Keys.TOKENS]
    assert isinstance(tokens, list)
    info = read_gguf(path)
    assert isinstance(info.metadata[spec.Keys.TOKENS], ArraySummary)
    found = {t.role: (t.id, t.text) for t in special_tokens(info)}
    assert found["bos"] == (1, tokens[1]) and found["eos"] == (2, tokens[2])
    assert found["padding"] == (10**6, None)
    assert bos_eos(info) == (tokens[1], tokens[2])


def test_string_items_errors(tmp_path: Path) -> None:
    raw = Raw().array("words", V.STRING, ["a", "b"] * 200).array("n", V.UINT8, [1] * 300)
    path = tmp_path / "m.gguf"
    path.write_bytes(raw.build())
    info = read_gguf(path, arrays=0)
    with pytest.raises(TypeError):
        info.string_items("n", [0])
    with pytest.raises(KeyError):
        info.string_items("no.such.key", [0])
    path.write_bytes(raw.build()[:-40])
    with pytest.raises(GGUFError, match="changed since"):
        info.string_items("words", [399])


def test_long_strings_are_summarised_and_decoded_on_demand(tmp_path: Path) -> None:
    """A string past MAX_INLINE_STRING (a tokenizer.json, or a damaged length) is not decoded
    by the read; `text` decodes it, and the typed properties use `text`."""
    template = "{{ bos_token }}" + "é" * MAX_INLINE_STRING  # 2 bytes a character
    short = "x" * MAX_INLINE_STRING
    raw = Raw().scalar("general.architecture", V.STRING, "llama")
    raw.scalar(spec.Keys.CHAT_TEMPLATE, V.STRING, template).scalar("short", V.STRING, short)
    raw.array("list", V.STRING, ["a", "🙂" * MAX_INLINE_STRING])
    path = tmp_path / "m.gguf"
    path.write_bytes(raw.build())
    info = read_gguf(path)
    key = spec.Keys.CHAT_TEMPLATE
    offset = info.key_offsets[key] + 8 + len(key) + 4
    assert info.metadata[key] == StringSummary(offset, len(template.encode()))
    assert info.metadata["short"] == short  # the limit itself is still decoded
    assert info.chat_template == template == info.text(spec.Keys.CHAT_TEMPLATE)
    assert isinstance(info.metadata["list"], ArraySummary)
    assert info.load_array("list") == ["a", "🙂" * MAX_INLINE_STRING]
    assert read_gguf(path, arrays=True).metadata["list"] == info.metadata["list"]
    assert info.text("architecture.missing") is None
    with pytest.raises(GGUFError, match="expected a string"):
        info.text("list")
    path.write_bytes(raw.build() + b"\0")
    with pytest.raises(GGUFError, match="changed since"):
        info.text(spec.Keys.CHAT_TEMPLATE)


def test_invalid_arrays_argument_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="arrays"):
        read_gguf_bytes(kitchen_sink(), arrays=-1)


# --- The real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_reader(smollm2_path: Path) -> gguf.GGUFReader:
    return gguf.GGUFReader(smollm2_path)


@pytest.mark.integration
def test_smollm2_matches_gguf_py_and_known_facts(
    smollm2_path: Path, smollm2_reader: gguf.GGUFReader
) -> None:
    info = read_gguf(smollm2_path, arrays=True)
    assert_same_as_gguf_py(info, smollm2_reader)

    fast = read_gguf(smollm2_path)
    assert fast.tensors == info.tensors
    skipped = {k for k, v in fast.metadata.items() if isinstance(v, ArraySummary)}
    assert skipped == {spec.Keys.TOKENS, spec.Keys.TOKEN_TYPE, spec.Keys.MERGES}
    for key in skipped:
        assert fast.load_array(key) == info.metadata[key]
    assert (fast.architecture, fast.block_count, fast.embedding_length) == ("llama", 30, 576)
    assert (fast.head_count, fast.head_count_kv, fast.context_length) == (9, 3, 8192)
    assert (fast.vocab_size, fast.file_type_name, fast.rope_dimension_count) == (49152, "Q4_1", 64)
    assert fast.chat_template is not None and "<|im_start|>" in fast.chat_template
    assert fast.parameter_count == 134_515_008
    assert list(fast.tensor_type_bytes()) == ["Q4_1", "Q8_0", "F32"]
    assert fast.tensor_bytes == sum(fast.tensor_type_bytes().values())  # type: ignore[arg-type]
    assert fast.warnings == ()


# --- Broken and hostile files -----------------------------------------------------------------


def test_error_names_file_offset_and_hint() -> None:
    err = GGUFError("bad thing", source="m.gguf", offset=12, hint="fix it")
    assert str(err) == "m.gguf: bad thing at byte 12 (fix it)"
    assert str(GGUFError("bad", source="m.gguf")) == "m.gguf: bad"
    assert isinstance(err, InputError) and err.exit_code == 2 and err.offset == 12


@pytest.mark.parametrize(
    ("head", "hint"),
    [
        (b"PK\x03\x04" + b"\0" * 30, "zip archive"),
        (b"version https://git-lfs.github.com/spec/v1\n", "Git LFS"),
        (b"<!DOCTYPE html><html>", "web page"),
        (b"tjgg\x03\0\0\0" + b"\0" * 20, "pre-GGUF"),
        (struct.pack("<Q", 100) + b'{"__metadata__": {}}', "safetensors"),
        (b"\x7fELF" + b"\0" * 20, "start with"),
    ],
)
def test_wrong_magic_says_what_the_file_starts_with(head: bytes, hint: str) -> None:
    err = error(head)
    assert err.message == f"not a GGUF file (starts with {head[:4]!r})"
    assert err.offset == 0 and hint in (err.hint or "")


def test_pk_magic_message_matches_the_documented_form() -> None:
    assert "not a GGUF file (starts with b'PK\\x03\\x04')" in str(error(b"PK\x03\x04rest"))


@pytest.mark.parametrize("data", [b"", b"GG", b"GGU"])
def test_too_short_for_a_header(data: bytes) -> None:
    assert "empty" in error(data).message or "too short" in error(data).message


@pytest.mark.parametrize("version", [0, 4, 0xFFFF, 2**31])
def test_unsupported_version(version: int) -> None:
    err = error(b"GGUF" + struct.pack("<IQQ", version, 0, 0))
    assert err.message == f"unsupported GGUF version {version}" and err.offset == 4


def test_minimal_headers_of_each_version() -> None:
    for version in (1, 2, 3):
        size = "I" if version == 1 else "Q"
        info = read_gguf_bytes(b"GGUF" + struct.pack(f"<I2{size}", version, 0, 0))
        assert (info.version, len(info.metadata), info.tensors) == (version, 0, ())


@pytest.mark.parametrize(
    ("n_tensors", "n_kv", "offset"), [(0, 2**60, 16), (2**60, 0, 8), (2**64 - 1, 2**64 - 1, 16)]
)
def test_absurd_counts_fail_fast(n_tensors: int, n_kv: int, offset: int) -> None:
    data = b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + b"\0" * 64
    started = time.perf_counter()
    err = error(data)
    assert time.perf_counter() - started < 0.5
    assert "more than the remaining" in err.message and err.offset == offset


def test_absurd_string_length_fails_before_allocating() -> None:
    raw = Raw()
    raw.kvs.append(raw.pack("Q", 2**62) + b"key" + b"\0" * 32)
    err = error(raw.build())
    assert "4611686018427387904 bytes" in err.message and err.offset == 24


@pytest.mark.parametrize("arrays", [0, True])
@pytest.mark.parametrize(
    ("elem", "count"), [(V.UINT32, 2**61), (V.STRING, 2**40), (V.ARRAY, 2**59), (V.UINT8, 5)]
)
def test_absurd_array_count_fails_before_looping(elem: int, count: int, arrays: bool) -> None:
    raw = Raw().array("k", elem, [], count=count)
    started = time.perf_counter()
    err = error(raw.build(), arrays=arrays)
    assert time.perf_counter() - started < 0.5
    assert f"declares {count} elements" in err.message and err.offset == 24 + 9 + 4 + 4


@pytest.mark.parametrize("arrays", [0, True])
def test_bad_length_inside_a_string_array(arrays: bool) -> None:
    raw = Raw()
    good = raw.str_("ab") * 3
    bad = raw.pack("Q", 2**63 + 5) + b"xy"
    raw.kv("toks", V.ARRAY, raw.pack("IQ", V.STRING, 5) + good + bad + raw.str_("z"))
    err = error(raw.build(), arrays=arrays)
    assert "string #3 of key 'toks' declares" in err.message
    assert err.offset == 24 + 12 + 4 + 12 + 3 * 10


@pytest.mark.parametrize("arrays", [0, True])
def test_last_string_of_the_file_overshooting_its_end(arrays: bool) -> None:
    raw = Raw()
    raw.kv("toks", V.ARRAY, raw.pack("IQ", V.STRING, 2) + raw.str_("ab") + raw.pack("Q", 9) + b"xy")
    err = error(raw.build(), arrays=arrays)
    assert "string #1 of key 'toks' declares 9 bytes, but only 2 bytes remain" in err.message


@pytest.mark.parametrize(
    ("where", "build"),
    [
        ("key", lambda r: r.scalar(b"bad\xffkey", V.UINT8, 1)),
        ("value", lambda r: r.scalar("k", V.STRING, b"ok\xc3(")),
        ("array", lambda r: r.array("k", V.STRING, ["fine", b"\xe2\x82"])),
        ("tensor", lambda r: r.tensor(b"w\x80", (4,))),
    ],
)
def test_invalid_utf8_reports_the_byte(where: str, build: Callable[[Raw], Raw]) -> None:
    data = build(Raw()).build()
    err = error(data, arrays=True)
    assert "invalid UTF-8" in err.message and err.offset is not None
    assert data[err.offset] in b"\xff\xc3\xe2\x80"
    if where == "array":
        # Skipping does not decode; loading the array does, and finds the same byte.
        info = read_gguf_bytes(data, arrays=0)
        with pytest.raises(GGUFError, match="invalid UTF-8") as caught:
            info.load_array("k")
        assert caught.value.offset == err.offset


def test_unknown_value_types() -> None:
    err = error(Raw().kv("k", 13, b"\0" * 8).build())
    assert err.message == "unknown value type 13 for key 'k'" and err.offset == 24 + 9
    err = error(Raw().kv("k", V.ARRAY, struct.pack("<IQ", 42, 1) + b"\0" * 8).build())
    assert "unknown element type 42" in err.message and err.offset == 24 + 9 + 4


def test_bool_other_than_0_or_1_is_true_with_a_warning_as_in_llama_cpp() -> None:
    raw = Raw().kv("b", V.BOOL, b"\x02").array("bs", V.BOOL, [0, 7, 1])
    info = read_gguf_bytes(raw.build(), arrays=True)
    assert info.metadata["b"] is True and info.metadata["bs"] == [False, True, True]
    assert ["bool byte of 2" in w.message for w in info.warnings] == [True, False]
    assert "bool byte of 7" in info.warnings[1].message


def test_array_nesting_limit() -> None:
    def nested(depth: int) -> tuple[int, list[Any]]:
        inner: tuple[int, list[Any]] = (V.UINT8, [1])
        for _ in range(depth - 1):
            inner = (V.ARRAY, [inner])
        return inner

    ok = Raw().kv("k", V.ARRAY, Raw().array_payload(*nested(MAX_ARRAY_DEPTH))).build()
    value = read_gguf_bytes(ok, arrays=True).metadata["k"]
    for _ in range(MAX_ARRAY_DEPTH - 1):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == [1]
    deep = Raw().kv("k", V.ARRAY, Raw().array_payload(*nested(MAX_ARRAY_DEPTH + 1))).build()
    for arrays in (0, True):
        assert "nested more than" in error(deep, arrays=arrays).message
    # A file made only of array headers must not exhaust the stack either.
    bomb = Raw().kv("k", V.ARRAY, struct.pack("<IQ", V.ARRAY, 1) * 50_000).build()
    assert "nested more than" in error(bomb).message


def test_duplicate_and_empty_keys() -> None:
    err = error(
        Raw().scalar("a", V.UINT8, 1).scalar("b", V.UINT8, 2).scalar("a", V.UINT8, 3).build()
    )
    assert err.message == "duplicate key 'a' (first at byte 24)" and err.offset == 24 + 14 * 2
    assert "empty name" in error(Raw().scalar("", V.UINT8, 1).build()).message


def test_duplicate_tensor_names() -> None:
    err = error(Raw().tensor("w", (4,)).tensor("w", (4,)).build())
    assert err.message == "duplicate tensor name 'w' (first at byte 24)"


@pytest.mark.parametrize(
    ("value", "vtype", "message"),
    [
        (48, V.UINT32, "is 48, not a power of two"),
        (0, V.UINT32, "is 0, not a power of two"),
        (64, V.UINT64, "must be a uint32, not a uint64"),
    ],
)
def test_bad_alignment(value: int, vtype: int, message: str) -> None:
    err = error(Raw().scalar("general.alignment", vtype, value).build())
    assert message in err.message and err.offset == 24


def test_custom_alignment_applies_to_data_and_offsets() -> None:
    raw = Raw().scalar("general.alignment", V.UINT32, 256)
    raw.tensor("a", (3,), alignment=256).tensor("b", (5,), alignment=256)
    info = read_gguf_bytes(raw.build(alignment=256))
    assert info.alignment == 256 and info.data_offset == 256
    assert [t.offset for t in info.tensors] == [0, 256]
    misaligned = Raw().scalar("general.alignment", V.UINT32, 256).tensor("a", (3,), offset=32)
    err = error(misaligned.build(alignment=256) + b"\0" * 64)
    assert "offset 32, not a multiple of the alignment 256" in err.message


def test_tensor_shape_checks() -> None:
    err = error(Raw().tensor("w", (1, 1, 1, 1, 1)).build())
    assert err.message == "tensor 'w' has 5 dimensions; ggml allows at most 4"
    err = error(Raw().tensor("w", (4, 2**64 - 3), offset=0).build())
    assert "dimension 1 of tensor 'w' is negative (-3)" in err.message
    assert err.offset == 24 + 9 + 4 + 8
    err = error(Raw().tensor("w", (2**32, 2**32), offset=0).build())
    assert "more than ggml can index" in err.message
    err = error(Raw().tensor("w", (16, 2), TensorType.Q4_0).build())
    assert "rows of 16 elements, not a multiple of its block size 32" in err.message


def test_zero_elements_and_scalars_are_accepted_as_in_llama_cpp() -> None:
    info = read_gguf_bytes(Raw().tensor("empty", (0, 4)).tensor("scalar", ()).build())
    assert [(t.shape, t.n_elements, t.n_bytes) for t in info.tensors] == [
        ((0, 4), 0, 0),
        ((), 1, 4),
    ]
    assert ["no elements" in w.message for w in info.warnings] == [True]


def test_unknown_tensor_type_is_reported_by_number() -> None:
    raw = Raw().tensor("w", (8,), 99, offset=0).tensor("v", (4,), TensorType.F32, offset=32)
    info = read_gguf_bytes(raw.build() + b"\0" * 64)
    w = info.tensors[0]
    assert (w.type, w.type_name, w.n_bytes, w.n_elements) == (99, "unknown(99)", None, 8)
    assert info.tensor_type_bytes() == {"F32": 16, "unknown(99)": None}
    assert info.tensor_bytes == 16 and info.parameter_count == 12
    assert any("unknown type id 99" in w.message for w in info.warnings)


def test_removed_tensor_types_get_a_name_and_size() -> None:
    info = read_gguf_bytes(Raw().tensor("w", (64, 2), TensorType.Q4_0_4_4).build())
    assert (info.tensors[0].type_name, info.tensors[0].n_bytes) == ("Q4_0_4_4", 72)
    assert any("current llama.cpp refuses" in w.message for w in info.warnings)


def test_tensor_data_past_the_end_of_file() -> None:
    data = Raw().tensor("w", (8,)).build()
    err = error(data[:-1])
    assert "the data of tensor 'w' ends at byte" in err.message and err.offset == 24
    err = error(Raw().tensor("w", (8,), offset=2**64 - 32).build() + b"\0" * 32)
    assert "past the end of the file" in err.message
    err = error(Raw().tensor("w", (8,), 99, offset=64).build())
    assert "past the end" in err.message


def test_out_of_order_tensors_are_a_warning() -> None:
    raw = Raw().tensor("a", (8,), offset=32).tensor("b", (8,), offset=0)
    info = read_gguf_bytes(raw.build() + b"\0" * 64)
    assert [t.offset for t in info.tensors] == [32, 0]
    assert ["llama.cpp expects 0" in w.message for w in info.warnings] == [True]


@pytest.mark.parametrize("arrays", [0, True])
def test_every_truncation_of_a_small_file_is_a_gguf_error(arrays: bool) -> None:
    data = kitchen_sink()
    read_gguf_bytes(data, arrays=arrays)
    for cut in range(len(data)):
        with pytest.raises(GGUFError):
            read_gguf_bytes(data[:cut], arrays=arrays)


def test_truncations_of_a_real_shaped_model(tiny_gguf: Callable[..., Path]) -> None:
    data = tiny_gguf(n_layer=1, n_embd=32, n_head=4).read_bytes()
    info = read_gguf_bytes(data)
    last = info.tensors[-1]
    end = info.data_offset + last.offset + (last.n_bytes or 0)
    # Every 3rd cut in the header (every one in its last 100 bytes), a sample in the data.
    header = info.data_offset
    cuts = [*range(0, header, 3), *range(header - 100, header, 1), *range(header, end, 97), end - 1]
    for cut in cuts:
        with pytest.raises(GGUFError):
            read_gguf_bytes(data[:cut], arrays=64)


@pytest.mark.heavy
def test_every_byte_overwritten_gives_a_result_or_a_gguf_error() -> None:
    data = kitchen_sink()
    for pos in range(read_gguf_bytes(data).data_offset):
        for byte in (0x00, 0xFF):
            corrupt = data[:pos] + bytes([byte]) + data[pos + 1 :]
            _read_or_gguf_error(corrupt)


def _read_or_gguf_error(data: bytes) -> None:
    """Anything but a GGUFError escaping from reading (and loading every array) fails."""
    try:
        info = read_gguf_bytes(data, arrays=0)
        for key, value in info.metadata.items():
            if isinstance(value, ArraySummary):
                info.load_array(key)
        read_gguf_bytes(data, arrays=True)
    except GGUFError:
        pass


@settings(
    max_examples=fuzz_examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
    st.integers(0, 10_000),
)
def test_random_damage_gives_a_result_or_a_gguf_error(
    edits: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(kitchen_sink())
    for pos, byte in edits:
        data[pos % len(data)] = byte
    _read_or_gguf_error(bytes(data[: max(cut, len(data) // 2)]))


# --- Files that are not files -----------------------------------------------------------------


def test_missing_empty_directory_and_fifo(tmp_path: Path) -> None:
    cases: dict[str, Path] = {"no such file": tmp_path / "missing.gguf", "is a directory": tmp_path}
    (tmp_path / "empty.gguf").write_bytes(b"")
    cases["empty file"] = tmp_path / "empty.gguf"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo.gguf")
        cases["not a regular file"] = tmp_path / "fifo.gguf"
    for message, path in cases.items():
        with pytest.raises(GGUFError) as caught:
            read_gguf(path)
        assert message in caught.value.message and caught.value.source == str(path)
        assert caught.value.hint


# --- Typed accessors --------------------------------------------------------------------------


def test_per_layer_head_counts_and_wrong_types() -> None:
    per_layer = list(range(1, 301))
    raw = Raw().scalar("general.architecture", V.STRING, "openelm")
    raw.array("openelm.attention.head_count_kv", V.UINT32, per_layer)
    raw.scalar("openelm.context_length", V.STRING, "2048")
    raw.array("openelm.attention.head_count", V.STRING, ["a"])
    info = read_gguf_bytes(raw.build())
    assert isinstance(info.metadata["openelm.attention.head_count_kv"], ArraySummary)
    assert info.head_count_kv == per_layer
    assert (
        info.arch_get("attention.head_count_kv") == info.metadata["openelm.attention.head_count_kv"]
    )
    with pytest.raises(GGUFError, match=r"'openelm\.context_length' is a string, expected an int"):
        _ = info.context_length
    with pytest.raises(GGUFError, match="expected an integer or an array of integers"):
        _ = info.head_count
    assert info.embedding_length is None and info.file_type_name is None
    assert info.get("missing", 5) == 5


def test_accessors_without_an_architecture() -> None:
    info = read_gguf_bytes(Raw().scalar("general.file_type", V.UINT32, 15).build())
    assert info.architecture is None and info.context_length is None
    assert info.arch_get("context_length", 7) == 7
    assert info.file_type_name == "Q4_K_M" and info.vocab_size is None
    assert "architecture=None" in repr(info)


# --- Terminal safety --------------------------------------------------------------------------


def test_hostile_names_are_escaped_in_error_messages() -> None:
    name = "\x1b[2J\x1b]0;pwned\x07"
    raw = Raw().scalar(name, V.UINT8, 1).scalar(name, V.UINT8, 1)
    text = str(error(raw.build()))
    assert "\x1b" not in text and "\x07" not in text and "\\x1b[2J" in text
