"""Read a GGUF file's header, metadata and tensor infos, fast and without trusting the file.

llama.cpp's `gguf.GGUFReader` maps the whole file with numpy, decodes every token of the
vocabulary and builds a view over every tensor: seconds for a small model. modelpack only needs
the metadata and the tensor infos, so this reader walks them with `struct` over an mmap, stops
before the tensor data, and leaves large arrays (vocabularies, merges, scores) undecoded: they
become an `ArraySummary` that `GGUFInfo.load_array` decodes on demand, and so do strings
longer than `MAX_INLINE_STRING` (a `StringSummary`, see `GGUFInfo.text`). Reading a model's
metadata takes milliseconds whatever the file's size.

The file is input from anywhere, so every count and length is checked against the bytes that
remain before anything is allocated or looped over, and every problem is one `GGUFError` that
names the file, the byte offset and what to do; never a `struct.error`, a huge allocation or a
hang. Where llama.cpp accepts something odd (a bool byte that is neither 0 nor 1, a tensor with
no elements, tensors out of order), the reader accepts it too and records a `GGUFWarning`.
"""

from __future__ import annotations

import math
import mmap
import os
import stat
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from types import MappingProxyType
from typing import Final, Literal, NoReturn, TypeAlias, overload

from modelpack.core.gguf.format import (
    DEFAULT_ALIGNMENT,
    MAGIC,
    MAX_DIMS,
    MAX_TENSOR_NAME,
    REMOVED_TENSOR_TYPES,
    SCALAR_FORMATS,
    SUPPORTED_VERSIONS,
    TENSOR_BLOCK_SIZES,
    Keys,
    TensorType,
    ValueType,
    file_type_name,
    tensor_type_name,
)
from modelpack.errors import InputError

__all__ = [
    "DEFAULT_ARRAY_LIMIT",
    "MAX_ARRAY_DEPTH",
    "MAX_INLINE_STRING",
    "ArraySummary",
    "GGUFError",
    "GGUFInfo",
    "GGUFWarning",
    "StringSummary",
    "TensorInfo",
    "Value",
    "read_gguf",
    "read_gguf_bytes",
]

DEFAULT_ARRAY_LIMIT: Final = 256
"""Arrays with more elements than this are summarised, not decoded, unless `arrays=` says
otherwise. Per-layer arrays (head counts of some models) stay well below it; vocabularies,
merges and scores (32k to 256k entries) are far above it."""

MAX_ARRAY_DEPTH: Final = 8
"""Arrays of arrays nested deeper than this are refused: llama.cpp reads no nested arrays at all,
gguf-py writes them, and a file of nested array headers must not exhaust the stack."""

_TRUNCATED = "the file is truncated; download or copy it again"
_DAMAGED = "the file is damaged or not a GGUF model"
_CUT_OR_DAMAGED = "the file is truncated or damaged; download or copy it again"
_UNKNOWN_TYPE = "value types are 0 to 12; the file is damaged or newer than modelpack"
_NAME_SHOWN = 80
_INT64_LIMIT: Final = 1 << 63
MAX_INLINE_STRING: Final = 32 << 10
"""String values longer than this many bytes are not decoded by the read: they become a
`StringSummary`. Chat templates are a few KB; longer is an embedded tokenizer.json (MBs) or a
damaged length. Decoding n bytes of UTF-8 can take 4n bytes (one character past U+FFFF widens a
whole Python string) and a decode error copies the bytes, so a read that decoded every string
could allocate several times the file's size; this keeps it within the file's size plus a
constant."""

MAX_KEY_LENGTH: Final = 65535
"""The GGUF specification caps key names at 2**16 - 1 bytes; a longer one is damage (found by
fuzzing: a flipped length byte made a 33 MB key that was decoded before this check)."""


class GGUFError(InputError):
    """A file that is not a readable GGUF model, with the byte offset of the problem."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        offset: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, source=source, hint=hint)
        self.offset = offset

    def __str__(self) -> str:
        text = f"{self.source or '<input>'}: {self.message}"
        if self.offset is not None:
            text += f" at byte {self.offset}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass(frozen=True, slots=True)
class ArraySummary:
    """An array left undecoded because it is large; `GGUFInfo.load_array(key)` decodes it."""

    type: ValueType
    """The element type (ARRAY for an array of arrays)."""
    count: int
    offset: int
    """Byte offset of the array in the file (its element-type field)."""
    size: int
    """Bytes the array takes in the file, its header included."""


@dataclass(frozen=True, slots=True)
class StringSummary:
    """A string left undecoded because it is long; `GGUFInfo.text(key)` decodes it."""

    offset: int
    """Byte offset of the string in the file (its length field)."""
    size: int
    """Bytes of UTF-8 text."""


Value: TypeAlias = "int | float | bool | str | list[Value] | ArraySummary | StringSummary"


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as the header describes it; its data is not read."""

    name: str
    shape: tuple[int, ...]
    """ggml's `ne` order: the fastest-varying dimension first (numpy's shape reversed)."""
    type: TensorType | int
    """A plain int when the type id is unknown to modelpack (the file is not refused for it)."""
    offset: int
    """Offset of the tensor's data from the start of the data section."""
    n_bytes: int | None
    """Size of the data, or None when the type is unknown."""
    info_offset: int
    """Byte offset of this tensor's info record in the file."""

    @property
    def type_name(self) -> str:
        return tensor_type_name(self.type)

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True, slots=True)
class GGUFWarning:
    """Something llama.cpp accepts (so the reader does too) that is still worth reporting."""

    message: str
    offset: int

    def __str__(self) -> str:
        return f"{self.message} at byte {self.offset}"


