"""The tests' llama.cpp server (PyPI `xllamacpp`) serving one GGUF on a loopback port.

It is modelpack's own `LlamaServerProcess` (the child process, its readiness wait and its
stop) started from `model_argv`, with the names the tests use and stricter checks on stop: a
test must fail if a server outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path

from modelpack.edge.llama_server import LlamaServerProcess, model_argv


class LlamaServer(LlamaServerProcess):
    """A real llama-server for one GGUF, as `alias`; a context manager, or start()/stop()."""

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
        folder = log_dir or Path(tempfile.mkdtemp(prefix="llama-server-"))
        super().__init__(
            model_argv(model, alias=self.alias, ctx_size=n_ctx, threads=threads),
            cwd=folder,
            log_path=folder / "llama-server.log",
            ready_timeout=ready_timeout,
        )

    @property
    def base_url(self) -> str:
        return self.url

    @property
    def running(self) -> bool:
        return self.alive

    def log_text(self) -> str:
        return self.output()

    def kill(self) -> None:
        """SIGKILL the server now, as a crash would; stop() still cleans up afterwards."""
        if self.pid is not None and self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop it, and fail if any process of its group or its port is left."""
        pid = self.pid
        super().stop(timeout)
        if pid is not None and _group_alive(pid):
            raise RuntimeError(f"llama.cpp server group {pid} has processes left")
        if pid is not None and self.port is not None and _answers(self.port):
            raise RuntimeError(f"port {self.port} still answers after the server stopped")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
