"""`modelpack build` from the command line: dry runs and setup errors (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli

SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full, lightweight]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_gguf(tmp_path / "m.gguf", n_embd=128)  # about 2 MB
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_dry_run_plans_without_a_server(project: Path) -> None:
    result = CliRunner().invoke(
        cli, ["build", "pkg", "--dry-run"], env={"OLLAMA_HOST": "127.0.0.1:9"}
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "acme:pkg-full: create from modelfiles/pkg/full.Modelfile, blobs: m.gguf (2 MB)",
        "acme:pkg-lightweight: create from modelfiles/pkg/lightweight.Modelfile, "
        "blobs: m.gguf (2 MB)",
        "acme:pkg: copy of the first variant that passes its smoke test",
    ]
    assert "nothing is sent" in result.stderr
    assert not (project / "modelfiles").exists()


def test_dry_run_still_validates(project: Path) -> None:
    (project / "modelpack.yaml").write_text(
        SPEC.replace("variants:", "parameters: {numa: 1}\n    variants:")
    )
    result = CliRunner().invoke(cli, ["build", "pkg", "--dry-run"])
    assert result.exit_code == 2
    assert "packages.pkg.parameters.numa: parameter 'numa' was removed" in result.output


def test_no_server_is_one_line_with_the_fix(project: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "pkg"], env={"OLLAMA_HOST": "127.0.0.1:9"})
    assert result.exit_code == 2
    assert result.output == (
        "error: no Ollama answers at http://127.0.0.1:9 (start one and set OLLAMA_HOST, "
        "or pass --serve to let modelpack run one)\n"
    )


def test_unknown_package(project: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "pkgg", "--dry-run"])
    assert result.exit_code == 2
    assert "no package 'pkgg'" in result.output
