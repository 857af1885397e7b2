"""The wheel users install carries the built-in templates, and modelpack finds them there.

Built from a copy of the project's files (so nothing is written into the checkout) with the
test environment's setuptools, offline; the wheel is unpacked and run with it first on the path,
ahead of the editable install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers.wheel import build_wheel

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheel = build_wheel(tmp_path_factory.mktemp("build"))
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def run_from(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python with the wheel first on the path, run outside the checkout (whose folder would
    otherwise come first as the current directory)."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=site, capture_output=True, text=True, check=False
    )


def test_wheel_carries_every_built_in_template(unpacked_wheel: Path) -> None:
    shipped = {p.relative_to(ROOT / "templates") for p in (ROOT / "templates").rglob("*.*")}
    carried = unpacked_wheel / "modelpack" / "_templates"
    assert shipped, "no templates in the checkout"
    assert {p.relative_to(carried) for p in carried.rglob("*.*")} == shipped


def test_installed_wheel_uses_its_own_templates(unpacked_wheel: Path, smollm2_path: Path) -> None:
    probe = run_from(
        unpacked_wheel,
        "-c",
        "import modelpack; from modelpack.edge.project import BUILTIN_TEMPLATES as t; "
        "print(modelpack.__file__); print(t)",
    )
    assert probe.returncode == 0, probe.stderr
    module, templates = probe.stdout.splitlines()
    assert Path(module).is_relative_to(unpacked_wheel)
    assert Path(templates) == unpacked_wheel / "modelpack" / "_templates"
    # Detecting SmolLM2's ChatML needs the chat formats the wheel carries.
    result = run_from(unpacked_wheel, "-m", "modelpack", "inspect", str(smollm2_path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chat_format"]["format"] == "chatml"


def test_wheel_carries_every_module(unpacked_wheel: Path) -> None:
    """pyproject.toml lists the packages by hand (for the templates mapping): a new subpackage
    must be added there."""
    ours = {p.relative_to(ROOT) for p in (ROOT / "modelpack").rglob("*.py")}
    assert ours <= {p.relative_to(unpacked_wheel) for p in unpacked_wheel.rglob("*.py")}


def test_wheel_carries_the_shim_sources(unpacked_wheel: Path) -> None:
    """`modelpack server install` builds its Intel-GPU stand-ins from these, outside a checkout."""
    ours = {p.name for p in (ROOT / "modelpack" / "edge" / "shims").glob("*.c")}
    assert ours, "no shim sources in the checkout"
    assert {p.name for p in (unpacked_wheel / "modelpack" / "edge" / "shims").glob("*.c")} == ours
