"""`modelpack schema`, and the schema checked by a real validator (check-jsonschema, from PyPI)
on the embedded default, a spec with a misspelt key, and the spec `modelpack init` writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "modelpack.schema.json"
CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": ""})


def validate(schema: Path, spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--schemafile", str(schema), str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_schema_prints_the_committed_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0, result.output
    assert result.output == COMMITTED.read_text(encoding="utf-8")


def test_schema_check_fails_on_a_stale_file_and_output_fixes_it(tmp_path: Path) -> None:
    target = tmp_path / "modelpack.schema.json"
    target.write_text("{}\n")
    stale = run("schema", "--check", "--output", str(target))
    assert stale.exit_code == 1
    assert f"{target}: out of date; run `modelpack schema --output {target}`" in stale.output
    assert run("schema", "--output", str(target)).exit_code == 0
    assert run("schema", "--check", "-o", str(target)).exit_code == 0
    assert target.read_text() == COMMITTED.read_text(encoding="utf-8")
    assert run("schema", "--check").exit_code == 2


def test_check_jsonschema_accepts_the_embedded_default() -> None:
    spec = ROOT / "modelpack.yaml"
    assert spec.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=schemas/modelpack.schema.json"
    )
    result = validate(COMMITTED, spec)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_check_jsonschema_rejects_a_misspelt_key(tmp_path: Path) -> None:
    text = (ROOT / "modelpack.yaml").read_text()
    assert "      gpu: prefer" in text
    spec = tmp_path / "modelpack.yaml"
    spec.write_text(text.replace("      gpu: prefer", "      gpus: prefer"))
    result = validate(COMMITTED, spec)
    assert result.returncode == 1
    assert "$.packages['main-gpu'].smoke: Additional properties are not allowed" in result.stdout
    assert "('gpus' was unexpected)" in result.stdout


def test_init_points_the_spec_at_the_schema_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tiny_gguf(tmp_path / "m.gguf")
    result = run("init", "m.gguf", "--chat-template", "chatml")
    assert result.exit_code == 0, result.output
    spec = tmp_path / "modelpack.yaml"
    first = spec.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=modelpack.schema.json"
    schema = tmp_path / "modelpack.schema.json"
    assert schema.read_text() == COMMITTED.read_text(encoding="utf-8")
    checked = validate(schema, spec)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A file of that name that is not the schema is not overwritten without --force.
    schema.write_text("{}\n")
    again = run("init", "m.gguf", "--chat-template", "chatml", "-f", "other.yaml")
    assert again.exit_code == 2
    assert "modelpack.schema.json already exists and is not this modelpack's" in again.output
    assert not (tmp_path / "other.yaml").exists()
    assert run("init", "m.gguf", "--chat-template", "chatml", "--force").exit_code == 0
    assert schema.read_text() == COMMITTED.read_text(encoding="utf-8")
