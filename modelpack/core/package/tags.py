"""Every Ollama tag modelpack makes for a package, named in one place.

- `<model>:<package>-<variant>`: one per variant, created by `build` (`variant_tag`);
- `<model>:<package>`: the stable tag users pull, a copy of the best variant that passed
  (`stable_tag`);
- `<model>:<package>.<digest12>`: an archive of each model the stable tag has pointed at, so a
  rollback is a copy, not a rebuild (`archive_tag`).
"""

from __future__ import annotations

__all__ = ["archive_tag", "stable_tag", "variant_tag"]


def variant_tag(model: str, package: str, variant: str) -> str:
    """`smollm2`, `main-gpu`, `full` -> `smollm2:main-gpu-full`."""
    return f"{model}:{package}-{variant}"


def stable_tag(model: str, package: str) -> str:
    """`smollm2`, `main-gpu` -> `smollm2:main-gpu`."""
    return f"{model}:{package}"


def archive_tag(stable: str, digest: str) -> str:
    """`acme:main` + a model digest -> `acme:main.0123456789ab`."""
    return f"{stable}.{digest.removeprefix('sha256:')[:12]}"
