"""llama-server's own argument parser, from the installed xllamacpp, on a rendered argv.

xllamacpp has no llama-server binary: it compiles llama.cpp's `common/arg.cpp` into its
extension and exports `common_params_parse`, which `llama-server` itself calls on its argv. So
these helpers call it through ctypes on a `CommonParams` (whose `common_params` follows the
Python object header; checked by reading a parsed `--ctx-size` back) with the server example,
which is exactly what `llama-server ARGV...` would parse. `LlamaServer` is then started from
the parsed params (run as a script: a child process, like tests/helpers/llama_server.py).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path
from typing import Any

from helpers.llama_server import LlamaServer

_PARSE = "_Z19common_params_parseiPPcR13common_params13llama_examplePFviS0_E"
SERVER_EXAMPLE = 12
"""LLAMA_EXAMPLE_SERVER in the installed build (b11549): the example that takes --port."""


def parse(words: list[str]) -> tuple[bool, Any]:
    """(accepted, CommonParams) for `llama-server WORDS...`, by llama.cpp's own parser."""
    import xllamacpp

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
        return bool(function(len(raw), argv, id(params) + 16, SERVER_EXAMPLE, None)), params

    ok, probe = call(["--port", "8", "--ctx-size", "777"])
    if not ok or probe.n_ctx != 777 or probe.port != 8:
        raise RuntimeError("xllamacpp's CommonParams layout is not the one these helpers expect")
    return call(words)


class ArgvLlamaServer(LlamaServer):
    """A real llama-server started from a rendered argv (the port replaced by a free one)."""

    def __init__(self, argv: list[str], *, cwd: Path, **kwargs: Any) -> None:
        super().__init__(cwd, **kwargs)
        self.words = argv[1:]
        self.cwd = cwd

    def _spawn(self) -> None:
        import subprocess

        assert self.log_path is not None and self.port is not None
        words = list(self.words)
        words[words.index("--port") + 1] = str(self.port)
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *words],
            cwd=self.cwd,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )


def _serve(words: list[str]) -> int:
    import xllamacpp

    ok, params = parse(words)
    if not ok:
        print("llama-server refused the argv", flush=True)
        return 2
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    sys.stdin.buffer.read()
    del server
    return 0


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
