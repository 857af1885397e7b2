"""A per-package lock, so two modelpack processes never change one package at the same time.

`build`, `promote`, `rollback` and `push` hold it for their whole run: two builds of one
package would otherwise recreate each other's variant tags and write each other's record. It is
an advisory `flock` on `modelfiles/<package>/.lock`, which the kernel releases when the process
ends, however it ends: a crash or `kill -9` never leaves a stale lock. The file also says who
holds it (pid, command, start time), for the message the next process gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from modelpack.edge.clock import now
from modelpack.errors import SetupError

__all__ = ["PackageLocked", "package_lock"]


class PackageLocked(SetupError):
    """Another modelpack process is working on the package."""


def _holder(fd: int) -> str:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict) or "pid" not in data:
        return "another modelpack process"
    what = f" ({data['command']})" if data.get("command") else ""
    since = f" since {data['since']}" if data.get("since") else ""
    return f"pid {data['pid']}{what}{since}"


@contextlib.contextmanager
def package_lock(path: Path, *, package: str, command: str) -> Iterator[None]:
    """Hold the lock in `path` while the block runs; refuse at once when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PackageLocked(
                f"{package} is busy: {_holder(fd)} is working on it ({path})",
                hint="wait for it to finish; the lock goes when that process ends",
            ) from None
        info = {"pid": os.getpid(), "command": command, "since": now(), "argv": sys.argv[1:]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the lock
