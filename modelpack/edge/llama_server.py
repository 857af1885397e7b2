"""A real llama.cpp server (PyPI `xllamacpp`) on a loopback port: the template gate's reference
(`smoke.reference: llama-server`, `modelpack.jobs.template_gate`) and the tests' OpenAI target.

xllamacpp runs llama.cpp's server inside the Python process that builds `xllamacpp.Server`: the
HTTP listener and the inference loop are native threads, and the only way to stop them is to
drop the last reference to the Server (its destructor ends the loop and joins the threads). A
stray reference (a traceback, a fixture cache) would keep it serving for the rest of the test
session, and a native crash would take pytest down with it. So this helper runs that Server in a
child Python process (`python -m modelpack.edge.llama_server`) and stops it by closing the
child's stdin:

- the child builds the Server, then blocks reading stdin; EOF (a stop, or pytest dying and its
  end of the pipe closing) makes it drop the Server, which joins llama.cpp's threads, and exit;
- `stop()` waits for that, then SIGTERMs and SIGKILLs the child's process group if it hangs, and
  checks that the process is gone and the port no longer answers.

One inference thread by default: with two, llama.cpp's threads meet at a barrier for every
token, and when another llama.cpp (an Ollama runner of a neighbouring test) competes for the same
cores, decoding fell from ~130 to 2-30 tok/s (a 5-token smoke run took seconds); one thread kept
~60 tok/s under the same load and ~80 idle.

Readiness is `GET /health` answering 200 `{"status": "ok"}` (it says 503 while loading), within a
bounded wait; a child that exits or never gets ready raises with what was seen and its log tail.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import httpx

from modelpack.edge.server import LOOPBACK, free_port
from modelpack.errors import ServerError, ServerStartError

LOG_TAIL = 2000
BIND_ATTEMPTS = 3


class LlamaServer:
    """A managed xllamacpp server serving one GGUF. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        model: Path,
        *,
        alias: str | None = None,
        n_ctx: int = 1024,
        threads: int = 1,
        ready_timeout: float = 60.0,
        log_dir: Path | None = None,
    ) -> None:
        self.model = model
        self.alias = alias or model.stem
        self.n_ctx = n_ctx
        self.threads = threads
        self.ready_timeout = ready_timeout
        self.log_dir = log_dir
        self.port: int | None = None
        self.log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the llama.cpp server is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LlamaServer:
        """Start the child and wait until /health is OK; a lost port race is retried."""
        if self._process is not None:
            raise RuntimeError("the llama.cpp server is already started")
        log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="llama-server-"))
        attempt = 0
        while True:
            attempt += 1
            self.port = free_port()
            self.log_path = log_dir / f"llama-server-{self.port}.log"
            self._spawn()
            try:
                self._wait_ready()
            except ServerStartError:
                retry = "couldn't bind" in self.log_text() and attempt < BIND_ATTEMPTS
                self.stop()
                if not retry:
                    raise
            else:
                return self

    def _spawn(self) -> None:
        assert self.log_path is not None and self.port is not None
        self._log = self.log_path.open("wb")
        command = [
            sys.executable,
            "-m",
            "modelpack.edge.llama_server",
            "--model",
            str(self.model),
            "--alias",
            self.alias,
            "--port",
            str(self.port),
            "--ctx",
            str(self.n_ctx),
            "--threads",
            str(self.threads),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.ready_timeout
        seen = "nothing yet"
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(
                    f"llama.cpp server exited with {code} before it was ready "
                    f"(last /health: {seen}); log tail:\n{self.log_text()[-LOG_TAIL:]}"
                )
            try:
                response = httpx.get(f"{self.base_url}/health", timeout=1.0)
                seen = f"HTTP {response.status_code} {response.text.strip()[:200]}"
                if response.status_code == 200 and response.json().get("status") == "ok":
                    return
            except (httpx.HTTPError, ValueError) as exc:
                seen = f"{type(exc).__name__}: {exc}"
            time.sleep(0.05)
        raise ServerStartError(
            f"llama.cpp server on {self.base_url} not ready within {self.ready_timeout:g} s "
            f"(last /health: {seen}); log tail:\n{self.log_text()[-LOG_TAIL:]}"
        )

    def post(self, path: str, body: dict[str, object], timeout: float = 60.0) -> dict[str, Any]:
        """POST JSON to the server and return its JSON object; an error status raises
        ServerError with the server's words."""
        try:
            response = httpx.post(f"{self.base_url}{path}", json=body, timeout=timeout)
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

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the server now, as a crash would; stop() still cleans up afterwards."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """Close stdin (a clean stop), escalate to SIGTERM and SIGKILL, and check it is gone."""
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
            if process.poll() is None:
                raise RuntimeError(f"llama.cpp server pid {process.pid} did not stop")
            if _group_alive(process.pid):
                raise RuntimeError(f"llama.cpp server group {process.pid} has processes left")
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.port is not None and _answers(self.port):
            raise RuntimeError(f"port {self.port} still answers after the server stopped")


def _group_alive(pgid: int) -> bool:
    """Whether any process is left in the server's process group (its own session)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _serve(argv: list[str]) -> int:
    """The child: serve until stdin closes, then drop the Server so its threads are joined."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [LOOPBACK]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    server = xllamacpp.Server(params)
    print(f"xllamacpp {xllamacpp.__version__} listening on {server.listening_address}", flush=True)
    sys.stdin.buffer.read()
    del server
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
