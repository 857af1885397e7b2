"""DigestCache and blob uploads without a server: hashing, caching, streaming, HEAD-before-POST.

The HTTP side runs against `FakeOllamaBlobs`, an `httpx.MockTransport` stand-in for the network
that checks each upload's sha256 the way a real server does; tests/integration/test_blobs_real.py
runs the same paths against the real servers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from helpers.budget import deadline, peak_of

from modelpack.core.inputs import DIGEST_CACHE_LIMIT
from modelpack.edge import blobs
from modelpack.edge.blobs import (
    Blobs,
    DigestCache,
    DigestMismatchError,
    Ensured,
    ensure_blob,
    file_chunks,
)
from modelpack.edge.client import OllamaClient
from modelpack.errors import InputError, ServerError, ServerGoneError


def sha(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def aged(path: Path, *, seconds: int = 3600) -> Path:
    """Date the file back, as a GGUF downloaded earlier would be: a just-written file is
    deliberately not persisted (its mtime cannot yet prove a later same-size write)."""
    old = time.time_ns() - seconds * 10**9
    os.utime(path, ns=(old, old))
    return path


def write(path: Path, data: bytes, *, old: bool = True) -> Path:
    path.write_bytes(data)
    return aged(path) if old else path


@pytest.fixture
def cache_file(tmp_path: Path) -> Path:
    return tmp_path / "project" / ".modelpack" / "cache" / "digests.json"


# -- DigestCache -------------------------------------------------------------------------------


def test_digest_is_sha256_of_the_content(tmp_path: Path, cache_file: Path) -> None:
    data = os.urandom(3 * blobs.HASH_CHUNK + 123)
    gguf = write(tmp_path / "m.gguf", data)
    assert DigestCache(cache_file).digest(gguf) == sha(data)
    empty = write(tmp_path / "empty.gguf", b"")
    assert DigestCache(cache_file).digest(empty) == sha(b"")


def test_hashed_once_across_instances_and_calls(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights" * 1000)
    first = DigestCache(cache_file)
    digests = {first.digest(gguf) for _ in range(3)}
    assert first.hashed == 1
    second = DigestCache(cache_file)
    assert second.digest(gguf) == digests.pop()
    assert second.digest(tmp_path / "." / "m.gguf") == sha(b"weights" * 1000)
    assert second.hashed == 0


def test_symlink_shares_the_target_entry(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    link = tmp_path / "link.gguf"
    link.symlink_to(gguf)
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == cache.digest(link)
    assert cache.hashed == 1


def test_in_home_uses_the_home_cache_dir(tmp_path: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    DigestCache.in_home(tmp_path / ".modelpack").digest(gguf)
    assert (tmp_path / ".modelpack" / "cache" / "digests.json").is_file()


def test_touch_rehashes(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    DigestCache(cache_file).digest(gguf)
    st = gguf.stat()
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 1


def test_size_change_rehashes(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    cache = DigestCache(cache_file)
    cache.digest(gguf)
    mtime = gguf.stat().st_mtime_ns
    gguf.write_bytes(b"weights, more of them")
    os.utime(gguf, ns=(mtime, mtime))
    assert cache.digest(gguf) == sha(b"weights, more of them")
    assert cache.hashed == 2
    assert DigestCache(cache_file).digest(gguf) == sha(b"weights, more of them")


def test_replaced_file_with_same_size_and_mtime_rehashes(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights-A")
    DigestCache(cache_file).digest(gguf)
    before = gguf.stat()
    other = tmp_path / "new.gguf"
    other.write_bytes(b"weights-B")
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, gguf)
    after = gguf.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert after.st_ino != before.st_ino
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == sha(b"weights-B")
    assert cache.hashed == 1


def test_just_written_file_is_remembered_for_this_run_only(
    tmp_path: Path, cache_file: Path
) -> None:
    """A file modified within the mtime's resolution of the hash may be rewritten with the
    same size and mtime: its digest serves this build but is not written to disk."""
    gguf = write(tmp_path / "fresh.gguf", b"weights", old=False)
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 1
    assert not cache_file.exists()
    later = DigestCache(cache_file)
    later.digest(aged(gguf))
    assert later.hashed == 1
    assert DigestCache(cache_file).digest(gguf) == sha(b"weights")


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff not json at all",
        b'{"format": "modelpack-digests", "version": 1, "entries": ',
        b"[1, 2, 3]",
        b'{"something": "else"}',
        b'{"format": "modelpack-digests", "version": 99, "entries": {}}',
        b'{"format": "modelpack-digests", "version": 1, "entries": []}',
        b"[" * 100_000,
    ],
)
def test_corrupt_or_foreign_cache_is_ignored_and_rebuilt(
    tmp_path: Path, cache_file: Path, content: bytes
) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    cache_file.parent.mkdir(parents=True)
    cache_file.write_bytes(content)
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 1
    stored = json.loads(cache_file.read_text())
    assert list(stored["entries"]) == [str(gguf.resolve())]


@pytest.mark.parametrize("kind", ["fifo", "oversized"])
def test_a_cache_that_cannot_be_read_whole_is_an_empty_cache(
    tmp_path: Path, cache_file: Path, kind: str
) -> None:
    """A FIFO is not waited on and an oversized file is not read: each is an empty cache,
    replaced by the next save."""
    gguf = write(tmp_path / "m.gguf", b"weights")
    cache_file.parent.mkdir(parents=True)
    if kind == "fifo":
        os.mkfifo(cache_file)
    else:
        with cache_file.open("wb") as handle:
            handle.truncate(DIGEST_CACHE_LIMIT + 1)
    caches: list[DigestCache] = []
    tracemalloc.start()
    try:
        with deadline(10):
            peak = peak_of(lambda: caches.append(DigestCache(cache_file)))
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes allocated to read a cache that is not read"
    cache = caches[0]
    assert cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 1
    stored = json.loads(cache_file.read_text())
    assert list(stored["entries"]) == [str(gguf.resolve())]


def test_malformed_entries_are_dropped_good_ones_kept(tmp_path: Path, cache_file: Path) -> None:
    good = write(tmp_path / "good.gguf", b"good")
    bad = write(tmp_path / "bad.gguf", b"bad")
    DigestCache(cache_file).digest(good)
    DigestCache(cache_file).digest(bad)
    stored = json.loads(cache_file.read_text())
    stored["entries"][str(bad.resolve())]["digest"] = "sha256:not-hex"
    stored["entries"]["relative/path.gguf"] = stored["entries"][str(good.resolve())]
    cache_file.write_text(json.dumps(stored))
    cache = DigestCache(cache_file)
    assert cache.digest(good) == sha(b"good")
    assert cache.digest(bad) == sha(b"bad")
    assert cache.hashed == 1


def test_cache_write_is_atomic_and_valid_json(tmp_path: Path, cache_file: Path) -> None:
    files = [write(tmp_path / f"m{i}.gguf", bytes([i]) * 100) for i in range(3)]
    cache = DigestCache(cache_file)
    for f in files:
        cache.digest(f)
    assert sorted(p.name for p in cache_file.parent.iterdir()) == ["digests.json"]
    stored = json.loads(cache_file.read_text())
    assert stored["format"] == "modelpack-digests"
    assert stored["version"] == 1
    entry = stored["entries"][str(files[0].resolve())]
    st = files[0].stat()
    assert entry["digest"] == sha(bytes([0]) * 100)
    assert (entry["size"], entry["mtime_ns"], entry["ino"], entry["dev"]) == (
        st.st_size,
        st.st_mtime_ns,
        st.st_ino,
        st.st_dev,
    )


def test_concurrent_builds_merge_their_entries(tmp_path: Path, cache_file: Path) -> None:
    one = write(tmp_path / "one.gguf", b"one")
    two = write(tmp_path / "two.gguf", b"two")
    a, b = DigestCache(cache_file), DigestCache(cache_file)
    a.digest(one)
    b.digest(two)
    later = DigestCache(cache_file)
    assert later.digest(one) == sha(b"one")
    assert later.digest(two) == sha(b"two")
    assert later.hashed == 0


def test_vanished_and_changed_files_are_pruned(tmp_path: Path, cache_file: Path) -> None:
    gone = write(tmp_path / "gone.gguf", b"gone")
    changed = write(tmp_path / "changed.gguf", b"changed")
    kept = write(tmp_path / "kept.gguf", b"kept")
    cache = DigestCache(cache_file)
    for f in (gone, changed, kept):
        cache.digest(f)
    gone.unlink()
    write(changed, b"changed again")
    cache.digest(write(tmp_path / "new.gguf", b"new"))
    stored = json.loads(cache_file.read_text())["entries"]
    assert sorted(Path(k).name for k in stored) == ["kept.gguf", "new.gguf"]


def test_entries_are_capped(
    tmp_path: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "MAX_ENTRIES", 2)
    cache = DigestCache(cache_file)
    for i in range(4):
        cache.digest(write(tmp_path / f"m{i}.gguf", bytes([i])))
    stored = json.loads(cache_file.read_text())["entries"]
    assert sorted(Path(k).name for k in stored) == ["m2.gguf", "m3.gguf"]


def test_forget_rehashes(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    cache = DigestCache(cache_file)
    cache.digest(gguf)
    cache.forget(gguf)
    assert json.loads(cache_file.read_text())["entries"] == {}
    assert cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 2


def test_unwritable_cache_does_not_fail_the_build(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    gguf = write(tmp_path / "m.gguf", b"weights")
    cache = DigestCache(blocker / "cache" / "digests.json")
    assert cache.digest(gguf) == sha(b"weights")
    assert "could not write the digest cache" in caplog.text


def test_missing_or_odd_input_is_an_input_error(tmp_path: Path, cache_file: Path) -> None:
    cache = DigestCache(cache_file)
    with pytest.raises(InputError, match="cannot read"):
        cache.digest(tmp_path / "nope.gguf")
    with pytest.raises(InputError, match="not a regular file"):
        cache.digest(tmp_path)
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        cache.digest(fifo)


def _modifying_hash(target: Path, times: int) -> Callable[..., str]:
    """Hash as usual, but rewrite `target` (same size, new mtime) after reading half of it,
    the first `times` calls: a download or an editor writing while the build hashes."""
    real = blobs._hash_open_file
    calls = {"n": 0}

    def hash_while_written(handle: object) -> str:
        calls["n"] += 1
        if calls["n"] > times:
            return real(handle)  # type: ignore[arg-type]
        half = handle.read(target.stat().st_size // 2)  # type: ignore[attr-defined]
        data = target.read_bytes()
        with target.open("r+b") as out:
            out.write(data[::-1])
        st = target.stat()
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns - 5 * 10**9))
        return sha(half + handle.read())  # type: ignore[attr-defined]

    return hash_while_written


def test_file_changed_while_hashing_is_rehashed_not_cached_wrong(
    tmp_path: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = write(tmp_path / "m.gguf", b"0123456789abcdef")
    monkeypatch.setattr(blobs, "_hash_open_file", _modifying_hash(gguf, times=1))
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == sha(b"fedcba9876543210")
    assert cache.hashed == 2
    assert DigestCache(cache_file).digest(gguf) == sha(b"fedcba9876543210")


def test_file_that_keeps_changing_is_an_error_and_not_cached(
    tmp_path: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = write(tmp_path / "m.gguf", b"0123456789abcdef")
    monkeypatch.setattr(blobs, "_hash_open_file", _modifying_hash(gguf, times=99))
    with pytest.raises(InputError, match="kept changing while it was being hashed"):
        DigestCache(cache_file).digest(gguf)
    assert not cache_file.exists()


# -- prefetch: a first build's hash runs while it sets up --------------------------------------


def test_prefetch_hashes_in_the_background_and_digest_takes_its_result(
    tmp_path: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prefetch returns at once; the hash runs on another thread, and digest waits for it
    instead of hashing again."""
    data = os.urandom(blobs.HASH_CHUNK + 7)
    gguf = write(tmp_path / "m.gguf", data)
    started, release, threads = threading.Event(), threading.Event(), []
    real = blobs._hash_open_file

    def gated(handle: object) -> str:
        threads.append(threading.current_thread())
        started.set()
        assert release.wait(10)
        return real(handle)  # type: ignore[arg-type]

    monkeypatch.setattr(blobs, "_hash_open_file", gated)
    cache = DigestCache(cache_file)
    cache.prefetch([gguf, gguf, tmp_path / "missing.gguf"])
    assert started.wait(10)  # prefetch has returned while its hash waits on another thread
    assert cache.hashed == 1
    release.set()
    assert cache.digest(gguf) == sha(data)
    assert cache.hashed == 1
    assert threads and threads[0] is not threading.main_thread()
    assert DigestCache(cache_file).digest(gguf) == sha(data)  # remembered like any digest


