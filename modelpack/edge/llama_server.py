"""A llama-server modelpack starts and stops: llama.cpp's server from the `xllamacpp` wheel.

The wheel has no `llama-server` binary. It compiles llama.cpp's server and its `common/arg.cpp`
into one extension, exports `common_params_parse` (what `llama-server ARGV...` calls on its
argv), and runs the server inside the Python process that builds `xllamacpp.Server`. So a
server here is a child Python process (this module run with `-m`) that:

1. parses the rendered argv with llama.cpp's own parser (called through ctypes on a
   `CommonParams`, whose C struct follows the Python object header; a probe parse of
   `--port 8 --ctx-size 777` checks that before the real one), so a flag the build does not
   take fails as the real `llama-server` would;
2. starts the server, then blocks reading its stdin. EOF, which is how `stop()` asks, and what
   happens when the parent dies and its end of the pipe closes, makes it drop the Server (its
   destructor ends llama.cpp's loop and joins the threads) and exit.

The parent (`LlamaServerProcess`) replaces `--host` with loopback and `--port` with the port
asked for (or a free one, retried if a racing process takes it), puts the child in its own
process group (so the terminal's Ctrl-C reaches modelpack only, which then stops it), asks
Linux to SIGTERM it if modelpack dies, and waits for `GET /health` to answer 200 `{"status":
"ok"}` (503 while the model loads). A child that exits first, or no health in time, is a
`ServerStartError` with the tail of the server's output. `stop()` closes stdin, escalates to
SIGTERM and SIGKILL of the group, and checks that no process is left and the port is closed.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from modelpack.edge.server import LOOPBACK, die_with_parent, free_port, port_is_free
from modelpack.errors import PortInUseError, ServerError, ServerStartError, SetupError

__all__ = ["LlamaServerProcess", "llamacpp_build", "model_argv", "on_loopback", "parse_argv"]

TAIL_LINES = 6
_CAUSE = re.compile(r"\berror\b|failed|GGML_ASSERT|terminate called|exception", re.IGNORECASE)
BIND_ATTEMPTS = 3
_PARSE = "_Z19common_params_parseiPPcR13common_params13llama_examplePFviS0_E"
_SERVER_EXAMPLE = 12
"""LLAMA_EXAMPLE_SERVER in the wheel's build (b11549): the example that takes --port."""
_HEADER = 16
"""Bytes of the Python object header before the C struct (refcount and type pointers)."""


