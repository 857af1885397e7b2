"""Filesystem writes that never leave a half-written file behind.

A crash, a full disk or Ctrl-C while writing must leave either the old file or the new one:
the text goes to a temporary file in the same folder (same filesystem, so the rename is
atomic), is flushed to disk, takes the old file's permissions, and replaces it in one rename.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def _stage(path: Path, data: bytes) -> Path:
    """`data` in a new temporary file beside `path`, flushed to disk; the caller moves it into
    place (or removes it). Nothing is left behind if writing fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = _stage(path, data)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_new_text(path: Path, text: str) -> bool:
    """Write `path` whole, only if it does not exist yet: False if it does (nothing written).

    The text is staged in a temporary file and hard-linked into place; a link never replaces
    an existing name, so of two writers racing for one name exactly one wins.
    """
    tmp = _stage(path, text.encode("utf-8"))
    try:
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 text exactly as given (no newline translation)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_many(files: dict[Path, str]) -> None:
    """Write several files so that a failure before the renames changes none of them.

    Every temporary file is written and flushed first; only then are they renamed into place.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            staged.append((_stage(path, text.encode("utf-8")), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
