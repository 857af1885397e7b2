"""Fuzzing the GGUF reader with mutated real headers: the reader's own error or a result, never
another exception, never more memory than the file's size, never a hang.

Two real starting points, 2,500 cases in all, every allocation traced: a model written by
llama.cpp's own writer (gguf-py), and the real SmolLM2 header (kept on disk as a sparse file of
the real size, so tensor extents stay valid and each case only rewrites the bytes it mutates;
tracing makes its 10 ms read take 60, hence fewer cases). Hypothesis picks positions and
bytes, with a bias towards the first bytes, where the counts are, and towards bytes that make
type ids and lengths extreme.
"""

from __future__ import annotations

import contextlib
import functools
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.budget import deadline, fuzz_examples, peak_of, tracing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelpack.core.gguf.reader import (
    MAX_INLINE_STRING,
    ArraySummary,
    GGUFError,
    GGUFInfo,
    read_gguf,
    read_gguf_bytes,
)

CASE_SECONDS = 5.0
"""A case slower than this is a hang: the reader does work bounded by the header's size."""


OVERHEAD = 256 << 10
"""Allocations that do not depend on the file: the result's objects, an exception, a traceback,
caches the interpreter fills on a first use, and decoding one string of at most
MAX_INLINE_STRING bytes (briefly five times that: CPython widens a string in place). A reader
that trusted a claimed count or length would allocate up to 2**64 bytes: far beyond this."""

PER_DECODED_BYTE = 16
"""A decoded array element is a Python object (an int, a float, a str): for a 1-byte element
that is a pointer in a list plus, at worst, the object; never more than this per file byte."""


def check_case(read: Callable[[], GGUFInfo], file_size: int, load_below: int) -> None:
    """Reading allocates nothing sized by a count or length the file merely claims, and never
    more than the file's size (a string longer than MAX_INLINE_STRING is summarised, not
    decoded); decoding the summarised arrays after it stays proportional."""
    result: list[GGUFInfo] = []

    def first() -> None:
        with contextlib.suppress(GGUFError):
            result.append(read())

    def then_load() -> None:
        for key, value in result[0].metadata.items():
            if isinstance(value, ArraySummary) and value.size < load_below:
                with contextlib.suppress(GGUFError):
                    result[0].load_array(key)

    with deadline(CASE_SECONDS):
        peak = peak_of(first)
        limit = file_size + OVERHEAD
        assert peak <= limit, f"read allocated {peak} B for a {file_size} B file"
        if result:
            peak = peak_of(then_load)
            limit = PER_DECODED_BYTE * file_size + OVERHEAD
            assert peak <= limit, f"load_array allocated {peak} B for a {file_size} B file"


@pytest.fixture(scope="module")
def traced() -> Iterator[None]:
    with tracing():
        yield


# Positions: anywhere, or near the start where the counts and the first keys are.
_edits = st.lists(
    st.tuples(
        st.one_of(st.integers(0, 1 << 40), st.integers(0, 64)),
        st.one_of(st.integers(0, 255), st.sampled_from([0x00, 0x01, 0x08, 0x09, 0x7F, 0xFF])),
    ),
    min_size=1,
    max_size=8,
)


def one_string_file(text: bytes) -> bytes:
    """A header whose only value is `text`, as when a damaged length swallows the file."""
    key = b"general.name"
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    return head + struct.pack("<IQ", 8, len(text)) + text


@pytest.mark.parametrize("size", [4 << 20, MAX_INLINE_STRING], ids=["4 MiB", "inline limit"])
@pytest.mark.parametrize(
    "tail",
    [
        pytest.param("🙂".encode(), id="one character past U+FFFF: 4 bytes a character"),
        pytest.param(b"\xff", id="invalid UTF-8 at the end: the decoder copies the bytes"),
    ],
)
def test_a_string_spanning_the_file_stays_within_its_size(
    traced: None, tail: bytes, size: int
) -> None:
    """The worst cases for a decoded string, found by reasoning after fuzzing found a 33 MB key:
    decoded, each takes two to five times its bytes; only strings up to the inline limit are."""
    data = one_string_file(b"a" * (size - len(tail)) + tail)
    check_case(lambda: read_gguf_bytes(data), len(data), load_below=0)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("fuzz") / "tiny.gguf", n_layer=1, n_embd=32)


@functools.cache
def contents(path: Path) -> tuple[bytes, int]:
    """The file's bytes and where its header ends (mutations stay in the header)."""
    data = path.read_bytes()
    return data, read_gguf_bytes(data).data_offset


@settings(
    max_examples=fuzz_examples(2000),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(edits=_edits, cut=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_mutated_gguf_py_model(
    traced: None, tiny_model: Path, edits: list[tuple[int, int]], cut: int | None
) -> None:
    original, header = contents(tiny_model)
    data = bytearray(original)
    for pos, byte in edits:
        data[pos % header] = byte
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    frozen = bytes(data)
    check_case(lambda: read_gguf_bytes(frozen, arrays=16), len(frozen), load_below=1 << 20)


@pytest.fixture(scope="module")
def sparse_smollm2(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's real header (1.8 MB) in a sparse file of the real size (98 MB on paper)."""
    info = read_gguf(smollm2_path)
    path = tmp_path_factory.mktemp("fuzz") / "smollm2-header.gguf"
    with smollm2_path.open("rb") as source, path.open("wb") as target:
        target.write(source.read(info.data_offset))
        target.truncate(info.file_size)
    return path


@settings(
    max_examples=fuzz_examples(500),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(edits=_edits)
def test_mutated_smollm2_header(
    traced: None, sparse_smollm2: Path, edits: list[tuple[int, int]]
) -> None:
    size = sparse_smollm2.stat().st_size
    header = header_end(sparse_smollm2)
    fd = os.open(sparse_smollm2, os.O_RDWR)
    originals = []
    try:
        for pos, byte in edits:
            at = pos % header
            originals.append((at, os.pread(fd, 1, at)))
            os.pwrite(fd, bytes([byte]), at)
        # The vocabulary arrays stay summarised: decoding them is the tiny model's test.
        check_case(lambda: read_gguf(sparse_smollm2, arrays=False), size, load_below=64 << 10)
    finally:
        for at, original in reversed(originals):
            os.pwrite(fd, original, at)
        os.close(fd)


@functools.cache
def header_end(path: Path) -> int:
    return read_gguf(path).data_offset
