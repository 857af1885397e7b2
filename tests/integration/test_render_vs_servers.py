"""The embedded default renders Modelfiles that lint accepts and both real servers create."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import ollama_server as rig
import pytest

from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.syntax import parse
from modelpack.edge.client import OllamaClient
from modelpack.edge.project import open_project
from modelpack.edge.server import OllamaServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rendered(smollm2_path: Path):  # type: ignore[no-untyped-def]
    project = open_project(REPO / "modelpack.yaml")
    return project, project.renderer().render_package("main-gpu")


def test_main_gpu_has_three_variants_that_lint_clean(rendered) -> None:  # type: ignore[no-untyped-def]
    project, results = rendered
    assert [r.variant for r in results] == ["full", "simple", "lightweight"]
    for result in results:
        assert lint(result.text, source=result.variant, version=project.version).diagnostics == []


def test_committed_modelfiles_are_current(rendered) -> None:  # type: ignore[no-untyped-def]
    _, results = rendered
    for result in results:
        assert result.path.read_text() == result.text, f"run modelpack render ({result.path})"


def test_093_cli_creates_each_variant_and_full_answers(
    rendered,
    ollama_current: OllamaServer,  # type: ignore[no-untyped-def]
) -> None:
    """As a user runs it: `ollama create -f modelfiles/main-gpu/<variant>.Modelfile`."""
    _, results = rendered
    binary = rig.install("current").binary
    env = {**os.environ, "OLLAMA_HOST": ollama_current.host, "HOME": str(REPO / ".modelpack")}
    for result in results:
        done = subprocess.run(
            [str(binary), "create", f"smollm2:render-{result.variant}", "-f", str(result.path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    with OllamaClient(ollama_current.host) as client:
        chunks = list(client.generate("smollm2:render-full", "What is the capital of France?"))
    assert "Paris" in "".join(c.get("response", "") for c in chunks)


def test_054_server_creates_each_variant_and_full_answers(
    rendered,
    ollama_legacy: OllamaServer,
    smollm2_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Ollama 0.5.4 parses the Modelfile itself; FROM becomes the uploaded blob, as its CLI does."""
    _, results = rendered
    with OllamaClient(ollama_legacy.host) as client:
        digest = client.push_blob(smollm2_path)
        for result in results:
            source = parse(result.text).from_
            assert source is not None
            text = result.text.replace(f"FROM {source}", f"FROM @{digest}")
            client.create({"model": f"smollm2:render-{result.variant}", "modelfile": text})
        chunks = list(client.generate("smollm2:render-full", "What is the capital of France?"))
    assert "Paris" in "".join(c.get("response", "") for c in chunks)