def test_prefetch_of_a_remembered_file_only_stats_it(tmp_path: Path, cache_file: Path) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    DigestCache(cache_file).digest(gguf)
    cache = DigestCache(cache_file)
    cache.prefetch([gguf])
    assert cache.hashed == 0
    assert cache.digest(gguf) == sha(b"weights")
    assert cache.hashed == 0


def test_a_file_changed_after_its_prefetch_is_hashed_again(
    tmp_path: Path, cache_file: Path
) -> None:
    gguf = write(tmp_path / "m.gguf", b"old weights")
    cache = DigestCache(cache_file)
    cache.prefetch([gguf])
    cache._pending[str(gguf.resolve())].result()  # the background hash is done
    write(tmp_path / "m.gguf", b"new weights!", old=True)
    assert cache.digest(gguf) == sha(b"new weights!")
    assert cache.hashed == 2


def test_a_failed_prefetch_is_reported_by_digest_as_usual(
    tmp_path: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")

    def failing(handle: object) -> str:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(blobs, "_hash_open_file", failing)
    cache = DigestCache(cache_file)
    cache.prefetch([gguf])
    with pytest.raises(InputError, match="cannot read the file: Input/output error"):
        cache.digest(gguf)


# -- memory: a hit is a stat, a miss and an upload stream ---------------------------------------


@pytest.fixture(scope="module")
def sparse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """512 MiB of zeros that take no disk: hashing and streaming them must not take 512 MiB of
    RAM. Shared by the two tests below, so the second reads it from the page cache."""
    path = tmp_path_factory.mktemp("sparse") / "big.gguf"
    with path.open("wb") as handle:
        handle.truncate(512 << 20)
    return aged(path)


def test_hashing_a_large_file_streams_and_a_hit_reads_nothing(
    sparse_file: Path, cache_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = DigestCache(cache_file)
    tracemalloc.start()
    try:
        digest = cache.digest(sparse_file)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    assert digest == "sha256:9acca8e8c22201155389f65abbf6bc9723edc7384ead80503839f49dcc56d767"

    def must_not_read(handle: object) -> str:
        raise AssertionError("a cache hit read the file")

    monkeypatch.setattr(blobs, "_hash_open_file", must_not_read)
    started = time.perf_counter()
    assert DigestCache(cache_file).digest(sparse_file) == digest
    assert time.perf_counter() - started < 0.1


def test_upload_chunks_stream_with_monotonic_progress(sparse_file: Path) -> None:
    seen: list[tuple[int, int]] = []
    total = sparse_file.stat().st_size
    tracemalloc.start()
    try:
        with sparse_file.open("rb") as handle:
            sent = sum(
                len(c) for c in file_chunks(handle, total=total, progress=lambda *p: seen.append(p))
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == total
    assert peak < 16 << 20
    assert seen[0] == (0, total)
    assert seen[-1] == (total, total)
    assert len(seen) == total // blobs.UPLOAD_CHUNK + 1
    assert all(a[0] < b[0] for a, b in itertools.pairwise(seen))


# -- ensure_blob / Blobs against a fake server ----------------------------------------------------


class FakeOllamaBlobs:
    """A stand-in for the network in unit tests only: Ollama's blob endpoints, which HEAD 200
    or 404 and verify each POST's sha256 (400 "digest mismatch" otherwise), as Ollama does."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_post: int | None = None
        self.drop_post = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        digest = request.url.path.removeprefix("/api/blobs/")
        self.requests.append((request.method, digest))
        if request.method == "HEAD":
            return httpx.Response(200 if digest in self.blobs else 404)
        if self.drop_post:
            raise httpx.WriteError("connection reset by peer", request=request)
        if self.fail_post is not None:
            return httpx.Response(self.fail_post, json={"error": "something broke"})
        body = request.content
        if sha(body) != digest:
            error = f'digest mismatch, expected "{digest}", got "{sha(body)}"'
            return httpx.Response(400, json={"error": error})
        self.blobs[digest] = body
        return httpx.Response(201)

    def client(self) -> OllamaClient:
        return OllamaClient("127.0.0.1:11434", transport=httpx.MockTransport(self))


@pytest.fixture
def fake() -> FakeOllamaBlobs:
    return FakeOllamaBlobs()


def test_ensure_blob_heads_then_streams_with_progress(
    tmp_path: Path, fake: FakeOllamaBlobs
) -> None:
    data = os.urandom(2 * blobs.UPLOAD_CHUNK + 17)
    gguf = write(tmp_path / "m.gguf", data)
    seen: list[tuple[int, int]] = []
    with fake.client() as client:
        assert ensure_blob(client, gguf, sha(data), progress=lambda *p: seen.append(p))
    assert fake.requests == [("HEAD", sha(data)), ("POST", sha(data))]
    assert fake.blobs[sha(data)] == data
    assert seen == [
        (0, len(data)),
        (blobs.UPLOAD_CHUNK, len(data)),
        (2 * blobs.UPLOAD_CHUNK, len(data)),
        (len(data), len(data)),
    ]


def test_ensure_blob_skips_a_blob_the_server_has(tmp_path: Path, fake: FakeOllamaBlobs) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    fake.blobs[sha(b"weights")] = b"weights"
    seen: list[tuple[int, int]] = []
    with fake.client() as client:
        assert not ensure_blob(client, gguf, sha(b"weights"), progress=lambda *p: seen.append(p))
    assert fake.requests == [("HEAD", sha(b"weights"))]
    assert seen == []


def test_digest_mismatch_is_a_clear_input_error(tmp_path: Path, fake: FakeOllamaBlobs) -> None:
    gguf = write(tmp_path / "m.gguf", b"edited weights")
    with fake.client() as client, pytest.raises(DigestMismatchError) as caught:
        ensure_blob(client, gguf, sha(b"weights"))
    error = caught.value
    assert isinstance(error, InputError)
    assert error.source == str(gguf)
    assert "no longer matches" in error.message
    assert error.hint is not None
    assert "build again" in error.hint
    assert sha(b"weights") not in fake.blobs


def test_other_server_errors_pass_through(tmp_path: Path, fake: FakeOllamaBlobs) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    fake.fail_post = 500
    with fake.client() as client, pytest.raises(ServerError) as caught:
        ensure_blob(client, gguf, sha(b"weights"))
    assert caught.value.status_code == 500
    assert not isinstance(caught.value, DigestMismatchError)


def test_connection_dropped_mid_upload_is_server_gone(
    tmp_path: Path, fake: FakeOllamaBlobs
) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    fake.drop_post = True
    with (
        fake.client() as client,
        pytest.raises(ServerGoneError, match=r"went away during POST /api/blobs/sha256:"),
    ):
        ensure_blob(client, gguf, sha(b"weights"))


def test_three_variants_of_one_gguf_hash_once_and_upload_once(
    tmp_path: Path, cache_file: Path, fake: FakeOllamaBlobs
) -> None:
    data = os.urandom(1000)
    gguf = write(tmp_path / "m.gguf", data)
    copy = write(tmp_path / "same-bytes.gguf", data)
    cache = DigestCache(cache_file)
    with fake.client() as client:
        build = Blobs(client, cache)
        results = [build.ensure(gguf) for _ in range(3)]
        assert build.ensure(copy) == Ensured(sha(data), uploaded=False)
    assert results == [
        Ensured(sha(data), uploaded=True),
        Ensured(sha(data), uploaded=False),
        Ensured(sha(data), uploaded=False),
    ]
    assert cache.hashed == 2
    assert fake.requests == [("HEAD", sha(data)), ("POST", sha(data))]


def test_warm_rebuild_hashes_nothing_and_uploads_nothing(
    tmp_path: Path, cache_file: Path, fake: FakeOllamaBlobs
) -> None:
    gguf = write(tmp_path / "m.gguf", b"weights")
    with fake.client() as client:
        Blobs(client, DigestCache(cache_file)).ensure(gguf)
        warm_cache = DigestCache(cache_file)
        assert Blobs(client, warm_cache).ensure(gguf) == Ensured(sha(b"weights"), uploaded=False)
    assert warm_cache.hashed == 0
    assert [method for method, _ in fake.requests] == ["HEAD", "POST", "HEAD"]


def test_mismatch_through_blobs_forgets_the_stale_digest(
    tmp_path: Path, cache_file: Path, fake: FakeOllamaBlobs
) -> None:
    """A file rewritten without changing size, mtime or inode fools any stat-keyed cache;
    the server catches it, and the entry is dropped so the next build re-hashes."""
    gguf = write(tmp_path / "m.gguf", b"weights-A")
    cache = DigestCache(cache_file)
    assert cache.digest(gguf) == sha(b"weights-A")
    st = gguf.stat()
    with gguf.open("r+b") as out:
        out.write(b"weights-B")
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns))
    with fake.client() as client:
        with pytest.raises(DigestMismatchError):
            Blobs(client, cache).ensure(gguf)
        assert Blobs(client, DigestCache(cache_file)).ensure(gguf) == Ensured(
            sha(b"weights-B"), uploaded=True
        )