@dataclass(frozen=True, eq=False)
class GGUFInfo:
    """Everything in a GGUF file except the tensor data."""

    source: str
    version: int
    byte_order: Literal["little", "big"]
    metadata: Mapping[str, Value]
    """Every key/value in file order; large arrays are `ArraySummary`s, long strings
    `StringSummary`s."""
    value_types: Mapping[str, tuple[ValueType, ...]]
    """(type,) for a scalar or string, (ARRAY, element type) for an array."""
    key_offsets: Mapping[str, int]
    """Byte offset of each key/value record, for error messages."""
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    """Where the (aligned) data section starts; tensor offsets are relative to it."""
    file_size: int
    warnings: tuple[GGUFWarning, ...] = ()
    _path: Path | None = field(default=None, repr=False)
    _buffer: bytes | bytearray | memoryview | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"GGUFInfo(source={self.source!r}, version={self.version}, "
            f"architecture={self.architecture!r}, keys={len(self.metadata)}, "
            f"tensors={len(self.tensors)})"
        )

    def get(self, key: str, default: Value | None = None) -> Value | None:
        return self.metadata.get(key, default)

    def arch_get(self, suffix: str, default: Value | None = None) -> Value | None:
        """`{arch}.<suffix>`, e.g. `arch_get("context_length")`; default without an arch."""
        arch = self.architecture
        return default if arch is None else self.metadata.get(f"{arch}.{suffix}", default)

    def tensor(self, name: str) -> TensorInfo:
        for info in self.tensors:
            if info.name == name:
                return info
        raise KeyError(name)

    def load_array(self, key: str) -> list[Value]:
        """The array under `key`, decoding it from the file if it was summarised.

        Re-reads the file it came from (or the buffer given to `read_gguf_bytes`), checked
        like the first read: a file changed since raises `GGUFError`.
        """
        value = self.metadata[key]
        if isinstance(value, list):
            return value
        if not isinstance(value, ArraySummary):
            raise TypeError(f"{key} is a {self.value_types[key][0].name.lower()}, not an array")
        with self._reread() as parser:
            loaded, end = parser.array(value.offset, f"key {_q(key)}", 1, None)
        if not isinstance(loaded, list) or end != value.offset + value.size:
            self._changed(value.offset)
        return loaded

    def string_items(self, key: str, indices: Iterable[int]) -> dict[int, str]:
        """Elements `indices` of the string array under `key`, index -> text, decoding only
        those: naming a special token must not decode a 150k-token vocabulary. Indices
        outside the array are left out. Re-reads the file, checked like the first read."""
        value = self.metadata[key]
        wanted = sorted({i for i in indices if i >= 0})
        if isinstance(value, list):
            return {i: v for i in wanted if i < len(value) and isinstance(v := value[i], str)}
        if not isinstance(value, ArraySummary) or value.type != ValueType.STRING:
            found = "/".join(t.name.lower() for t in self.value_types[key])
            raise TypeError(f"{key} is a {found}, not an array of strings")
        wanted = [i for i in wanted if i < value.count]
        what = f"key {_q(key)}"
        found_items: dict[int, str] = {}
        with self._reread() as parser:
            elem, count, pos = parser.array_header(value.offset, what, 1)
            if elem != ValueType.STRING or count != value.count:
                self._changed(value.offset)
            done = 0
            for index in wanted:
                pos = parser.skip_strings(pos, index - done, what)
                found_items[index], pos = parser.string(pos, f"string #{index} of {what}")
                done = index + 1
        return found_items

    def text(self, key: str) -> str | None:
        """The string under `key`, decoding it from the file if it was summarised; None when
        the key is missing. A key of another type raises GGUFError."""
        value = self.metadata.get(key)
        if value is None or isinstance(value, str):
            return value
        if not isinstance(value, StringSummary):
            self._bad_type(key, "a string")
        with self._reread() as parser:
            loaded, end = parser.string(value.offset, f"key {_q(key)}")
        if end != value.offset + parser.len_size + value.size:
            self._changed(value.offset)
        return loaded

    @contextmanager
    def _reread(self) -> Iterator[_Parser]:
        """A parser over the file (or buffer) this came from, checked like the first read."""
        opened: AbstractContextManager[_Buffer]
        if self._buffer is not None:
            opened = nullcontext(self._buffer)
        elif self._path is not None:
            opened = _mapped(self._path, self.source)
        else:
            raise ValueError("this GGUFInfo has no file or buffer to load values from")
        with opened as buf:
            if len(buf) != self.file_size:
                self._changed(None)
            parser = _Parser(buf, self.source, None, summarise_strings=False)
            parser.setup(self.byte_order, self.version)
            yield parser

    def _changed(self, offset: int | None) -> NoReturn:
        raise GGUFError(
            "the file changed since its metadata was read",
            source=self.source,
            offset=offset,
            hint="read it again",
        )

    # Typed views of the keys modelpack uses. Missing keys give None; a key with the wrong
    # type raises GGUFError, because guessing would hide a broken file.

    @property
    def architecture(self) -> str | None:
        value = self.metadata.get(Keys.ARCHITECTURE)
        return value if isinstance(value, str) else None

    @property
    def name(self) -> str | None:
        return self.text(Keys.NAME)

    @property
    def chat_template(self) -> str | None:
        return self.text(Keys.CHAT_TEMPLATE)

    @property
    def file_type(self) -> int | None:
        return self._int(Keys.FILE_TYPE)

    @property
    def file_type_name(self) -> str | None:
        """`Q4_K_M`, `F16`, ... from `general.file_type`; `unknown(N)` for an unknown id."""
        value = self.file_type
        return None if value is None else file_type_name(value)

    @property
    def context_length(self) -> int | None:
        return self._int(self._arch_key(Keys.CONTEXT_LENGTH))

    @property
    def block_count(self) -> int | None:
        return self._int(self._arch_key(Keys.BLOCK_COUNT))

    @property
    def embedding_length(self) -> int | None:
        return self._int(self._arch_key(Keys.EMBEDDING_LENGTH))

    @property
    def feed_forward_length(self) -> int | list[int] | None:
        return self._int_or_list(self._arch_key(Keys.FEED_FORWARD_LENGTH))

    @property
    def head_count(self) -> int | list[int] | None:
        """An int, or one value per layer in models that vary it (OpenELM, ...)."""
        return self._int_or_list(self._arch_key(Keys.HEAD_COUNT))

    @property
    def head_count_kv(self) -> int | list[int] | None:
        """An int, or one value per layer in models that vary it (OpenELM, ...)."""
        return self._int_or_list(self._arch_key(Keys.HEAD_COUNT_KV))

    @property
    def key_length(self) -> int | None:
        return self._int(self._arch_key(Keys.KEY_LENGTH))

    @property
    def value_length(self) -> int | None:
        return self._int(self._arch_key(Keys.VALUE_LENGTH))

    @property
    def sliding_window(self) -> int | None:
        return self._int(self._arch_key(Keys.SLIDING_WINDOW))

    @property
    def rope_dimension_count(self) -> int | None:
        return self._int(self._arch_key(Keys.ROPE_DIMENSION_COUNT))

    @property
    def vocab_size(self) -> int | None:
        """`{arch}.vocab_size`, else the length of the token list (without decoding it)."""
        size = self._int(self._arch_key(Keys.VOCAB_SIZE))
        if size is not None:
            return size
        tokens = self.metadata.get(Keys.TOKENS)
        if isinstance(tokens, ArraySummary):
            return tokens.count
        return len(tokens) if isinstance(tokens, list) else None

    @property
    def parameter_count(self) -> int:
        """Total elements of all tensors, as Ollama reports `general.parameter_count`."""
        return sum(math.prod(t.shape) for t in self.tensors)

    @property
    def tensor_bytes(self) -> int:
        """Bytes of tensor data, tensors of unknown type not counted."""
        return sum(t.n_bytes for t in self.tensors if t.n_bytes is not None)

    def tensor_type_bytes(self) -> dict[str, int | None]:
        """Bytes per tensor type, largest first: the file's real mix of quantizations
        (`general.file_type` names only the dominant one). None for an unknown type."""
        totals: dict[str, int | None] = {}
        for t in self.tensors:
            name = t.type_name
            if name not in totals:
                totals[name] = 0
            so_far = totals[name]
            totals[name] = None if so_far is None or t.n_bytes is None else so_far + t.n_bytes
        return dict(sorted(totals.items(), key=lambda item: -(item[1] or 0)))

    def _arch_key(self, template: str) -> str | None:
        arch = self.architecture
        return None if arch is None else template.format(arch=arch)

    def _bad_type(self, key: str, expected: str) -> NoReturn:
        found = "/".join(t.name.lower() for t in self.value_types[key])
        raise GGUFError(
            f"{_q(key)} is a {found}, expected {expected}",
            source=self.source,
            offset=self.key_offsets[key],
            hint=_DAMAGED,
        )

    def _int(self, key: str | None) -> int | None:
        value = None if key is None else self.metadata.get(key)
        if value is None or key is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self._bad_type(key, "an integer")

    def _int_or_list(self, key: str | None) -> int | list[int] | None:
        value = None if key is None else self.metadata.get(key)
        if value is None or key is None:
            return None
        if isinstance(value, ArraySummary):
            value = self.load_array(key)
        if isinstance(value, list):
            ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
            if len(ints) == len(value):
                return ints
            self._bad_type(key, "an integer or an array of integers")
        return self._int(key)


