#!/usr/bin/env python3
"""The checkout's `modelpack server`: real Ollama CPU builds installed into `.modelpack/` (or
$MODELPACK_HOME), and servers that keep running between commands.

    python scripts/ollama_server.py install [current|legacy|all]    # default here: all
    eval "$(python scripts/ollama_server.py start)"      # prints: export OLLAMA_HOST=...
    python scripts/ollama_server.py stop [--build NAME]
    python scripts/ollama_server.py status

A thin wrapper: the code is modelpack.edge.ollama_builds, the command line `modelpack server`
(docs/servers.md), so the test rig runs what users run. `install` and `modelpack_home` are what
the tests and benchmarks import.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _checkout import checkout_dirs, modelpack_home, run_cli, say
from _checkout import quiet as silent

from modelpack.edge import ollama_builds
from modelpack.edge.ollama_builds import RECIPES
from modelpack.edge.server import OllamaBuild

__all__ = ["RECIPES", "install", "main", "modelpack_home"]


def install(name: str, home: Path | None = None, *, quiet: bool = False) -> OllamaBuild:
    """Install one build into the checkout's home (idempotent)."""
    return ollama_builds.install(name, checkout_dirs(home), say=silent if quiet else say)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["install"]:  # the checkout installs both builds; `modelpack server` only current
        args = ["install", "all"]
    return run_cli("server", args)


if __name__ == "__main__":
    sys.exit(main())
