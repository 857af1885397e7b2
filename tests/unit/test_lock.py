"""The per-package lock: one process at a time, a clear message, nothing stale after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.edge.lock import PackageLocked, package_lock

HOLD = """
import sys, time
from pathlib import Path
from modelpack.edge.lock import package_lock
with package_lock(Path(sys.argv[1]), package="pkg", command="build"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(path: Path) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def _end(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.wait()
    assert child.stdout is not None
    child.stdout.close()


def test_a_held_lock_refuses_with_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "modelfiles" / "pkg" / ".lock"
    child = _holder(path)
    try:
        with (
            pytest.raises(PackageLocked, match=rf"pkg is busy: pid {child.pid} \(build\)"),
            package_lock(path, package="pkg", command="promote"),
        ):
            pass
    finally:
        _end(child)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    child = _holder(path)
    os.kill(child.pid, signal.SIGKILL)
    _end(child)
    assert path.exists()  # the file stays; the lock went with the process
    started = time.monotonic()
    with package_lock(path, package="pkg", command="build"):
        pass
    assert time.monotonic() - started < 1


def test_the_lock_is_released_after_the_block(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with (
        package_lock(path, package="pkg", command="build"),
        pytest.raises(PackageLocked),
        package_lock(path, package="pkg", command="push"),
    ):
        pass
    with package_lock(path, package="pkg", command="push"):
        pass


@pytest.mark.parametrize("command", [["rollback"], ["promote"], ["builds"], ["push"]])
def test_a_package_argument_never_reaches_the_filesystem_unchecked(
    tmp_path: Path, command: list[str]
) -> None:
    """`rollback ../../evil` used to read and rewrite a build.json outside the project."""
    (tmp_path / "modelpack.yaml").write_text(
        "packages:\n  pkg:\n    model: m\n    from: m/base\n    chat_template: chatml\n"
        "    variants: [full]\n"
    )
    evil = tmp_path.parent / "evil"
    args = [*command, "../../evil", *(["full"] if command == ["promote"] else [])]
    result = CliRunner().invoke(
        cli, [*args, "-f", str(tmp_path / "modelpack.yaml")], env={"OLLAMA_HOST": "127.0.0.1:9"}
    )
    assert result.exit_code == 2, result.output
    assert "no package '../../evil'" in result.output
    assert not evil.exists()
