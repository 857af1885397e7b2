"""promote and rollback against the real Ollama 0.9.3 and the real SmolLM2: every digest is
read back from the server, not from modelpack's record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.projects import build, digest, make_project

from modelpack.cli import cli
from modelpack.core.package.tags import archive_tag
from modelpack.edge.client import OllamaClient
from modelpack.edge.project import Project, open_project
from modelpack.edge.server import OllamaServer
from modelpack.jobs.lifecycle import Lifecycle, PromotionFailed

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: smol
    from: SmolLM2.gguf
    chat_template: chatml
    system: {system}
    parameters: {{temperature: 0, stop: ["<|im_end|>"]}}
    variants:
      - full
      - name: short
        template: lightweight
        parameters: {{stop: ["Paris", "<|im_end|>"]}}
    smoke:
      prompts: [{{prompt: "What is the capital of France?", expect: Paris, num_predict: 16}}]
"""


def project_for(
    folder: Path, smollm2: Path, system: str = "You are a helpful assistant."
) -> Project:
    return make_project(folder, SPEC.format(system=system), {"SmolLM2.gguf": smollm2})


def cli_run(project: Project, host: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli, [*args, "-f", str(project.spec_path)], env={"OLLAMA_HOST": host}
    )
    return result.exit_code, result.output


def test_promote_then_rollback_restores_the_first_digest(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    host = ollama_current.host
    project = project_for(tmp_path, smollm2_path)
    record, _, _ = build(project, host)
    assert record.stable_variant == "full"
    first = digest(host, "smol:pkg")
    assert first == record.variant("full").model_digest  # type: ignore[union-attr]
    assert digest(host, archive_tag("smol:pkg", first or "")) == first

    # "short" stops before it can say Paris, so its smoke test fails: promote refuses it.
    with (
        OllamaClient(host) as client,
        pytest.raises(PromotionFailed, match="smol:pkg-short failed its smoke test"),
    ):
        Lifecycle(project, client).promote("pkg", "short")
    assert digest(host, "smol:pkg") == first

    code, output = cli_run(project, host, "promote", "pkg", "short", "--no-verify")
    assert code == 0, output
    short = digest(host, "smol:pkg-short")
    assert short != first
    assert digest(host, "smol:pkg") == short
    assert "smol:pkg -> short" in output

    code, output = cli_run(project, host, "rollback", "pkg")
    assert code == 0, output
    assert digest(host, "smol:pkg") == first
    code, _ = cli_run(project, host, "rollback", "pkg")  # like `cd -`
    assert code == 0
    assert digest(host, "smol:pkg") == short

    saved = json.loads((tmp_path / "modelfiles/pkg/build.json").read_text())
    assert [c["reason"].split(" ")[0] for c in saved["history"]] == [
        "build:",
        "promote",
        "rollback",
        "rollback",
    ]
    assert [c["digest"] for c in saved["history"]] == [first, short, first, short]


def test_rollback_after_a_spec_change_and_rebuild_needs_no_rebuild(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """The model switch: change the spec, build (variant tags are overwritten), roll back."""
    host = ollama_current.host
    project = project_for(tmp_path, smollm2_path)
    build(project, host)
    first = digest(host, "smol:pkg")
    project = project_for(tmp_path / "next", smollm2_path, system="Answer in one word.")
    # Same package in a second folder would keep its own record; switch in place instead.
    spec = (tmp_path / "next/modelpack.yaml").read_text()
    spec = spec.replace("{temperature: 0,", "{temperature: 0, num_ctx: 2048,")
    (tmp_path / "modelpack.yaml").write_text(spec)
    project = open_project(tmp_path / "modelpack.yaml")
    record, _, _ = build(project, host)
    switched = digest(host, "smol:pkg")
    assert record.stable_variant == "full" and switched != first
    assert digest(host, "smol:pkg-full") != first  # the old model survives only in its archive

    # Each build kept the Modelfile it created each variant from, in its own history file.
    full = record.variant("full")
    assert full is not None and full.modelfile is not None
    assert "PARAMETER num_ctx 2048" in full.modelfile and full.file_digests
    assert len(list((tmp_path / "modelfiles/pkg/builds").glob("*.json"))) == 2
    code, output = cli_run(project, host, "diff", "build:pkg@previous", "build:pkg")
    assert code == 1, output
    rows = [line.split() for line in output.splitlines()]
    assert ["num_ctx", "8192", "2048"] in rows
    system = next(line for line in output.splitlines() if line.startswith("system "))
    assert system.endswith("'You are a helpful assistant.'   'Answer in one word.'")
    assert not any(row[0] in ("gguf", "template:") for row in rows if row)

    with OllamaClient(host) as client:
        record = Lifecycle(project, client).rollback("pkg")
    assert digest(host, "smol:pkg") == first
    assert record.stable_digest == first
    assert record.history[-1].archive == archive_tag("smol:pkg", first or "")


def test_rollback_with_nothing_to_roll_back_to(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    project = project_for(tmp_path, smollm2_path)
    code, output = cli_run(project, ollama_current.host, "rollback", "pkg")
    assert code == 2
    assert output.startswith("error: ") and "no build record for pkg" in output
    build(project, ollama_current.host)
    code, output = cli_run(project, ollama_current.host, "rollback", "pkg")
    assert code == 2
    assert "smol:pkg has no earlier target to roll back to (1 stable change(s) recorded)" in output
