"""GGUF blobs: hash each file once, upload each blob at most once.

A build turns every variant of a package into an Ollama model whose weights are a blob named by
the GGUF's sha256. Hashing a multi-GB file costs seconds, so digests are remembered:

- `DigestCache` keeps `sha256:<hex>` per file in a small JSON file under the project's cache dir,
  keyed by the resolved path and the file's size, mtime_ns, inode and device. A hit costs one
  `stat`; any change to the file (rewrite, touch, replace) makes it miss and re-hash.
- `ensure_blob` asks the server (HEAD) before it uploads (POST), and streams the file from disk
  in chunks with a progress callback, so memory use never grows with the file.
- `Blobs` ties the two together for one build, so three variants of one GGUF cost one hash
  (at most) and one HEAD.
- `DigestCache.prefetch` starts those hashes on a background thread as soon as a build knows
  its files: hashing releases the GIL, so a first build's hash runs while it imports, renders
  and asks the server, instead of after.

The server verifies every upload against its digest, so a stale digest can never corrupt a
blob: it is refused with 400 "digest mismatch", which becomes a `DigestMismatchError` here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple

from modelpack.core.inputs import DIGEST_CACHE_LIMIT, read_bytes
from modelpack.edge.files import atomic_write_bytes
from modelpack.errors import InputError, ModelpackError, ServerError

if TYPE_CHECKING:
    from modelpack.edge.client import OllamaClient

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""`progress(sent, total)`: bytes of one blob sent so far, out of its size."""

CACHE_FILE = Path("cache") / "digests.json"
HASH_CHUNK = 4 << 20
UPLOAD_CHUNK = 1 << 20
MAX_ENTRIES = 4096

_FORMAT = "modelpack-digests"
_VERSION = 1
_HASH_ATTEMPTS = 2


class DigestMismatchError(InputError):
    """The server refused an upload: the file's bytes no longer match the digest it was sent as."""


@dataclass(frozen=True)
class _Stamp:
    """What must be unchanged for a remembered digest to still be the file's digest."""

    size: int
    mtime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Stamp:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


@dataclass(frozen=True)
class _Entry:
    stamp: _Stamp
    digest: str
    hashed_at_ns: int
    durable: bool
    """False when the file was modified too shortly before hashing for its mtime to prove that
    a later same-size write would change it (a "racy" entry, as git calls it): such an entry
    serves this run only and is not written to disk."""

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.stamp.size,
            "mtime_ns": self.stamp.mtime_ns,
            "ino": self.stamp.ino,
            "dev": self.stamp.dev,
            "digest": self.digest,
            "hashed_at_ns": self.hashed_at_ns,
        }

    @classmethod
    def from_json(cls, raw: object) -> _Entry | None:
        if not isinstance(raw, dict):
            return None
        fields = ("size", "mtime_ns", "ino", "dev", "hashed_at_ns")
        ints = [value for k in fields if type(value := raw.get(k)) is int]
        digest = raw.get("digest")
        if len(ints) != len(fields) or not isinstance(digest, str) or not _is_digest(digest):
            return None
        size, mtime_ns, ino, dev, hashed_at_ns = ints
        return cls(_Stamp(size, mtime_ns, ino, dev), digest, hashed_at_ns, durable=True)


def _is_digest(value: object) -> bool:
    if not isinstance(value, str) or not value.startswith("sha256:") or len(value) != 71:
        return False
    return all(c in "0123456789abcdef" for c in value[7:])


def _racy_window_ns(mtime_ns: int) -> int:
    """How long after `mtime_ns` a write could still leave the same mtime behind.

    Linux stamps files from a coarse clock (a few ms); a whole-second mtime hints at a
    filesystem that keeps seconds only (FAT keeps two), so allow for that.
    """
    return 2_000_000_000 if mtime_ns % 1_000_000_000 == 0 else 100_000_000


def _hash_open_file(handle: io.RawIOBase) -> str:
    """sha256 of an open file, read in large chunks into one reused buffer."""
    digest = hashlib.sha256()
    buffer = bytearray(HASH_CHUNK)
    view = memoryview(buffer)
    while n := handle.readinto(view):
        digest.update(view[:n])
    return f"sha256:{digest.hexdigest()}"