_Buffer: TypeAlias = "bytes | bytearray | memoryview | mmap.mmap"


def read_gguf(
    path: str | os.PathLike[str], *, arrays: bool | int = DEFAULT_ARRAY_LIMIT
) -> GGUFInfo:
    """Read the header, all metadata and all tensor infos of the GGUF file at `path`.

    `arrays`: decode arrays of at most this many elements (nested arrays: all their elements
    together) and summarise larger ones; True decodes everything, False summarises every
    non-empty array. Strings longer than `MAX_INLINE_STRING`, and arrays holding one, are
    summarised whatever `arrays` says. The file is memory-mapped and only its header pages
    are touched.
    """
    limit = _array_limit(arrays=arrays)
    source = os.fspath(path)
    with _mapped(Path(source), source) as buf:
        return _Parser(buf, source, limit).parse(path=Path(source), buffer=None)


def read_gguf_bytes(
    data: bytes | bytearray | memoryview,
    *,
    source: str = "<bytes>",
    arrays: bool | int = DEFAULT_ARRAY_LIMIT,
) -> GGUFInfo:
    """`read_gguf` for a whole file already in memory (tensor data is not read, but it must be
    there: each tensor's extent is checked). The result keeps `data` for `load_array`."""
    limit = _array_limit(arrays=arrays)
    buf = memoryview(data).cast("B") if isinstance(data, memoryview) else data
    return _Parser(buf, source, limit).parse(path=None, buffer=buf)


