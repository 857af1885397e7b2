#!/usr/bin/env python3
"""The checkout's `modelpack registry-rig`: a real Docker registry on loopback that Ollama can
push to and pull from, unpacked into `.modelpack/registry/` (or $MODELPACK_HOME/registry/).

    python scripts/registry_rig.py install
    eval "$(python scripts/registry_rig.py start)"   # prints: export MODELPACK_REGISTRY=...
    python scripts/registry_rig.py stop
    python scripts/registry_rig.py status

A thin wrapper: the code is modelpack.edge.registry_rig, the command line
`modelpack registry-rig` (docs/servers.md). `install`, `Registry` and `ENV_VAR` are what the
tests import.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _checkout import checkout_dirs, run_cli, say
from _checkout import quiet as silent

from modelpack.edge import registry_rig
from modelpack.edge.registry_rig import ENV_VAR, Registry, RegistryInstall

__all__ = ["ENV_VAR", "Registry", "RegistryInstall", "install", "main"]


def install(home: Path | None = None, *, quiet: bool = False) -> RegistryInstall:
    """Unpack the rig into the checkout's home (idempotent)."""
    return registry_rig.install(checkout_dirs(home), say=silent if quiet else say)


def main(argv: list[str] | None = None) -> int:
    return run_cli("registry-rig", argv)


if __name__ == "__main__":
    sys.exit(main())
