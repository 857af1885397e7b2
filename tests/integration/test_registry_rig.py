"""The registry rig against real servers: Ollama pushes to it and a clean Ollama pulls from it.

This is the ground `push` and `verify-pull` stand on, so it is proved with raw Ollama API calls
(httpx) and the registry's own API (RegistryClient), not with modelpack code built on top.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import ollama_server as rig
import pytest
import registry_rig

from modelpack.edge.registry import DOCKER_MANIFEST_V2, RegistryClient, parse_model_name
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError, ServerGoneError

pytestmark = pytest.mark.integration

CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
SMOLLM2_DIGEST = "sha256:b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
QUESTION = "What is the capital of France?"
SCRIPTS = Path(registry_rig.__file__).resolve().parent


@dataclass(frozen=True)
class Pushed:
    name: str
    reported: str
    """The digest the pushing Ollama reports in /api/tags: sha256 of its manifest file."""
    manifest_file: bytes

    @property
    def digest(self) -> str:
        """The digest of what Ollama pushed: its manifest file without the final newline,
        which the local file has and the pushed bytes do not."""
        return _blob(self.manifest_file.rstrip(b"\n"))


def _ollama(server: OllamaServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=300)


def _upload(client: httpx.Client, gguf: Path) -> None:
    if client.head(f"/api/blobs/{SMOLLM2_DIGEST}").status_code != 200:
        with gguf.open("rb") as handle:
            assert client.post(f"/api/blobs/{SMOLLM2_DIGEST}", content=handle).status_code == 201


def _reported_digest(client: httpx.Client, name: str) -> str:
    models = {m["name"]: m for m in client.get("/api/tags").json()["models"]}
    return f"sha256:{models[name]['digest']}"


def _blob(content: bytes) -> str:
    return f"sha256:{hashlib.sha256(content).hexdigest()}"


def _push(server: OllamaServer, client: httpx.Client, name: str) -> Pushed:
    response = client.post("/api/push", json={"model": name, "insecure": True, "stream": False})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success"}
    host, repo, tag = parse_model_name(name)
    manifest_file = (server.models_dir / "manifests" / host / repo / tag).read_bytes()
    return Pushed(name, _reported_digest(client, name), manifest_file)


def _pull(client: httpx.Client, name: str) -> httpx.Response:
    return client.post("/api/pull", json={"model": name, "insecure": True, "stream": False})


def _answer(client: httpx.Client, name: str) -> str:
    response = client.post(
        "/api/generate",
        json={"model": name, "prompt": QUESTION, "stream": False, "options": {"num_predict": 24}},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["response"])


@pytest.fixture(scope="module")
def pushed(
    ollama_current: OllamaServer, smollm2_path: Path, registry: registry_rig.Registry
) -> Pushed:
    """SmolLM2 with a ChatML template, created on Ollama 0.9.3 and pushed through the front."""
    name = f"{registry.host}/modelpack/smol:test"
    with _ollama(ollama_current) as client:
        _upload(client, smollm2_path)
        created = client.post(
            "/api/create",
            json={
                "model": name,
                "files": {"smol.gguf": SMOLLM2_DIGEST},
                "template": CHATML,
                "parameters": {"num_ctx": 2048, "stop": ["<|im_end|>"], "temperature": 0.0},
                "stream": False,
            },
        )
        assert created.status_code == 200, created.text
        return _push(ollama_current, client, name)


@pytest.fixture
def clean_ollama(tmp_path: Path) -> Iterator[OllamaServer]:
    """A second Ollama 0.9.3 with nothing in its own models dir: what a user's machine has."""
    with OllamaServer(rig.install("current"), tmp_path / "clean", ready_timeout=60) as server:
        yield server


@pytest.fixture
def registry_client(registry: registry_rig.Registry) -> Iterator[RegistryClient]:
    with RegistryClient(registry.host, insecure=True) as client:
        yield client


