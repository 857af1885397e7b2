"""requirements-dev.lock pins every dependency and test tool that pyproject.toml declares, at a
version pyproject.toml allows: a requirement added or tightened there without regenerating the
lock (scripts/lock.sh) would otherwise be installed by nobody, or at a version it forbids."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FIX = "run scripts/lock.sh (pip-tools' pip-compile) and commit requirements-dev.lock"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements-dev.lock").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if match:
            pins[canonicalize_name(match[1])] = match[2]
        else:
            assert not line.strip() or line.lstrip().startswith("#"), f"not a pin: {line!r}"
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(r)
        for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]
    ]


def test_lock_pins_every_declared_requirement_at_an_allowed_version() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements-dev.lock: {FIX}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements-dev.lock pins {requirement.name}=={pins[name]}, but pyproject.toml "
            f"asks for {requirement}: {FIX}"
        )


def test_lock_pins_the_tools_that_can_turn_ci_red() -> None:
    pins = _pins()
    for tool in ("ruff", "mypy", "pytest", "hypothesis", "pre-commit", "check-jsonschema"):
        assert tool in pins, f"{tool} is not pinned: {FIX}"
    # Exact versions only, so that an install from the lock is the same everywhere.
    assert len(pins) > 40
