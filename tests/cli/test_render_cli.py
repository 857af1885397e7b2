"""`modelpack render` and `modelpack init` from the command line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.deadline import deadline
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli
from modelpack.core.budget import HINT

SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    parameters: {temperature: 0.2}
    variants: [full, simple, lightweight]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write_tiny_gguf(tmp_path / "m.gguf")
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": ""})


def test_render_writes_files_and_prints_paths(project: Path) -> None:
    result = run("render", "pkg")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "modelfiles/pkg/full.Modelfile",
        "modelfiles/pkg/simple.Modelfile",
        "modelfiles/pkg/lightweight.Modelfile",
    ]
    text = (project / "modelfiles/pkg/full.Modelfile").read_text()
    assert "PARAMETER temperature 0.2" in text
    assert not list((project / "modelfiles/pkg").glob(".*"))


def test_stdout_writes_nothing(project: Path) -> None:
    result = run("render", "pkg", "--variant", "simple", "--stdout")
    assert result.exit_code == 0
    assert result.stdout.startswith("# acme:pkg-simple: rendered by modelpack")
    assert not (project / "modelfiles").exists()


def test_check_reports_missing_changed_and_stale(project: Path) -> None:
    assert run("render", "--check").exit_code == 1
    assert run("render").exit_code == 0
    result = run("render", "--check")
    assert result.exit_code == 0
    assert "3 Modelfile(s) up to date" in result.stderr
    (project / "modelfiles/pkg/simple.Modelfile").write_text("FROM m.gguf\n")
    (project / "modelfiles/pkg/old.Modelfile").write_text("FROM m.gguf\n")
    (project / "modelpack.yaml").write_text(SPEC.replace("0.2", "0.3"))
    result = run("render", "--check")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "modelfiles/pkg/full.Modelfile: differs from what the spec renders",
        "modelfiles/pkg/simple.Modelfile: differs from what the spec renders",
        "modelfiles/pkg/lightweight.Modelfile: differs from what the spec renders",
        "modelfiles/pkg/old.Modelfile: not produced by the spec (remove it)",
    ]


def test_failed_render_writes_nothing_and_keeps_old_files(project: Path) -> None:
    assert run("render").exit_code == 0
    before = {p: p.read_text() for p in (project / "modelfiles/pkg").iterdir()}
    bad = SPEC.replace(
        "variants: [full, simple, lightweight]",
        "variants: [full, simple, {name: lightweight, parameters: {numa: true}}]",
    )
    (project / "modelpack.yaml").write_text(bad.replace("0.2", "0.5"))
    result = run("render")
    assert result.exit_code == 2
    assert result.output.startswith(
        "error: modelpack.yaml:8: packages.pkg.variants[2].parameters.numa: parameter 'numa' "
        "was removed in Ollama 0.3.4"
    )
    assert {p: p.read_text() for p in (project / "modelfiles/pkg").iterdir()} == before


def test_missing_gguf_fails_before_writing(project: Path) -> None:
    (project / "m.gguf").unlink()
    result = run("render")
    assert result.exit_code == 2
    assert "modelpack.yaml:5: packages.pkg.from: GGUF file m.gguf not found" in result.output
    assert not (project / "modelfiles").exists()


def test_spec_errors_are_one_line_each(project: Path) -> None:
    (project / "modelpack.yaml").write_text(SPEC.replace("model:", "modle:"))
    result = run("render")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: modelpack.yaml:3: packages.pkg.model: required field is missing",
        "error: modelpack.yaml:4: packages.pkg.modle: unknown field (did you mean 'model'?)",
    ]


def test_no_spec_and_unknown_package(project: Path) -> None:
    result = run("render", "-f", "nope.yaml")
    assert result.exit_code == 2
    assert "no spec file at" in result.output
    result = run("render", "pgk")
    assert result.exit_code == 2
    assert "no package 'pgk'" in result.output
    assert "did you mean 'pkg'?" in result.output


def test_init_writes_a_spec_that_renders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gguf").mkdir()
    write_tiny_gguf(tmp_path / "gguf" / "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    result = run("init", "gguf/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "--chat-template", "chatml")
    assert result.exit_code == 0, result.output
    spec = (tmp_path / "modelpack.yaml").read_text()
    assert "model: qwen2.5-0.5b-instruct" in spec
    assert "from: gguf/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf" in spec
    # The default target is the newest stable release, never a release candidate, and it says so.
    from modelpack.core.modelfile.params import NEWEST_STABLE

    assert NEWEST_STABLE.pre is None
    assert f'version: "{NEWEST_STABLE}"' in spec
    assert f"for Ollama {NEWEST_STABLE} (the newest stable release" in result.output
    assert run("render", "main").exit_code == 0
    assert (tmp_path / "modelfiles/main/full.Modelfile").is_file()
    again = run("init", "gguf/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", "--chat-template", "chatml")
    assert again.exit_code == 2
    assert "already exists" in again.output


def test_init_with_an_unknown_format_leaves_no_spec(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf")
    os.chdir(tmp_path)
    try:
        result = run("init", "m.gguf", "--chat-template", "chatlm")
    finally:
        os.chdir(Path(__file__).parent)
    assert result.exit_code == 2
    assert "unknown chat format 'chatlm' (did you mean 'chatml'?)" in result.output
    assert not (tmp_path / "modelpack.yaml").exists()
    assert not (tmp_path / "modelpack.schema.json").exists()


def test_init_detects_the_chat_format_from_the_gguf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smollm2_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    result = run("init", "smol.gguf")
    assert result.exit_code == 0, result.output
    assert "chat format chatml (detected)" in result.output
    assert "chat_template: auto" in (tmp_path / "modelpack.yaml").read_text()
    assert run("render", "main").exit_code == 0
    assert "<|im_start|>" in (tmp_path / "modelfiles/main/full.Modelfile").read_text()


def test_init_without_a_chat_template_in_the_gguf_leaves_no_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tiny_gguf(tmp_path / "m.gguf")
    result = run("init", "m.gguf")
    assert result.exit_code == 2
    assert "auto, but m.gguf has no tokenizer.chat_template" in result.output
    assert not (tmp_path / "modelpack.yaml").exists()
    assert not (tmp_path / "modelpack.schema.json").exists()


# Two nested range(100000) loops: hours of work before the template budget.
HOSTILE_CHAT_TEMPLATE = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
)


def test_auto_on_a_gguf_whose_chat_template_loops_is_one_error_at_the_spec_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tiny_gguf(tmp_path / "m.gguf", extra={"tokenizer.chat_template": HOSTILE_CHAT_TEMPLATE})
    (tmp_path / "modelpack.yaml").write_text(SPEC.replace("chatml", "auto"))
    with deadline(20):
        result = run("render")
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "error: modelpack.yaml:6: packages.pkg.chat_template: m.gguf: the chat template ran "
        "past modelpack's template budget: more than 200,000 steps (" + HINT + ")"
    ]
    assert not (tmp_path / "modelfiles").exists()
    with deadline(20):
        result = run("init", "m.gguf", "-f", "other.yaml")
    assert result.exit_code == 2
    assert "the chat template ran past modelpack's template budget" in result.output
    assert not (tmp_path / "other.yaml").exists()


def test_a_variant_template_that_loops_is_one_error_naming_the_file(project: Path) -> None:
    (project / "spin.j2").write_text("{{ header() }}\n" + HOSTILE_CHAT_TEMPLATE + "\n")
    (project / "modelpack.yaml").write_text(
        SPEC.replace("[full, simple, lightweight]", "[full, {name: spin, template: spin.j2}]")
    )
    with deadline(20):
        result = run("render")
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: {project / 'spin.j2'}:2: template ran past modelpack's template budget: "
        "more than 200,000 steps"
    )
    assert not (project / "modelfiles").exists()
