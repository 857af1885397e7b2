"""The process listening on a local TCP port, and its real command line (Linux /proc).

`/proc/net/tcp` and `/proc/net/tcp6` list the sockets of this network namespace: a LISTEN
socket (state 0A) on the port gives an inode; the process whose `/proc/PID/fd/*` links to
`socket:[INODE]` owns it; `/proc/PID/cmdline` (NUL-separated) is its argv and
`/proc/PID/cwd` the folder relative paths in it start from. Another user's process cannot be
read without privileges, and a server in a container or on another machine has no entry
here: each case comes back as the reason, never as an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ListeningProcess", "listening_inodes", "process_on_port"]

LISTEN = "0A"


@dataclass(frozen=True)
class ListeningProcess:
    pid: int
    argv: list[str]
    cwd: str | None
    """None when the process's working folder cannot be read."""


def listening_inodes(table: str, port: int) -> set[int]:
    """The inodes of LISTEN sockets on `port` in a /proc/net/tcp(6) text."""
    found: set[int] = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        _, _, hex_port = local.rpartition(":")
        try:
            if state == LISTEN and int(hex_port, 16) == port:
                found.add(int(inode))
        except ValueError:
            continue
    return {i for i in found if i}


def process_on_port(port: int, *, proc: Path = Path("/proc")) -> ListeningProcess | str:
    """The process listening on `port` here, or why it cannot be named."""
    inodes: set[int] = set()
    readable = False
    for name in ("tcp", "tcp6"):
        try:
            inodes |= listening_inodes((proc / "net" / name).read_text(), port)
            readable = True
        except OSError:
            continue
    if not readable:
        return f"this machine has no {proc}/net/tcp (not Linux?), so the process is not known"
    if not inodes:
        return f"nothing listens on port {port} in this machine's network namespace"
    wanted = {f"socket:[{inode}]" for inode in inodes}
    hidden = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            hidden += 1
            continue
        links = set()
        for fd in fds:
            try:
                links.add(os.readlink(fd))
            except OSError:  # closed meanwhile (the listing's own handle, for one)
                continue
        if wanted.isdisjoint(links):
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError as exc:
            return f"process {entry.name} listens on port {port}, but its command line: {exc}"
        try:
            cwd: str | None = os.readlink(entry / "cwd")
        except OSError:
            cwd = None
        argv = [w.decode("utf-8", "replace") for w in raw.split(b"\0")]
        if argv and argv[-1] == "":
            argv.pop()
        return ListeningProcess(int(entry.name), argv, cwd)
    why = f" ({hidden} processes could not be read: another user's?)" if hidden else ""
    return f"no process this user can read listens on port {port}{why}"
