"""The edge: thin adapters between the pure core and processes, files and the network.

- Servers: `client` (Ollama's API), `registry` (Docker Registry v2), `openai_target`
  (OpenAI-compatible servers), `server` (managed `ollama serve` processes).
- Installed servers (`modelpack server`, `modelpack registry-rig`): `ollama_builds` (Ollama
  CPU builds from PyPI wheels, `wheels`), `registry_rig` (a local Docker registry), `started`
  (what a `start` left running).
- Disk and setting: `project` (spec, templates, host, home and target version: resolved once
  for every command), `files` (atomic writes), `blobs` (digest cache, upload once), `history`
  (build records, past builds), `clock` (record times), `load` (how contended the CPU is).

The jobs that use these (build, matrix, publish, ...) live in `modelpack.jobs`.
"""

import sys
import types


def _without_httpx_cli() -> None:
    """Register a stand-in for `httpx._main` before httpx is first imported.

    httpx's `__init__` imports its command-line client whenever click and rich are installed,
    as they are with modelpack, and that brings rich.syntax and pygments: about half of
    httpx's import time (encode/httpx#3547). modelpack never runs that client. If httpx is
    already imported, nothing changes; `httpx.main()` then says why it is missing.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main", "modelpack's stand-in for httpx's CLI module")

    def main() -> None:
        raise RuntimeError("httpx's command-line client is not loaded in a modelpack process")

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


_without_httpx_cli()