def _unreadable(file: Path, exc: OSError) -> InputError:
    """An InputError that names the file (as its source) once, not twice."""
    return InputError(
        f"cannot read the file: {exc.strerror or exc}",
        source=str(file),
        hint="check that the GGUF exists and is readable",
    )


class _Background:
    """One call run on a daemon thread (an interrupted build must not wait for a hash to end);
    `result()` waits for it, then returns its value or raises its exception."""

    def __init__(self, call: Callable[[], _Entry]) -> None:
        self._call = call
        self._value: _Entry | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="modelpack-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # handed to the caller of result()
            self._error = exc

    def result(self) -> _Entry:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


class DigestCache:
    """sha256 digests of local files, remembered across runs.

    Entries are written after each hash (atomically, merged with what other builds wrote since
    this one loaded), never after a hit, so a warm rebuild reads the cache once and writes
    nothing. Entries whose file has vanished or changed are dropped when the cache is written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.hashed = 0
        """How many files this instance actually hashed (a hit counts nothing)."""
        self._entries: dict[str, _Entry] = self._load()
        self._forgotten: set[str] = set()
        self._pending: dict[str, _Background] = {}
        self._counting = threading.Lock()

    @classmethod
    def in_home(cls, home: Path) -> DigestCache:
        """The cache in modelpack's home dir (`Project.home`): `<home>/cache/digests.json`."""
        return cls(home / CACHE_FILE)

    def prefetch(self, files: Iterable[Path]) -> None:
        """Start hashing each of `files` whose digest is not remembered, on a background
        thread, so that `digest` finds it done. Anything wrong with a file is left for
        `digest` to report; a remembered digest costs one `stat`, as in `digest`."""
        for file in files:
            key = self._key(file)
            try:
                current = _Stamp.of(os.stat(key))
            except OSError:
                continue
            entry = self._entries.get(key)
            if key in self._pending or (entry is not None and entry.stamp == current):
                continue
            self._pending[key] = _Background(functools.partial(self._hash, file, key))

    def digest(self, file: Path) -> str:
        """`sha256:<hex>` of `file`; hashes only if the file changed since it was last hashed."""
        key = self._key(file)
        try:
            st = os.stat(key)
        except OSError as exc:
            raise _unreadable(file, exc) from None
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                "not a regular file",
                source=str(file),
                hint="point the package at a GGUF file",
            )
        current = _Stamp.of(st)
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == current:
            return entry.digest
        entry = self._prefetched(key)
        if entry is None or entry.stamp != current:
            entry = self._hash(file, key)
        self._entries[key] = entry
        self._forgotten.discard(key)
        if entry.durable:
            self.save()
        return entry.digest

    def _prefetched(self, key: str) -> _Entry | None:
        """The background hash of `key`, once done; None when there was none or it failed
        (the caller then hashes in the foreground, which reports the failure)."""
        pending = self._pending.pop(key, None)
        if pending is None:
            return None
        try:
            return pending.result()
        except ModelpackError:
            return None

    def forget(self, file: Path) -> None:
        """Drop what is remembered about `file`, so the next `digest` hashes it again."""
        key = self._key(file)
        self._entries.pop(key, None)
        self._pending.pop(key, None)
        self._forgotten.add(key)
        self.save()

    def save(self) -> None:
        """Write the durable entries, merged with the file on disk; failure only logs.

        The cache is an optimisation: a read-only or full disk must not fail a build.
        """
        merged = self._load()
        merged.update((k, e) for k, e in self._entries.items() if e.durable)
        for key in self._forgotten:
            merged.pop(key, None)
        live = _prune(merged)
        body = {
            "format": _FORMAT,
            "version": _VERSION,
            "entries": {k: e.to_json() for k, e in live.items()},
        }
        try:
            atomic_write_bytes(self.path, json.dumps(body, indent=1, sort_keys=True).encode())
        except OSError as exc:
            log.warning("could not write the digest cache %s: %s", self.path, exc)

    @staticmethod
    def _key(file: Path) -> str:
        return str(Path(file).resolve())

    def _hash(self, file: Path, key: str) -> _Entry:
        """Hash the file, and trust the result only if it did not change while being read."""
        for _ in range(_HASH_ATTEMPTS):
            started_ns = time.time_ns()
            try:
                with open(key, "rb", buffering=0) as handle:
                    before = os.fstat(handle.fileno())
                    with self._counting:
                        self.hashed += 1
                    digest = _hash_open_file(handle)
                    after = os.fstat(handle.fileno())
                now = os.stat(key)
            except OSError as exc:
                raise _unreadable(file, exc) from None
            stamp = _Stamp.of(before)
            if stamp == _Stamp.of(after) == _Stamp.of(now):
                durable = stamp.mtime_ns + _racy_window_ns(stamp.mtime_ns) <= started_ns
                return _Entry(stamp, digest, started_ns, durable)
        raise InputError(
            "the file kept changing while it was being hashed",
            source=str(file),
            hint="wait until whatever is writing it has finished, then build again",
        )

    def _load(self) -> dict[str, _Entry]:
        """The entries on disk; a missing, corrupt, oversized or foreign file (or one that is
        not a file) is an empty cache."""
        try:
            raw = json.loads(read_bytes(self.path, limit=DIGEST_CACHE_LIMIT, what="digest cache"))
        except (OSError, ValueError, RecursionError, InputError):
            return {}
        if not isinstance(raw, dict) or raw.get("format") != _FORMAT:
            return {}
        if raw.get("version") != _VERSION or not isinstance(raw.get("entries"), dict):
            return {}
        entries: dict[str, _Entry] = {}
        for key, value in raw["entries"].items():
            entry = _Entry.from_json(value)
            if entry is not None and isinstance(key, str) and os.path.isabs(key):
                entries[key] = entry
        return entries


