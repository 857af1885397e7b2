"""llama-server's own argument parser on a rendered argv, and a server started from one.

Both are modelpack's (`modelpack.edge.llama_server`): xllamacpp has no llama-server binary, so
modelpack calls llama.cpp's `common_params_parse` (what `llama-server ARGV...` runs) through
ctypes, and runs the server in a child process from the parsed params.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from helpers.llama_server import LlamaServer
from modelpack.edge.llama_server import LlamaServerProcess, parse_argv


def parse(words: list[str]) -> tuple[bool, Any]:
    """(accepted, CommonParams) for `llama-server WORDS...`, by llama.cpp's own parser."""
    params = parse_argv(words)
    return params is not None, params


class ArgvLlamaServer(LlamaServer):
    """A real llama-server started from a rendered argv (its port replaced by a free one), with
    the tests' stricter stop."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: Path,
        log_dir: Path | None = None,
        ready_timeout: float = 60.0,
    ) -> None:
        folder = log_dir or Path(tempfile.mkdtemp(prefix="llama-server-"))
        self.model = cwd
        self.alias = ""
        LlamaServerProcess.__init__(
            self,
            argv,
            cwd=cwd,
            log_path=folder / "llama-server.log",
            ready_timeout=ready_timeout,
        )
