"""What a `modelpack server start` / `modelpack registry-rig start` left running.

`start` leaves its servers running after the command exits (the shell evals the `export` line
it prints), so a later `start` (to reuse them), `status` and `stop` find them again by the pids
and address recorded in `<data dir>/run/<name>.json`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from modelpack.edge.server import is_running, stop_process_group

T = TypeVar("T")


def state_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except ValueError:  # a half-written or hand-edited file: nothing known to be running
        return None


def write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state) + "\n")


def _pids(state: Mapping[str, Any]) -> list[int]:
    # An Ollama server is one process group ("pid"), the registry rig two ("pids").
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


__all__ = ["probe_started", "read_state", "state_path", "stop_started", "write_state"]