def test_push_lands_complete_in_the_registry(
    pushed: Pushed, registry_client: RegistryClient
) -> None:
    """The tag, a Docker v2 manifest whose digest is that of the bytes Ollama pushed, and every
    blob it names."""
    _, repo, tag = parse_model_name(pushed.name)
    assert registry_client.ping() == "registry/2.0"
    assert repo in registry_client.catalog()
    assert tag in registry_client.tags(repo)
    digest, manifest = registry_client.manifest(repo, tag)
    assert digest == pushed.digest
    # Quirk: the pusher's own digest covers a trailing newline that the pushed bytes lack, so
    # only a server that pulled the tag reports the registry's digest.
    assert pushed.reported == _blob(pushed.manifest_file) != digest
    assert manifest["mediaType"] == DOCKER_MANIFEST_V2
    layers = {layer["mediaType"]: layer["digest"] for layer in manifest["layers"]}
    assert layers["application/vnd.ollama.image.model"] == SMOLLM2_DIGEST
    assert "application/vnd.ollama.image.template" in layers
    assert registry_client.has_blob(repo, SMOLLM2_DIGEST)
    assert registry_client.has_blob(repo, manifest["config"]["digest"])
    assert registry_client.missing_blobs(repo, tag) == []


def test_clean_ollama_pulls_through_the_front_and_answers(
    pushed: Pushed, clean_ollama: OllamaServer
) -> None:
    """verify-pull by hand: a separate server with an empty models dir pulls the tag, gets the
    same manifest digest, and the pulled model answers the smoke prompt."""
    with _ollama(clean_ollama) as client:
        assert client.get("/api/tags").json()["models"] == []
        response = _pull(client, pushed.name)
        assert response.status_code == 200, response.text
        assert _reported_digest(client, pushed.name) == pushed.digest
        assert "Paris" in _answer(client, pushed.name)


def test_bare_registry_cannot_serve_an_ollama_pull(
    pushed: Pushed, registry: registry_rig.Registry, clean_ollama: OllamaServer
) -> None:
    """Why the front exists: the same tag pulled from the registry itself fails, because Ollama
    takes blob downloads only from a redirect."""
    direct = pushed.name.replace(registry.host, registry.direct_host)
    with _ollama(clean_ollama) as client:
        response = _pull(client, direct)
        assert response.status_code == 500
        assert response.json() == {"error": "http: no Location header in response"}
        assert client.get("/api/tags").json()["models"] == []


def test_legacy_ollama_pushes_and_pulls(
    ollama_legacy: OllamaServer,
    smollm2_path: Path,
    registry: registry_rig.Registry,
    registry_client: RegistryClient,
    tmp_path: Path,
) -> None:
    """Ollama 0.5.4 pushes (a Docker v2 manifest too) and a clean 0.5.4 pulls and answers."""
    name = f"{registry.host}/modelpack/smol:legacy"
    modelfile = (
        f"FROM @{SMOLLM2_DIGEST}\nPARAMETER num_ctx 2048\nPARAMETER temperature 0\n"
        f'PARAMETER stop "<|im_end|>"\nTEMPLATE """{CHATML}"""\n'
    )
    with _ollama(ollama_legacy) as client:
        _upload(client, smollm2_path)
        created = client.post(
            "/api/create", json={"model": name, "modelfile": modelfile, "stream": False}
        )
        assert created.status_code == 200, created.text
        pushed = _push(ollama_legacy, client, name)
    _, repo, tag = parse_model_name(name)
    digest, manifest = registry_client.manifest(repo, tag)
    assert digest == pushed.digest
    assert manifest["mediaType"] == DOCKER_MANIFEST_V2
    assert registry_client.missing_blobs(repo, tag) == []

    with (
        OllamaServer(rig.install("legacy"), tmp_path / "clean-legacy", ready_timeout=60) as clean,
        _ollama(clean) as client,
    ):
        direct = _pull(client, name.replace(registry.host, registry.direct_host))
        assert direct.json() == {"error": "http: no Location header in response"}
        response = _pull(client, name)
        assert response.status_code == 200, response.text
        assert _reported_digest(client, name) == pushed.digest
        assert "Paris" in _answer(client, name)


def _upload_image(url: str, repo: str, tag: str, layer: bytes) -> tuple[str, str]:
    """Push a tiny image with the registry's own upload API; returns (config, layer) digests."""
    config = b'{"architecture":"amd64","os":"linux"}'
    with httpx.Client(base_url=url, timeout=30) as http:
        for content in (config, layer):
            start = http.post(f"/v2/{repo}/blobs/uploads/")
            assert start.status_code == 202, start.text
            location = httpx.URL(start.headers["Location"])
            done = http.put(location.copy_merge_params({"digest": _blob(content)}), content=content)
            assert done.status_code == 201, done.text
        manifest = {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": _blob(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.ollama.image.model",
                    "digest": _blob(layer),
                    "size": len(layer),
                }
            ],
        }
        put = http.put(
            f"/v2/{repo}/manifests/{tag}",
            content=json.dumps(manifest).encode(),
            headers={"Content-Type": DOCKER_MANIFEST_V2},
        )
        assert put.status_code == 201, put.text
    return _blob(config), _blob(layer)


