"""Build modelpack's wheel from a copy of the project's files (so nothing is written into the
checkout) with the test environment's setuptools, offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(work: Path) -> Path:
    """The path of a freshly built `modelpack-*.whl` under `work`."""
    source = work / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("modelpack", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    out = work / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    options = ["-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    subprocess.run([*pip, "wheel", *options, str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("modelpack-*.whl")
    return wheel
