"""What the rig scripts (ollama_server.py, registry_rig.py) share: their install|start|stop|status
command line, and the state file through which a `start` tells later calls what it left running.

`start` leaves its servers running after the script exits (the shell evals the `export` line it
prints), so a later `start` (to reuse them), `status` and `stop` find them again by the pids and
address recorded in `<home>/run/<name>.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from modelpack.edge.server import is_running, stop_process_group
from modelpack.errors import ModelpackError

SCRIPTS = Path(__file__).resolve().parent

T = TypeVar("T")
Argument = tuple[tuple[str, ...], dict[str, Any]]


def modelpack_home() -> Path:
    """Installs and run state go under `.modelpack/` (git ignores it), or $MODELPACK_HOME."""
    return Path(os.environ.get("MODELPACK_HOME") or SCRIPTS.parent / ".modelpack").resolve()


# -- what a `start` left running ----------------------------------------------------------------


def state_path(home: Path, name: str) -> Path:
    return home / "run" / f"{name}.json"


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state) + "\n")


def _pids(state: Mapping[str, Any]) -> list[int]:
    # ollama_server.py records its one process group as "pid", registry_rig.py its two as "pids".
    return [int(pid) for pid in state["pids"]] if "pids" in state else [int(state["pid"])]


def probe_started(state: Mapping[str, Any], probe: Callable[[str], T]) -> T | None:
    """`probe(host)` while every recorded process runs; None once one is gone (a stale state)."""
    if not all(is_running(pid) for pid in _pids(state)):
        return None
    return probe(str(state["host"]))


def stop_started(path: Path) -> dict[str, Any] | None:
    """Stop the process groups a `start` recorded and forget them; returns what was recorded."""
    state = read_state(path)
    if state is None:
        return None
    for pid in _pids(state):
        stop_process_group(pid)
    path.unlink()
    return state


# -- command line --------------------------------------------------------------------------------


def arg(*flags: str, **options: Any) -> Argument:
    """One `add_argument` call, written where the subcommand is declared."""
    return flags, options


@dataclass(frozen=True)
class Command:
    help: str
    run: Callable[[argparse.Namespace, Path], object]
    arguments: tuple[Argument, ...] = ()


def run_cli(doc: str, commands: Mapping[str, Command], argv: list[str] | None = None) -> int:
    """Parse `argv`, run the subcommand with the home folder; a ModelpackError is one `error:`
    line and its exit code, not a traceback."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in commands.items():
        parser_ = sub.add_parser(name, help=command.help)
        for flags, options in command.arguments:
            parser_.add_argument(*flags, **options)
    args = parser.parse_args(argv)
    try:
        commands[args.command].run(args, modelpack_home())
    except ModelpackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0
