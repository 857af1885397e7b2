"""`modelpack status` and `modelpack diff` against the real servers: a package is built with
the real SmolLM2, then changed on the server behind modelpack's back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from modelpack.cli import cli
from modelpack.core.results.record import BuildRecord
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.project import Project, open_project
from modelpack.edge.server import OllamaServer
from modelpack.jobs.build import Builder

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: smold
    from: smol.gguf
    chat_template: chatml
    system: Answer in one short sentence.
    parameters: {{temperature: 0.2, stop: ["<|im_start|>", "<|im_end|>"]}}
    variants: [{variants}]
    smoke:
      prompts: [{{prompt: "What is the capital of France?", num_predict: 8}}]
      gpu: ignore
"""


def make_project(folder: Path, smollm2: Path, variants: str) -> Project:
    folder.mkdir(parents=True)
    (folder / "smol.gguf").symlink_to(smollm2)
    (folder / "modelpack.yaml").write_text(SPEC.format(variants=variants))
    return open_project(folder / "modelpack.yaml")


def build(project: Project, host: str) -> BuildRecord:
    with OllamaClient(host) as client:
        builder = Builder(project, client, cache=DigestCache.in_home(project.home))
        return builder.build("pkg")


def run(project: Project, host: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli,
        [*args, "-f", str(project.spec_path)],
        env={"OLLAMA_HOST": host, "MODELPACK_HOME": str(project.home)},
    )


def test_status_reports_drift_made_behind_modelpacks_back(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    host = ollama_current.host
    project = make_project(tmp_path / "p", smollm2_path, "lightweight")
    record = build(project, host)
    assert record.stable_variant == "lightweight", record.variants[0].reason

    clean = run(project, host, "status")
    assert clean.exit_code == 0, clean.output
    assert [line.split() for line in clean.stdout.splitlines()[1:]] == [
        ["smold:pkg-lightweight", "ok"],
        ["smold:pkg", "(stable", "->", "lightweight)", "ok"],
    ]
    assert clean.stderr == "no drift\n"

    with OllamaClient(host) as client:
        # Create over the variant tag, from itself: another num_ctx, and the spec's own
        # temperature and stop list spelled otherwise (float32 widened, another order).
        client.create(
            {"model": "smold:pkg-lightweight", "from": "smold:pkg-lightweight",
             "parameters": {"num_ctx": 4096, "temperature": 0.20000000298023224,
                            "stop": ["<|im_end|>", "<|im_start|>"]}}
        )  # fmt: skip
        show = client.show("smold:pkg-lightweight")
    assert "temperature                    0.20000000298023224" in show["parameters"]

    drifted = run(project, host, "status", "pkg")
    assert drifted.exit_code == 1, drifted.output
    lines = drifted.stdout.splitlines()
    assert lines[1].split() == ["smold:pkg-lightweight", "drift"]
    assert lines[2] == "    - num_ctx is 4096 on the server, 2048 in the spec"
    assert lines[3].startswith("    - smold:pkg-lightweight is ")
    made = record.variants[0].model_digest
    assert made is not None
    assert lines[3].endswith(f"but the last build made {made[:12]}")
    assert lines[4].split() == ["smold:pkg", "(stable", "->", "lightweight)", "ok"]
    assert len(lines) == 5  # nothing about temperature or stop: same values, other spelling
    assert "drift: 2 differences in pkg" in drifted.stderr

    with OllamaClient(host) as client:
        client.copy("smold:pkg-lightweight", "smold:pkg")
    same = run(project, host, "diff", "live:smold:pkg", "live:smold:pkg-lightweight")
    assert same.exit_code == 0, same.output
    assert "no differences" in same.stdout
    live = run(project, host, "diff", "live:smold:pkg", "pkg:lightweight")
    assert live.exit_code == 1, live.output
    assert live.stdout.splitlines()[0].split() == ["live:smold:pkg", "pkg:lightweight"]
    assert live.stdout.splitlines()[1].split() == ["num_ctx", "4096", "2048"]

    with OllamaClient(host) as client:
        client.delete("smold:pkg-lightweight")
    as_json = run(project, host, "status", "--json")
    assert as_json.exit_code == 1
    (status,) = json.loads(as_json.stdout)
    assert status["drift"] is True
    (variant,) = status["variants"]
    assert variant["exists"] is False
    assert [d["message"] for d in variant["differences"]] == [
        "tag smold:pkg-lightweight is missing on the server"
    ]
    stable = status["stable"]
    assert stable["known"] is False
    assert stable["variant"] is None
    messages = [d["message"] for d in stable["differences"]]
    assert messages[0].startswith("stable tag smold:pkg points at ")
    assert messages[0].endswith(", a digest no recorded build produced")
    assert messages[1:] == ["num_ctx is 4096 on the server, 2048 in the spec"]


def test_status_on_the_legacy_server(
    ollama_legacy: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """0.5.4 parses the Modelfile text itself: no false drift from its quoting or floats, and
    a legacy create over the tag is found."""
    host = ollama_legacy.host
    project = make_project(tmp_path / "p", smollm2_path, "lightweight")
    record = build(project, host)
    assert record.stable_variant == "lightweight", record.variants[0].reason
    clean = run(project, host, "status")
    assert clean.exit_code == 0, clean.output

    with OllamaClient(host) as client:
        client.create(
            {
                "model": "smold:pkg-lightweight",
                "modelfile": "FROM smold:pkg-lightweight\nPARAMETER num_ctx 4096\n",
            }
        )
    drifted = run(project, host, "status")
    assert drifted.exit_code == 1, drifted.output
    assert "    - num_ctx is 4096 on the server, 2048 in the spec" in drifted.stdout.splitlines()