def _prune(entries: dict[str, _Entry]) -> dict[str, _Entry]:
    """Keep the entries that still describe their file (one stat each), newest MAX_ENTRIES."""
    live: dict[str, _Entry] = {}
    for key, entry in entries.items():
        with contextlib.suppress(OSError):
            if _Stamp.of(os.stat(key)) == entry.stamp:
                live[key] = entry
    if len(live) > MAX_ENTRIES:
        newest = sorted(live.items(), key=lambda item: item[1].hashed_at_ns, reverse=True)
        live = dict(newest[:MAX_ENTRIES])
    return live


def file_chunks(
    handle: BinaryIO,
    *,
    total: int,
    progress: Progress | None = None,
    chunk_size: int = UPLOAD_CHUNK,
) -> Iterator[bytes]:
    """Yield an open file's bytes chunk by chunk, reporting `progress(sent, total)` as each
    chunk has been taken (the next one is asked for only once the last one went out)."""
    sent = 0
    if progress is not None:
        progress(0, total)
    while chunk := handle.read(chunk_size):
        yield chunk
        sent += len(chunk)
        if progress is not None:
            progress(sent, max(total, sent))


def ensure_blob(
    client: OllamaClient,
    path: Path,
    digest: str,
    *,
    progress: Progress | None = None,
) -> bool:
    """Make sure the server holds `path` as blob `digest`; True if it had to be uploaded.

    HEAD first, so a blob the server already has costs one request, not a re-upload.
    """
    if client.has_blob(digest):
        return False
    try:
        with open(path, "rb") as handle:
            total = os.fstat(handle.fileno()).st_size
            client.post_blob(digest, file_chunks(handle, total=total, progress=progress))
    except OSError as exc:
        raise _unreadable(path, exc) from None
    except ServerError as exc:
        if exc.status_code == 400 and "digest mismatch" in (exc.server_message or "").lower():
            raise DigestMismatchError(
                f"the server refused the upload: the content no longer matches {digest}",
                source=str(path),
                hint="the file changed after it was hashed; build again to re-hash it",
            ) from None
        raise
    return True


class Ensured(NamedTuple):
    digest: str
    uploaded: bool


class Blobs:
    """One build's blobs: each GGUF hashed at most once, each digest checked at most once."""

    def __init__(self, client: OllamaClient, cache: DigestCache) -> None:
        self.client = client
        self.cache = cache
        self._ensured: set[str] = set()

    def ensure(self, path: Path, *, progress: Progress | None = None) -> Ensured:
        """The blob digest of `path`, uploading the file unless the server already has it."""
        digest = self.cache.digest(path)
        if digest in self._ensured:
            return Ensured(digest, uploaded=False)
        try:
            uploaded = ensure_blob(self.client, path, digest, progress=progress)
        except DigestMismatchError:
            self.cache.forget(path)
            raise
        self._ensured.add(digest)
        return Ensured(digest, uploaded)
