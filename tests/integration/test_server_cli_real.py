"""`modelpack server start|status|stop` against a real Ollama 0.9.3: a server that outlives the
command, found again by later commands, reused by a second start and ended by stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import ollama_server as rig
import pytest

from modelpack.edge.server import base_url, is_running, server_version

pytestmark = pytest.mark.integration


def test_start_status_stop(tmp_path: Path) -> None:
    installed = rig.install("current", quiet=True)
    (tmp_path / "ollama").mkdir()
    (tmp_path / "ollama" / "current").symlink_to(installed.binary.parent)
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    env["MODELPACK_HOME"] = str(tmp_path)

    def modelpack(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "modelpack", "server", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result

    started = modelpack("start", "--build", "current")
    export = started.stdout.strip()
    assert export.startswith("export OLLAMA_HOST=127.0.0.1:")
    host = export.split("=", 1)[1]
    pid = int(json.loads((tmp_path / "run" / "current.json").read_text())["pid"])
    try:
        assert "started Ollama 0.9.3 (current)" in started.stderr
        assert server_version(base_url(host)) == "0.9.3"
        assert f"current: {host} running 0.9.3" in modelpack("status").stdout.splitlines()
        again = modelpack("start", "--build", "current")
        assert again.stdout.strip() == export
        assert f"reusing Ollama (current) at {host}" in again.stderr
        stopped = modelpack("stop")
        assert f"stopped Ollama (current) at {host}" in stopped.stderr
        deadline = time.monotonic() + 10
        while is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_running(pid)
        assert server_version(base_url(host)) is None
        assert not (tmp_path / "run" / "current.json").exists()
        assert host not in modelpack("status").stdout
    finally:
        if is_running(pid):
            os.killpg(pid, 9)