def llamacpp_build() -> str | None:
    """The llama.cpp build the installed xllamacpp wheel carries (`b11549` for 2026.10.11549),
    or None when it is not installed; read from the wheel's metadata, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("xllamacpp")
    except PackageNotFoundError:
        return None
    build = installed.rsplit(".", 1)[-1]
    return f"b{build}" if build.isdigit() else installed


def on_loopback(argv: Sequence[str], port: int) -> list[str]:
    """`argv` (a rendered llama-server command) with its host set to loopback and its port to
    `port`; both options are added when the argv has none."""
    words = list(argv)
    for option, value in (("--host", LOOPBACK), ("--port", str(port))):
        if option in words:
            words[words.index(option) + 1] = value
        else:
            words += [option, value]
    return words


def model_argv(
    model: Path, *, alias: str | None = None, ctx_size: int = 1024, threads: int = 1
) -> list[str]:
    """A llama-server argv serving one GGUF on one slot, for modelpack's own use of the server
    (the template gate's token counts, the tests' OpenAI target) rather than a declared block.

    One thread: with two, llama.cpp's threads meet at a barrier for every token, and when
    another llama.cpp (an Ollama runner) competes for the same cores, decoding fell from ~130
    to 2-30 tok/s on a 2-core machine; one thread kept ~60 tok/s under that load."""
    return [
        "llama-server",
        "--model",
        str(model.resolve()),
        "--alias",
        alias or model.stem,
        "--ctx-size",
        str(ctx_size),
        "--parallel",
        "1",
        "--threads",
        str(threads),
        "--threads-batch",
        str(threads),
    ]


class LlamaServerProcess:
    """One llama-server for a rendered argv (`Launch.argv`), run from `cwd` (the script's folder,
    where the argv's relative paths start). `port=None` picks a free loopback port."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        port: int | None = None,
        ready_timeout: float = 120.0,
    ) -> None:
        self.argv = list(argv)
        self.cwd = cwd
        self.log_path = log_path
        self.requested_port = port
        self.ready_timeout = ready_timeout
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise SetupError("the llama-server has not been started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if llamacpp_build() is None:
            raise SetupError(
                "llama-server runs from the xllamacpp wheel, which is not installed",
                hint="pip install 'modelpack[serve]' (or xllamacpp) into modelpack's environment",
            )
        if self.requested_port is not None and not port_is_free(self.requested_port):
            raise PortInUseError(
                f"port {self.requested_port} on {LOOPBACK} is already in use",
                hint="pick another with --port, or --port 0 for a free one",
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")  # this run's output only (bind retries append)
        for attempt in range(BIND_ATTEMPTS):
            self.port = self.requested_port or free_port()
            self._spawn()
            try:
                self._wait_ready()
                return self
            except BaseException as exc:
                lost_race = (
                    isinstance(exc, ServerStartError)
                    and self.requested_port is None
                    and "couldn't bind" in self.output().lower()
                    and attempt < BIND_ATTEMPTS - 1
                )
                self.stop()
                if not lost_race:
                    raise
        raise AssertionError("unreachable")

    def _spawn(self) -> None:
        assert self.port is not None
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", __name__, *on_loopback(self.argv[1:], self.port)],
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
            env=_child_env(),
        )

    def _wait_ready(self) -> None:
        import httpx

        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        seen = "no answer yet"
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(
                    f"llama-server exited with code {code} before it was healthy: {self.tail()}",
                    hint=f"see {self.log_path}",
                )
            try:
                response = httpx.get(f"{self.url}/health", timeout=2.0)
                seen = f"HTTP {response.status_code} {response.text.strip()[:120]}"
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return
            except (httpx.HTTPError, ValueError) as exc:
                seen = type(exc).__name__
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"llama-server on {self.url} was not healthy within {self.ready_timeout:g} s "
                    f"(last /health: {seen}): {self.tail()}",
                    hint=f"see {self.log_path}",
                )
            time.sleep(0.05)

    def post(self, path: str, body: dict[str, object], timeout: float = 60.0) -> dict[str, Any]:
        """POST JSON to the server and return its JSON object; an error status raises
        ServerError with the server's words."""
        import httpx

        try:
            response = httpx.post(f"{self.url}{path}", json=body, timeout=timeout)
        except httpx.HTTPError as exc:
            raise ServerError(f"llama-server {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 400:
            raise ServerError(
                f"llama-server {path} failed with HTTP {response.status_code}: "
                f"{response.text.strip()[:300]}",
                status_code=response.status_code,
            )
        try:
            reply = response.json()
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            raise ServerError(f"llama-server {path} answered something other than a JSON object")
        return reply

    def output(self) -> str:
        """What the server wrote (its stdout and stderr), the last 64 KiB at most."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(max(0, handle.seek(0, os.SEEK_END) - 64 * 1024))
                return handle.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = TAIL_LINES) -> str:
        """Why the server stopped, in one line: its first line that reports an error (llama.cpp
        logs the cause first, `error loading model: ...` or a `GGML_ASSERT`, then the lines
        that follow from it), else its last `lines` lines joined with ` | `."""
        kept = [line.strip() for line in self.output().splitlines() if line.strip()]
        cause = next((line for line in kept if _CAUSE.search(line)), None)
        return cause or " | ".join(kept[-lines:]) or "nothing"

    def wait(self, timeout: float | None = None) -> int | None:
        """Block until the server exits (its exit code), or `timeout` passes (None)."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """Close stdin (a clean stop), escalate to SIGTERM and SIGKILL of the process group,
        and check that nothing is left of it and that its port no longer answers."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, sig)
                    try:
                        process.wait(timeout=timeout)
                        break
                    except subprocess.TimeoutExpired:
                        continue
            # Nothing the child started may outlive it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None
        if process is not None and self.port is not None:
            deadline = time.monotonic() + timeout
            while _answers(self.port) and time.monotonic() < deadline:
                time.sleep(0.05)

    def __repr__(self) -> str:
        where = self.url if self.port else "not started"
        return f"<LlamaServerProcess {where}>"


def _child_env() -> dict[str, str]:
    """The environment with modelpack importable in the child whatever its working folder
    (a checkout that was never installed included)."""
    import modelpack

    root = str(Path(modelpack.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root,
        # An abort is reported by its assert line; no gdb backtrace of the whole process.
        "GGML_NO_BACKTRACE": "1",
    }


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


# --- the child -----------------------------------------------------------------------------------


def parse_argv(words: list[str]) -> Any:
    """llama.cpp's own parse of `llama-server WORDS...` onto a CommonParams; None if refused
    (llama.cpp prints why). Needs the xllamacpp wheel; a build whose CommonParams layout is
    not the one modelpack knows is a SetupError."""
    import ctypes

    xllamacpp = _xllamacpp()
    library = ctypes.CDLL(sys.modules["xllamacpp.xllamacpp"].__file__)
    function = getattr(library, _PARSE)
    function.restype = ctypes.c_bool
    function.argtypes = [
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_void_p,
    ]

    def call(items: list[str]) -> tuple[bool, Any]:
        params = xllamacpp.CommonParams()
        raw = [b"llama-server", *(w.encode() for w in items)]
        argv = (ctypes.c_char_p * (len(raw) + 1))(*raw, None)
        accepted = function(len(raw), argv, id(params) + _HEADER, _SERVER_EXAMPLE, None)
        return bool(accepted), params

    ok, probe = call(["--port", "8", "--ctx-size", "777"])
    if not ok or probe.n_ctx != 777 or probe.port != 8:
        raise SetupError(
            f"xllamacpp {xllamacpp.__version__}: its CommonParams layout is not the one modelpack "
            "knows",
            hint="install the xllamacpp version modelpack pins (pip install 'modelpack[serve]')",
        )
    ok, params = call(words)
    return params if ok else None


def _xllamacpp() -> Any:
    """The wheel's module (it ships no type information)."""
    import importlib

    return importlib.import_module("xllamacpp")


def _serve(words: list[str]) -> int:
    xllamacpp = _xllamacpp()
    try:
        params = parse_argv(words)
    except SetupError as exc:
        print(f"error: {exc.message}", flush=True)
        return 2
    if params is None:
        print("llama-server refused its command line (see above)", flush=True)
        return 2
    server = xllamacpp.Server(params)
    print(f"llama-server (xllamacpp {xllamacpp.__version__}) is up", flush=True)
    sys.stdin.buffer.read()
    del server
    print("llama-server stopped", flush=True)
    return 0


if __name__ == "__main__":
    # The parent handles Ctrl-C and stops this child by closing its stdin.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(_serve(sys.argv[1:]))
