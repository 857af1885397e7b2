"""Filesystem writes that never leave a half-written file behind.

A crash, a full disk or Ctrl-C while writing must leave either the old file or the new one:
the text goes to a temporary file in the same folder (same filesystem, so the rename is
atomic), is flushed to disk, takes the old file's permissions (a new file gets 0666 less the
umask, as `open` would give it), and replaces it in one rename. A symlink is written through:
its target is replaced and the link stays, as editors do.
"""

from __future__ import annotations

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


def _new_file_mode() -> int:
    """0666 less the process umask: what a plain `open(path, "w")` would create."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _mode_for(path: Path) -> int:
    """The mode a replacement of `path` takes: the file's own, or a new file's."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return _new_file_mode()


def _target(path: Path) -> Path:
    """Where writing `path` lands: a symlink's target, so the link stays a link."""
    return path.resolve() if path.is_symlink() else path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = _target(path)
    tmp = _stage(path, data)
    try:
        os.chmod(tmp, _mode_for(path))
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
        os.chmod(tmp, _new_file_mode())
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
            target = _target(path)
            tmp = _stage(target, text.encode("utf-8"))
            staged.append((tmp, target))
            os.chmod(tmp, _mode_for(target))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