def _q(name: str) -> str:
    """A name from the file, quoted for an error message (`repr` escapes control characters;
    the CLI escapes every message again before printing it)."""
    return repr(name if len(name) <= _NAME_SHOWN else name[: _NAME_SHOWN - 1] + "…")


def _array_limit(*, arrays: bool | int) -> int | None:
    if arrays is True:
        return None
    if arrays is False:
        return 0
    if not isinstance(arrays, int) or arrays < 0:
        raise ValueError(f"arrays must be a bool or a non-negative int, not {arrays!r}")
    return arrays


@contextmanager
def _mapped(path: Path, source: str) -> Iterator[mmap.mmap]:
    """The file mapped read-only; a clear GGUFError for anything that is not a regular file."""

    def fail(message: str, hint: str) -> NoReturn:
        raise GGUFError(message, source=source, hint=hint) from None

    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        fail("no such file", "check the path")
    except IsADirectoryError:
        fail("is a directory", "give the path of the .gguf file inside it")
    except PermissionError:
        fail("permission denied", "check the file's permissions")
    except OSError as exc:
        fail(f"cannot open: {exc.strerror or exc}", "check the path")
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            fail("is a directory", "give the path of the .gguf file inside it")
        if not stat.S_ISREG(info.st_mode):
            fail("not a regular file", "give the path of a .gguf file")
        if info.st_size == 0:
            fail("empty file (0 bytes)", _TRUNCATED)
        try:
            mapped = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            fail(f"cannot map the file: {exc}", "copy it to a local disk and try again")
    finally:
        os.close(fd)
    try:
        yield mapped
    finally:
        mapped.close()


def _magic_hint(head: bytes) -> str:
    """What the file probably is instead, from its first bytes."""
    if head.startswith(b"PK\x03\x04"):
        return "this is a zip archive, such as a PyTorch checkpoint, not a GGUF model"
    if head.startswith(b"version https://git-lfs"):
        return "this is a Git LFS pointer, not the model: fetch the real file with git lfs pull"
    if head.lstrip().lower().startswith((b"<!doctype", b"<html")):
        return "this is a web page, not a model: the download probably returned an error page"
    if head[:4] in (b"lmgg", b"fmgg", b"tjgg"):
        return "this is a pre-GGUF GGML model: convert it to GGUF with llama.cpp"
    if head[8:10] == b'{"':
        return "this looks like a safetensors file: convert it to GGUF with llama.cpp"
    return "GGUF files start with the 4 bytes b'GGUF'"


_PLAIN_TYPES: Final[dict[int, tuple[int, int, TensorType]]] = {
    int(t): (*TENSOR_BLOCK_SIZES[t], t) for t in TensorType if t not in REMOVED_TENSOR_TYPES
}
"""Tensor types the fast path of `_Parser.tensor_infos` takes: (block, block bytes, type)."""


class _LongString(Exception):
    """A string in an array is longer than `MAX_INLINE_STRING`: the array is summarised."""