def test_missing_blob_is_found_and_the_tag_can_be_deleted(
    registry: registry_rig.Registry, registry_client: RegistryClient
) -> None:
    """A tag whose layer the registry lost (a blob deleted behind it) is reported by
    missing_blobs, and delete_tag removes it so no client can pull a broken model."""
    repo = "rig/half-pushed"
    config, layer = _upload_image(registry.url, repo, "v1", os.urandom(4096))
    assert registry_client.missing_blobs(repo, "v1") == []

    deleted = httpx.delete(f"{registry.url}/v2/{repo}/blobs/{layer}")
    assert deleted.status_code == 202, deleted.text
    assert not registry_client.has_blob(repo, layer)
    assert registry_client.has_blob(repo, config)
    assert registry_client.missing_blobs(repo, "v1") == [layer]

    digest, _ = registry_client.manifest(repo, "v1")
    assert registry_client.delete_tag(repo, "v1") == digest
    assert registry_client.tags(repo) == []
    with pytest.raises(ServerError, match="MANIFEST_UNKNOWN") as missing:
        registry_client.manifest(repo, "v1")
    assert missing.value.status_code == 404


def test_an_ollama_is_not_a_registry(ollama_current: OllamaServer) -> None:
    """Pointing the client at the wrong server says so instead of failing later."""
    with (
        RegistryClient(ollama_current.host, insecure=True) as client,
        pytest.raises(ServerError, match="is not a Docker Registry v2 API"),
    ):
        client.ping()


def _gone(pid: int) -> bool:
    """Exited (or a zombie nobody has reaped yet: in a container PID 1 may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pids: list[int], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def _kill_left(pids: list[int]) -> None:
    """A failed test must not leave the rig's processes running."""
    for pid in pids:
        if not _gone(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def test_stopped_registry_is_one_clear_line(tmp_path: Path) -> None:
    """A registry that is down: one line naming its URL and what to check; stop() ends both
    processes of the rig."""
    running = registry_rig.Registry(registry_rig.install(quiet=True), tmp_path).start()
    try:
        with RegistryClient(running.host, insecure=True) as client:
            assert client.ping() == "registry/2.0"
            pids, url = running.pids, running.url
            assert len(pids) == 2
            running.stop()
            assert _wait_gone(pids)
            with pytest.raises(ServerGoneError) as down:
                client.ping()
    finally:
        running.stop()
    message = str(down.value)
    assert "\n" not in message
    assert f"no registry answers at {url}" in message
    assert "check that the registry is running" in message


def test_rig_processes_die_with_their_parent(tmp_path: Path) -> None:
    """If pytest is killed outright, Linux ends the registry and nginx it started."""
    code = (
        "import json, sys, time; from pathlib import Path; import registry_rig as r; "
        f"g = r.Registry(r.install(quiet=True), Path({str(tmp_path)!r})).start(); "
        "print(json.dumps(g.pids), flush=True); time.sleep(120)"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=SCRIPTS,
        env={**os.environ, "PYTHONPATH": str(SCRIPTS)},
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        assert len(pids) == 2
        assert not any(_gone(pid) for pid in pids)
        parent.kill()
    try:
        assert _wait_gone(pids)
    finally:
        _kill_left(pids)


def test_command_line_starts_reports_and_stops(tmp_path: Path) -> None:
    """`start` prints the export line and leaves the rig running for other processes,
    `status` sees it, `stop` ends it (the install is shared through MODELPACK_HOME)."""
    installed = registry_rig.install(quiet=True)
    (tmp_path / "registry").symlink_to(installed.root)
    env = {**os.environ, "MODELPACK_HOME": str(tmp_path)}

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, str(SCRIPTS / "registry_rig.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()

    export = cli("start")
    assert export.startswith(f"export {registry_rig.ENV_VAR}=127.0.0.1:")
    host = export.split("=", 1)[1]
    state = json.loads((tmp_path / "run" / "registry.json").read_text())
    try:
        assert "running" in cli("status")
        assert cli("start") == export  # a second start reuses the running rig
        with RegistryClient(host, insecure=True) as client:
            assert client.ping() == "registry/2.0"
        cli("stop")
        assert _wait_gone(state["pids"])
        assert cli("status") == "registry rig: not started"
    finally:
        _kill_left(state["pids"])
