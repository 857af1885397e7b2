"""Where the scripts keep their installs: the checkout's `.modelpack/` (git ignores it), or
$MODELPACK_HOME. The package's own default is the per-user data dir (`user_dirs`); the scripts
pass this folder to it, so the test rig and CI keep one install per checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
CHECKOUT = SCRIPTS.parent
if str(CHECKOUT) not in sys.path:
    sys.path.insert(0, str(CHECKOUT))

from modelpack.edge.project import UserDirs, user_dirs  # noqa: E402


def modelpack_home() -> Path:
    return Path(os.environ.get("MODELPACK_HOME") or CHECKOUT / ".modelpack").resolve()


def checkout_dirs(home: Path | None = None) -> UserDirs:
    """The user dirs for `home` (default: `modelpack_home()`): data and cache both in it."""
    return user_dirs({"MODELPACK_HOME": str(home or modelpack_home())})


def run_cli(group: str, argv: list[str] | None) -> int:
    """`modelpack GROUP ARGV...` with $MODELPACK_HOME set to the checkout's home."""
    os.environ["MODELPACK_HOME"] = str(modelpack_home())
    from modelpack.cli import main

    try:
        main([group, *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return 0


def say(message: str) -> None:
    print(message, file=sys.stderr)


def quiet(_: str) -> None:
    pass
