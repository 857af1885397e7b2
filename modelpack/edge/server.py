"""Managed Ollama servers: one `ollama serve` process on a loopback port, owned by modelpack.

The test rig, the demo and later `verify-pull` (a clean second server) all need servers they can
start, reach and stop without touching the user's own Ollama: each managed server gets a free
port, its own models dir and its own HOME (Ollama writes `~/.ollama/id_ed25519` there), and runs
in its own process group so that stopping it also ends the runner processes it spawned.

Which binary to run is an `OllamaBuild`: the user's `ollama` on PATH, or a build installed by
`modelpack server install` (`ollama_builds`) into `<data dir>/ollama/<name>/` with an
`install.json` that says how to run it (some builds need environment variables, e.g.
`OLLAMA_NUM_GPU=0`). Which one a command runs is decided in `project.find_build`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from modelpack.errors import PortInUseError, ServerStartError, SetupError, UsageError

LOOPBACK = "127.0.0.1"
INSTALL_MANIFEST = "install.json"


@dataclass(frozen=True)
class OllamaBuild:
    """An Ollama binary and what it needs to run.

    `env` is added to the server's environment; `version` is what `/api/version` is expected to
    report (None when unknown, e.g. a user's binary).
    """

    name: str
    binary: Path
    env: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None

    @classmethod
    def installed(cls, home: Path, name: str) -> OllamaBuild:
        """The build installed under `<home>/ollama/<name>/`, as its install.json describes it."""
        manifest = home / "ollama" / name / INSTALL_MANIFEST
        try:
            data = json.loads(manifest.read_text())
        except FileNotFoundError:
            raise SetupError(
                f"Ollama build '{name}' is not installed (no {manifest})",
                hint=f"run: modelpack server install {name} (or put Ollama's `ollama` on PATH)",
            ) from None
        return cls(
            name=name,
            binary=manifest.parent / data["binary"],
            env=dict(data.get("env", {})),
            version=data.get("version"),
        )

    @classmethod
    def on_path(cls) -> OllamaBuild | None:
        """The user's own `ollama` binary, if one is on PATH."""
        found = shutil.which("ollama")
        return cls(name="path", binary=Path(found)) if found else None


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on `port` now. SO_REUSEADDR as servers set it (Go does),
    so connections in TIME_WAIT from a server that just died do not count as the port in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel says is free now; a racing process can still take it (start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def server_version(base_url: str, timeout: float = 1.0) -> str | None:
    """The version an Ollama at `base_url` reports, or None if nothing answers there."""
    import httpx  # here: commands that only resolve a host must not load it

    from modelpack.edge.tls import verify_for

    try:
        response = httpx.get(
            f"{base_url}/api/version", timeout=timeout, verify=verify_for(base_url)
        )
        response.raise_for_status()
        return str(response.json()["version"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def base_url(host: str) -> str:
    """`OLLAMA_HOST`-style `host:port`, `:port` or URL (a path for a reverse proxy included)
    -> `http://host:port[/path]`, the default port 11434 (443 for https), as the official
    client reads it; anything else (`http://[::1`, `127.0.0.1:99999`, `:abc`) is a UsageError."""
    given = host
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    scheme, _, rest = host.partition("://")
    authority, slash, path = rest.partition("/")
    if authority.startswith(":"):
        authority = f"{LOOPBACK}{authority}"
    if ":" not in authority.rsplit("]", 1)[-1]:
        authority = f"{authority}:{443 if scheme == 'https' else 11434}"
    url = f"{scheme}://{authority}{slash}{path}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad_host(given, str(exc)) from None
    if parts.scheme not in ("http", "https"):
        raise _bad_host(given, f"scheme {parts.scheme!r} is not http or https")
    if not parts.hostname:
        raise _bad_host(given, "no host name")
    if port is None or not 0 < port < 65536:
        raise _bad_host(given, "no port between 1 and 65535")
    if parts.query or parts.fragment:
        raise _bad_host(given, "a query or fragment after the host")
    return url


def _bad_host(host: str, why: str) -> UsageError:
    return UsageError(
        f"{host!r} is not an Ollama host ({why})",
        hint="write host:port, :port or http://host:port, e.g. 127.0.0.1:11434",
    )


def die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to SIGTERM it if the parent dies.

    A test session killed hard (or a crashed CLI) then leaves no orphaned server behind.
    """
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn_in_group(
    cmd: list[str], env: Mapping[str, str], log_path: Path, *, tie_to_parent: bool
) -> subprocess.Popen[bytes]:
    """Start `cmd` as the leader of a new process group, so that stopping the group also ends
    what it spawns; with `tie_to_parent`, Linux ends it if this process dies."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if tie_to_parent and sys.platform == "linux" else None,
        )


def stop_child_group(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM a child's whole process group, SIGKILL it after `timeout`, and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # What the leader spawned (Ollama's runners) may outlive it by a moment; none may be left.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class ServerLog:
    """A managed server's log file, read from a remembered position: what the server wrote
    during one load. Reads are bounded to the last `limit` bytes of the new part, where a
    failure's lines are; a file that shrank (replaced) is read from its start."""

    def __init__(self, path: Path, *, limit: int = 256 * 1024) -> None:
        self.path = path
        self.limit = limit

    def position(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def since(self, position: int) -> str:
        """What was written after `position` (at most `limit` bytes, the newest)."""
        try:
            with self.path.open("rb") as handle:
                end = handle.seek(0, os.SEEK_END)
                start = position if position <= end else 0
                handle.seek(max(start, end - self.limit))
                return handle.read(self.limit).decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""


class OllamaServer:
    """A managed `ollama serve` on a loopback port. Use as a context manager, or start()/stop().

    `port=None` picks a free port (and retries with another if a racing process takes it); an
    explicit port that is taken is a `PortInUseError`. `die_with_parent=False` is for servers
    that must outlive the starting process (the `start` script).
    """

    _START_ATTEMPTS = 3

    def __init__(
        self,
        build: OllamaBuild,
        workdir: Path,
        *,
        port: int | None = None,
        ready_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        self.build = build
        self.workdir = workdir
        self.requested_port = port
        self.ready_timeout = ready_timeout
        self.die_with_parent = die_with_parent
        self.port: int | None = None
        self.version: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def models_dir(self) -> Path:
        return self.workdir / "models"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def log(self) -> ServerLog:
        """The server's log (restarts append to the same file)."""
        return ServerLog(self.log_path)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form `OLLAMA_HOST` takes."""
        if self.port is None:
            raise SetupError("the server has not been started")
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def setting(self, name: str) -> str | None:
        """An environment variable as the server runs with it: its build's, else the one it
        inherits from this process (e.g. OLLAMA_NUM_PARALLEL)."""
        return self.build.env.get(name, os.environ.get(name))

    def start(self) -> OllamaServer:
        if self.requested_port is not None and not port_is_free(self.requested_port):
            raise PortInUseError(
                f"port {self.requested_port} on {LOOPBACK} is already in use",
                hint="pick another port, or leave it unset to get a free one",
            )
        for attempt in range(self._START_ATTEMPTS):
            port = self.requested_port or free_port()
            try:
                self._spawn(port)
                self._wait_ready()
                return self
            except ServerStartError:
                lost_race = self.requested_port is None and "address already in use" in (
                    self._log_tail().lower()
                )
                self.stop()
                if not lost_race or attempt == self._START_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self, port: int) -> None:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **self.build.env,
            "OLLAMA_HOST": f"{LOOPBACK}:{port}",
            "OLLAMA_MODELS": str(self.models_dir),
            "HOME": str(self.workdir),
        }
        self._process = spawn_in_group(
            [str(self.build.binary), "serve"],
            env,
            self.log_path,
            tie_to_parent=self.die_with_parent,
        )
        self.port = port

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(
                    f"Ollama ({self.build.name}) exited with code {code} before answering on "
                    f"{self.url}: {self._log_tail() or 'no output'}",
                    hint=f"see its log: {self.log_path}",
                )
            self.version = server_version(self.url, timeout=0.5)
            if self.version is not None:
                return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"Ollama ({self.build.name}) did not answer on {self.url} "
                    f"within {self.ready_timeout:g} s",
                    hint=f"see its log: {self.log_path}",
                )
            time.sleep(0.05)

    def _log_tail(self) -> str:
        """The line of the log that says why the server stopped.

        A Go panic ends with stack frames, so its `panic:` line is the one worth quoting;
        otherwise the last line that is not an indented frame.
        """
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        for line in reversed(lines):
            if line.startswith(("panic:", "Error:", "error:")):
                return line.strip()
        unindented = [line for line in lines if line.strip() and not line[0].isspace()]
        return unindented[-1].strip() if unindented else ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after `timeout`."""
        process, self._process = self._process, None
        if process is not None:
            stop_child_group(process, timeout)

    def restart(self) -> OllamaServer:
        """Stop (what is left of) the server and start it again on the same port and models
        dir, so clients pointed at it keep working; used after a crash."""
        port = self.port
        self.stop()
        if port is not None:
            self.requested_port = port
        return self.start()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> OllamaServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return f"<OllamaServer {self.build.name} {where}>"


def is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    """Stop a server started earlier by another process (the `start` script), by its pid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and is_running(pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


__all__ = [
    "INSTALL_MANIFEST",
    "LOOPBACK",
    "OllamaBuild",
    "OllamaServer",
    "ServerLog",
    "base_url",
    "free_port",
    "is_running",
    "port_is_free",
    "server_version",
    "spawn_in_group",
    "stop_child_group",
    "stop_process_group",
]
