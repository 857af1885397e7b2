"""Blob uploads against the real servers (0.9.3 and 0.5.4): HEAD before POST, one upload for
three variants, streamed progress, and the server's own sha256 check catching a stale digest.

Every blob here is unique to its test (a nonce in the GGUF), because the servers live for the
whole session and a blob another test uploaded would make "uploaded once" prove nothing. The
only wrapper is `CountingTransport`, which counts requests on their way to the real server.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from modelpack.edge.blobs import Blobs, DigestCache, DigestMismatchError, Ensured, ensure_blob
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer
from modelpack.errors import InputError

pytestmark = pytest.mark.integration


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, counting each request's method on the way through."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.methods: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.methods[request.method] += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def aged(path: Path) -> Path:
    """Date a file back an hour, as a GGUF downloaded earlier would be (so it is cached)."""
    old = time.time_ns() - 3600 * 10**9
    os.utime(path, ns=(old, old))
    return path


def unique_gguf(tiny_gguf: Callable[..., Path], name: str = "tiny.gguf") -> Path:
    return aged(tiny_gguf(name=name, extra={"modelpack.test.nonce": uuid.uuid4().hex}))


def test_three_variants_upload_once(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    gguf = unique_gguf(tiny_gguf)
    cache_file = tmp_path / ".modelpack" / "cache" / "digests.json"
    cache = DigestCache(cache_file)
    counting = CountingTransport()
    seen: list[tuple[int, int]] = []
    with OllamaClient(ollama_server.host, transport=counting) as client:
        digest = cache.digest(gguf)
        assert not client.has_blob(digest)
        counting.methods.clear()

        build = Blobs(client, cache)
        results = [build.ensure(gguf, progress=lambda *p: seen.append(p)) for _ in range(3)]

        assert results == [
            Ensured(digest, uploaded=True),
            Ensured(digest, uploaded=False),
            Ensured(digest, uploaded=False),
        ]
        assert counting.methods == {"HEAD": 1, "POST": 1}
        assert cache.hashed == 1
        assert client.has_blob(digest)
        assert seen[-1] == (gguf.stat().st_size, gguf.stat().st_size)

        warm_cache = DigestCache(cache_file)
        counting.methods.clear()
        assert Blobs(client, warm_cache).ensure(gguf) == Ensured(digest, uploaded=False)
        assert warm_cache.hashed == 0
        assert counting.methods == {"HEAD": 1}


def test_large_gguf_streams_with_progress_to_its_size(
    ollama_server: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """The real 98 MB SmolLM2 GGUF plus a 32-byte nonce (so no other test has uploaded it):
    progress climbs to the file's size, and memory stays flat while it streams."""
    gguf = tmp_path / "smol-unique.gguf"
    shutil.copyfile(smollm2_path, gguf)
    with gguf.open("ab") as out:
        out.write(uuid.uuid4().hex.encode())
    size = aged(gguf).stat().st_size
    seen: list[tuple[int, int]] = []
    cache = DigestCache(tmp_path / "digests.json")
    with OllamaClient(ollama_server.host) as client:
        tracemalloc.start()
        try:
            digest, uploaded = Blobs(client, cache).ensure(gguf, progress=lambda *p: seen.append(p))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert uploaded
        assert client.has_blob(digest)
    assert peak < 32 << 20
    assert seen[0] == (0, size)
    assert seen[-1] == (size, size)
    assert len(seen) > 50
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))


def test_stale_digest_is_refused_by_the_real_server(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    """The file is rewritten after hashing without changing its size, mtime or inode, which no
    stat-keyed cache can see: the server's own sha256 check refuses it with 400, which becomes
    a clear error naming the file; the entry is dropped so the next build re-hashes."""
    gguf = unique_gguf(tiny_gguf)
    cache = DigestCache(tmp_path / "digests.json")
    stale = cache.digest(gguf)
    st = gguf.stat()
    data = bytearray(gguf.read_bytes())
    data[-1] ^= 0xFF
    with gguf.open("r+b") as out:
        out.write(data)
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cache.digest(gguf) == stale

    with OllamaClient(ollama_server.host) as client:
        with pytest.raises(DigestMismatchError) as caught:
            Blobs(client, cache).ensure(gguf)
        error = caught.value
        assert isinstance(error, InputError)
        assert error.source == str(gguf)
        assert str(gguf) in str(error)
        assert error.hint is not None
        assert "build again" in error.hint
        assert not client.has_blob(stale)

        with pytest.raises(DigestMismatchError):
            ensure_blob(client, gguf, stale)

        # Both servers store a refused body under the digest they computed before answering
        # 400, so the re-hashed digest is found by HEAD and nothing is sent twice.
        rebuilt = Blobs(client, cache).ensure(gguf)
        assert rebuilt == Ensured(f"sha256:{hashlib.sha256(data).hexdigest()}", uploaded=False)
        assert cache.hashed == 2