class _Parser:
    """One pass over a buffer. Offsets are absolute; `end` is the buffer's length."""

    def __init__(
        self, buf: _Buffer, source: str, limit: int | None, *, summarise_strings: bool = True
    ) -> None:
        self.buf = buf
        self.end = len(buf)
        self.source = source
        self.limit = limit
        self.string_limit = MAX_INLINE_STRING if summarise_strings else None
        self.warnings: list[GGUFWarning] = []
        self.setup("little", 3)

    def setup(self, byte_order: Literal["little", "big"], version: int) -> None:
        self.byte_order: Literal["little", "big"] = byte_order
        self.version = version
        order = "<" if byte_order == "little" else ">"
        size_char = "I" if version == 1 else "Q"
        self.order = order
        self.u32 = struct.Struct(order + "I")
        self.length = struct.Struct(order + size_char)
        self.len_size = self.length.size
        self.dims = [struct.Struct(order + size_char * n) for n in range(MAX_DIMS + 1)]
        self.type_offset = struct.Struct(order + "IQ")
        self.scalars = {int(t): struct.Struct(order + c) for t, c in SCALAR_FORMATS.items()}
        self.chars = {int(t): c for t, c in SCALAR_FORMATS.items()}
        self.min_size = {t: s.size for t, s in self.scalars.items()}
        self.min_size[ValueType.STRING] = self.len_size
        self.min_size[ValueType.ARRAY] = 4 + self.len_size

    def fail(self, message: str, offset: int, hint: str = _DAMAGED) -> NoReturn:
        raise GGUFError(message, source=self.source, offset=offset, hint=hint)

    def need(self, pos: int, size: int, what: str) -> None:
        if pos + size > self.end:
            self.fail(f"file ends inside {what} (it has {self.end} bytes)", pos, _TRUNCATED)

    def warn(self, message: str, offset: int) -> None:
        self.warnings.append(GGUFWarning(message, offset))

    def parse(
        self, *, path: Path | None, buffer: bytes | bytearray | memoryview | None
    ) -> GGUFInfo:
        pos, n_tensors, n_kv = self.header()
        metadata: dict[str, Value] = {}
        types: dict[str, tuple[ValueType, ...]] = {}
        offsets: dict[str, int] = {}
        buf, u32 = self.buf, self.u32
        for i in range(n_kv):
            start = pos
            key, pos = self.string(pos, f"the name of key #{i}", MAX_KEY_LENGTH)
            if not key:
                self.fail(f"key #{i} has an empty name", start)
            if key in metadata:
                self.fail(f"duplicate key {_q(key)} (first at byte {offsets[key]})", start)
            what = f"key {_q(key)}"
            self.need(pos, 4, f"the type of {what}")
            vtype = u32.unpack_from(buf, pos)[0]
            value_pos = pos + 4
            value, pos = self.value(vtype, value_pos, pos, what)
            metadata[key] = value
            offsets[key] = start
            if vtype == ValueType.ARRAY:
                types[key] = (ValueType.ARRAY, ValueType(u32.unpack_from(buf, value_pos)[0]))
            else:
                types[key] = (ValueType(vtype),)
        alignment = self.alignment(metadata, types, offsets)
        tensors, pos = self.tensor_infos(pos, n_tensors)
        data_offset = -(-pos // alignment) * alignment
        self.check_tensor_data(tensors, alignment, data_offset)
        return GGUFInfo(
            source=self.source,
            version=self.version,
            byte_order=self.byte_order,
            metadata=MappingProxyType(metadata),
            value_types=MappingProxyType(types),
            key_offsets=MappingProxyType(offsets),
            tensors=tuple(tensors),
            alignment=alignment,
            data_offset=data_offset,
            file_size=self.end,
            warnings=tuple(self.warnings),
            _path=path,
            _buffer=buffer,
        )

    def header(self) -> tuple[int, int, int]:
        buf, end = self.buf, self.end
        if end < len(MAGIC):
            if end == 0:
                self.fail("empty file (0 bytes)", 0, _TRUNCATED)
            self.fail(f"too short to be a GGUF file ({end} bytes)", 0, _CUT_OR_DAMAGED)
        head = bytes(buf[:64])
        if head[:4] != MAGIC:
            self.fail(f"not a GGUF file (starts with {head[:4]!r})", 0, _magic_hint(head))
        self.need(4, 4, "the version")
        version = struct.unpack_from("<I", buf, 4)[0]
        byte_order: Literal["little", "big"] = "little"
        if version not in SUPPORTED_VERSIONS:
            swapped = struct.unpack_from(">I", buf, 4)[0]
            if swapped not in SUPPORTED_VERSIONS:
                self.fail(
                    f"unsupported GGUF version {version}",
                    4,
                    "modelpack reads versions 1 to 3; the file is damaged or newer than modelpack",
                )
            version, byte_order = swapped, "big"
        self.setup(byte_order, version)
        count = struct.Struct(self.order + ("II" if version == 1 else "QQ"))
        self.need(8, count.size, "the header")
        n_tensors, n_kv = count.unpack_from(buf, 8)
        pos = 8 + count.size
        # Smallest possible records: an (empty) key with a uint8 value; a tensor info with an
        # empty name and no dimensions. Counts the remaining bytes cannot hold are refused here,
        # before any loop runs.
        remaining = end - pos
        kv_min = self.len_size + 4 + 1
        tensor_min = self.len_size + 4 + 4 + 8
        if n_kv > remaining // kv_min:
            self.fail(
                f"the header declares {n_kv} metadata keys, more than the remaining "
                f"{remaining} bytes can hold",
                8 + count.size // 2,
                _CUT_OR_DAMAGED,
            )
        if n_tensors > (remaining - n_kv * kv_min) // tensor_min:
            self.fail(
                f"the header declares {n_tensors} tensors, more than the remaining "
                f"{remaining} bytes can hold",
                8,
                _CUT_OR_DAMAGED,
            )
        return pos, n_tensors, n_kv

    @overload
    def string(self, pos: int, what: str, limit: int | None = None) -> tuple[str, int]: ...
    @overload
    def string(
        self, pos: int, what: str, *, summarise_over: int | None
    ) -> tuple[str | StringSummary, int]: ...
    def string(
        self,
        pos: int,
        what: str,
        limit: int | None = None,
        *,
        summarise_over: int | None = None,
    ) -> tuple[str | StringSummary, int]:
        """The string at `pos`: longer than `limit` is an error, longer than `summarise_over`
        a `StringSummary`."""
        size = self.len_size
        self.need(pos, size, what)
        n = self.length.unpack_from(self.buf, pos)[0]
        start = pos + size
        if limit is not None and n > limit:
            self.fail(f"{what} is {n} bytes long; the GGUF format allows at most {limit}", pos)
        if n > self.end - start:
            self.fail(
                f"{what} is a string of {n} bytes, but only {self.end - start} bytes remain",
                pos,
                _CUT_OR_DAMAGED,
            )
        if summarise_over is not None and n > summarise_over:
            return StringSummary(pos, n), start + n
        try:
            # Decoded from a view: slicing the mmap would copy the bytes first, and a damaged
            # length could make that copy as large as the file, on top of the text.
            with memoryview(self.buf) as view, view[start : start + n] as part:
                return str(part, "utf-8"), start + n
        except UnicodeDecodeError as exc:
            self.fail(f"invalid UTF-8 in {what}", start + exc.start)

    def value(self, vtype: int, pos: int, type_pos: int, what: str) -> tuple[Value, int]:
        scalar = self.scalars.get(vtype)
        if scalar is not None:
            self.need(pos, scalar.size, what)
            value = scalar.unpack_from(self.buf, pos)[0]
            if vtype == ValueType.BOOL:
                return self.boolean([value], pos, what)[0], pos + 1
            return value, pos + scalar.size
        if vtype == ValueType.STRING:
            return self.string(pos, what, summarise_over=self.string_limit)
        if vtype == ValueType.ARRAY:
            return self.array(pos, what, 1, self.limit)
        self.fail(f"unknown value type {vtype} for {what}", type_pos, _UNKNOWN_TYPE)

    def boolean(self, raw: Sequence[int], pos: int, what: str) -> list[Value]:
        if raw and max(raw) > 1:
            self.warn(
                f"{what} holds a bool byte of {max(raw)} (read as true, as llama.cpp does)", pos
            )
        return [b != 0 for b in raw]

    def array_header(self, pos: int, what: str, depth: int) -> tuple[int, int, int]:
        if depth > MAX_ARRAY_DEPTH:
            self.fail(f"arrays nested more than {MAX_ARRAY_DEPTH} deep in {what}", pos)
        self.need(pos, 4 + self.len_size, f"the array header of {what}")
        elem = self.u32.unpack_from(self.buf, pos)[0]
        count = self.length.unpack_from(self.buf, pos + 4)[0]
        data = pos + 4 + self.len_size
        if elem not in self.min_size:
            self.fail(f"unknown element type {elem} in the array of {what}", pos, _UNKNOWN_TYPE)
        if count > (self.end - data) // self.min_size[elem]:
            self.fail(
                f"the array of {what} declares {count} elements of type "
                f"{ValueType(elem).name.lower()}, more than the remaining "
                f"{self.end - data} bytes can hold",
                pos + 4,
                _CUT_OR_DAMAGED,
            )
        return elem, count, data

    def array(self, pos: int, what: str, depth: int, limit: int | None) -> tuple[Value, int]:
        """Decode the array at `pos`, or summarise it when it has more than `limit` elements."""
        elem, count, data = self.array_header(pos, what, depth)
        if limit is not None and count > limit:
            end, _ = self.skip(elem, count, data, what, depth)
            return ArraySummary(ValueType(elem), count, pos, end - pos), end
        if elem == ValueType.ARRAY and limit is not None:
            end, total = self.skip(elem, count, data, what, depth)
            if total > limit:
                return ArraySummary(ValueType.ARRAY, count, pos, end - pos), end
        if depth > 1 or self.string_limit is None:
            return self.decode(elem, count, data, what, depth)
        try:  # a string longer than MAX_INLINE_STRING anywhere inside summarises the array
            return self.decode(elem, count, data, what, depth)
        except _LongString:
            end, _ = self.skip(elem, count, data, what, depth)
            return ArraySummary(ValueType(elem), count, pos, end - pos), end

    def decode(
        self, elem: int, count: int, data: int, what: str, depth: int
    ) -> tuple[list[Value], int]:
        if elem in self.scalars:
            raw = struct.unpack_from(f"{self.order}{count}{self.chars[elem]}", self.buf, data)
            end = data + count * self.scalars[elem].size
            if elem == ValueType.BOOL:
                return self.boolean(raw, data, what), end
            return list(raw), end
        if elem == ValueType.STRING:
            return self.strings(data, count, what)
        values: list[Value] = []
        pos = data
        for _ in range(count):
            value, pos = self.array(pos, what, depth + 1, None)
            values.append(value)
        return values, pos

    def skip(self, elem: int, count: int, data: int, what: str, depth: int) -> tuple[int, int]:
        """End offset and number of values (nested arrays: at every level) of an array."""
        scalar = self.scalars.get(elem)
        if scalar is not None:
            return data + count * scalar.size, count
        if elem == ValueType.STRING:
            return self.skip_strings(data, count, what), count
        pos, total = data, count
        for _ in range(count):
            sub_elem, sub_count, sub_data = self.array_header(pos, what, depth + 1)
            pos, sub_total = self.skip(sub_elem, sub_count, sub_data, what, depth + 1)
            total += sub_total
        return pos, total

    def skip_strings(self, pos: int, count: int, what: str) -> int:
        """Walk `count` strings without decoding them: the hot loop of a metadata read (a
        vocabulary is 32k to 256k strings), so it does one unpack per string and checks
        bounds once at the end; only a bad array is walked again, slowly, to say where."""
        start = pos
        buf, step = self.buf, self.len_size
        unpack = self.length.unpack_from
        try:
            for _ in repeat(None, count):
                pos += unpack(buf, pos)[0] + step
        except (struct.error, OverflowError):
            self.check_strings(start, count, what, decode=False)
        if pos > self.end:
            self.check_strings(start, count, what, decode=False)
        return pos

    def strings(self, pos: int, count: int, what: str) -> tuple[list[Value], int]:
        start = pos
        buf, end, step = self.buf, self.end, self.len_size
        unpack = self.length.unpack_from
        longest = end if self.string_limit is None else self.string_limit + step
        out: list[Value] = []
        append = out.append
        try:
            for _ in repeat(None, count):
                stop = pos + step + unpack(buf, pos)[0]
                if stop > end:
                    break
                if stop - pos > longest:
                    raise _LongString
                append(str(buf[pos + step : stop], "utf-8"))
                pos = stop
            else:
                return out, pos
        except (struct.error, OverflowError, UnicodeDecodeError):
            pass
        self.check_strings(start, count, what, decode=True)

    def check_strings(self, pos: int, count: int, what: str, *, decode: bool) -> NoReturn:
        """Find and report the first bad string of an array the fast loops gave up on."""
        buf, end, step = self.buf, self.end, self.len_size
        for i in range(count):
            item = f"string #{i} of {what}"
            self.need(pos, step, item)
            n = self.length.unpack_from(buf, pos)[0]
            if n > end - pos - step:
                self.fail(
                    f"{item} declares {n} bytes, but only {end - pos - step} bytes remain",
                    pos,
                    _CUT_OR_DAMAGED,
                )
            if decode:
                try:
                    str(buf[pos + step : pos + step + n], "utf-8")
                except UnicodeDecodeError as exc:
                    self.fail(f"invalid UTF-8 in {item}", pos + step + exc.start)
            pos += step + n
        raise AssertionError(f"no bad string found in {what}")

    def alignment(
        self,
        metadata: Mapping[str, Value],
        types: Mapping[str, tuple[ValueType, ...]],
        offsets: Mapping[str, int],
    ) -> int:
        value = metadata.get(Keys.ALIGNMENT)
        if value is None:
            return DEFAULT_ALIGNMENT
        where = offsets[Keys.ALIGNMENT]
        if types[Keys.ALIGNMENT] != (ValueType.UINT32,) or not isinstance(value, int):
            found = "/".join(t.name.lower() for t in types[Keys.ALIGNMENT])
            self.fail(f"{Keys.ALIGNMENT} must be a uint32, not a {found}", where)
        if value == 0 or value & (value - 1):
            self.fail(f"{Keys.ALIGNMENT} is {value}, not a power of two", where)
        return value

    def tensor_infos(self, pos: int, n_tensors: int) -> tuple[list[TensorInfo], int]:
        """All tensor infos. Big models have thousands, so the loop reads a plain record
        (known type, 1-4 positive dims, short UTF-8 name, all in bounds) with a few unpacks and
        no message strings; anything else goes through `tensor_info`, which owns every check,
        warning and error message."""
        buf, end, step = self.buf, self.end, self.len_size
        read_length, read_u32 = self.length.unpack_from, self.u32.unpack_from
        read_dims = [d.unpack_from for d in self.dims]
        read_tail = self.type_offset.unpack_from
        dim_size, tail = self.dims[1].size, self.type_offset.size
        tensors: list[TensorInfo] = []
        seen: dict[str, int] = {}
        for i in range(n_tensors):
            info = None
            if pos + step <= end:
                n = read_length(buf, pos)[0]
                dims_pos = pos + step + n + 4
                if n < MAX_TENSOR_NAME and dims_pos <= end:
                    n_dims = read_u32(buf, dims_pos - 4)[0]
                    tail_pos = dims_pos + n_dims * dim_size
                    if 0 < n_dims <= MAX_DIMS and tail_pos + tail <= end:
                        shape = read_dims[n_dims](buf, dims_pos)
                        type_id, offset = read_tail(buf, tail_pos)
                        sizes = _PLAIN_TYPES.get(type_id)
                        n_elements = math.prod(shape)
                        if sizes and 0 < n_elements < _INT64_LIMIT and not shape[0] % sizes[0]:
                            try:
                                name = str(buf[pos + step : dims_pos - 4], "utf-8")
                            except UnicodeDecodeError:
                                name = ""
                            if name and name not in seen:
                                n_bytes = n_elements // sizes[0] * sizes[1]
                                info = TensorInfo(name, shape, sizes[2], offset, n_bytes, pos)
                                next_pos = tail_pos + tail
            if info is None:
                info, next_pos = self.tensor_info(pos, i, seen)
            seen[info.name] = pos
            tensors.append(info)
            pos = next_pos
        return tensors, pos

    def tensor_info(self, pos: int, i: int, seen: Mapping[str, int]) -> tuple[TensorInfo, int]:
        """One tensor info, every check spelled out."""
        buf, u32 = self.buf, self.u32
        dim_size = self.dims[1].size
        start = pos
        name, pos = self.string(pos, f"the name of tensor #{i}")
        label = f"tensor {_q(name)}"
        if name in seen:
            self.fail(f"duplicate tensor name {_q(name)} (first at byte {seen[name]})", start)
        if pos - start - self.len_size >= MAX_TENSOR_NAME:
            self.warn(
                f"{label} has a name of {MAX_TENSOR_NAME} bytes or more, which llama.cpp refuses",
                start,
            )
        self.need(pos, 4, f"the dimension count of {label}")
        n_dims = u32.unpack_from(buf, pos)[0]
        if n_dims > MAX_DIMS:
            self.fail(f"{label} has {n_dims} dimensions; ggml allows at most {MAX_DIMS}", pos)
        pos += 4
        self.need(pos, n_dims * dim_size, f"the shape of {label}")
        shape = self.dims[n_dims].unpack_from(buf, pos)
        for j, dim in enumerate(shape):
            if dim >= _INT64_LIMIT:
                self.fail(
                    f"dimension {j} of {label} is negative ({dim - (1 << 64)})",
                    pos + j * dim_size,
                )
        pos += n_dims * dim_size
        n_elements = math.prod(shape)
        if n_elements >= _INT64_LIMIT:
            self.fail(f"{label} has {n_elements} elements, more than ggml can index", start)
        if n_elements == 0 and n_dims:
            self.warn(f"{label} has no elements (shape {list(shape)})", start)
        self.need(pos, self.type_offset.size, f"the type and offset of {label}")
        type_id, offset = self.type_offset.unpack_from(buf, pos)
        ttype, n_bytes = self.tensor_type(type_id, shape, n_elements, label, pos)
        pos += self.type_offset.size
        return TensorInfo(name, shape, ttype, offset, n_bytes, start), pos

    def tensor_type(
        self, type_id: int, shape: tuple[int, ...], n_elements: int, label: str, pos: int
    ) -> tuple[TensorType | int, int | None]:
        try:
            ttype = TensorType(type_id)
        except ValueError:
            self.warn(f"{label} has unknown type id {type_id}: its size is unknown", pos)
            return type_id, None
        block, block_bytes = TENSOR_BLOCK_SIZES[ttype]
        row = shape[0] if shape else 1
        if row % block:
            self.fail(
                f"{label} of type {ttype.name} has rows of {row} elements, "
                f"not a multiple of its block size {block}",
                pos,
            )
        if ttype in REMOVED_TENSOR_TYPES:
            self.warn(f"{label} has type {ttype.name}, which current llama.cpp refuses", pos)
        return ttype, n_elements // block * block_bytes

    def check_tensor_data(
        self, tensors: list[TensorInfo], alignment: int, data_offset: int
    ) -> None:
        if tensors and data_offset > self.end:
            self.fail(
                f"file ends before its data section ({self.end} bytes)", data_offset, _TRUNCATED
            )
        expected: int | None = 0
        for t in tensors:
            if t.offset % alignment:
                self.fail(
                    f"tensor {_q(t.name)} has data offset {t.offset}, not a multiple of the "
                    f"alignment {alignment}",
                    t.info_offset,
                )
            stop = data_offset + t.offset + (t.n_bytes or 0)
            if stop > self.end:
                self.fail(
                    f"the data of tensor {_q(t.name)} ends at byte {stop}, past the end of "
                    f"the file ({self.end} bytes)",
                    t.info_offset,
                    _CUT_OR_DAMAGED,
                )
            if expected is not None and t.offset != expected:
                self.warn(
                    f"tensor {_q(t.name)} has data offset {t.offset} where llama.cpp expects "
                    f"{expected} (tensors out of order or with gaps; llama.cpp refuses them)",
                    t.info_offset,
                )
                expected = None
            elif expected is not None and t.n_bytes is not None:
                expected += -(-t.n_bytes // alignment) * alignment
            else:
                expected = None
