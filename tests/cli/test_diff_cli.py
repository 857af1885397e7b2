"""`modelpack diff` between variants of a spec and Modelfiles, and the setup errors of `diff` and
`status` (no server needed; the live side is tested in tests/integration/test_status_real.py,
recorded builds in tests/cli/test_diff_builds_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli


@pytest.fixture
def project(offline_project: Path) -> Path:
    return offline_project


def diff(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["diff", *args])
    return result.exit_code, result.stdout, result.stderr


def test_two_variants_of_a_spec(project: Path) -> None:
    code, out, _ = diff("pkg:full", "pkg:lightweight")
    assert code == 1
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["pkg:full", "pkg:lightweight"]
    assert ["num_batch", "512", "128"] in rows
    assert ["num_ctx", "8192", "2048"] in rows
    assert ["temperature", "0.7", "not", "set"] in rows
    assert "template:" not in out  # same chat template


def test_a_variant_against_itself_is_the_same(project: Path) -> None:
    code, out, err = diff("pkg", "pkg:full")
    assert code == 0
    assert out == "no differences between pkg:full and pkg:full\n"
    assert err == "pkg means pkg:full (the first variant)\n"


def test_a_modelfile_against_a_variant(project: Path) -> None:
    rendered = CliRunner().invoke(cli, ["render", "pkg", "--variant", "lightweight", "--stdout"])
    assert rendered.exit_code == 0, rendered.output
    text = rendered.stdout.replace("num_ctx 2048", "num_ctx 3000")
    text = text.replace("<|im_start|>assistant", "<|im_start|>bot")
    folder = project / "modelfiles" / "pkg"  # where FROM ../../m.gguf finds the same GGUF
    folder.mkdir(parents=True)
    (folder / "mine.Modelfile").write_text(text)
    code, out, _ = diff("modelfiles/pkg/mine.Modelfile", "pkg:lightweight")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["modelfiles/pkg/mine.Modelfile", "pkg:lightweight"]
    assert lines[1].split() == ["num_ctx", "3000", "2048"]
    assert "gguf" not in out  # both name the same file, so the same digest
    assert lines[3:6] == ["template:", "--- modelfiles/pkg/mine.Modelfile", "+++ pkg:lightweight"]
    assert "-{{ end }}<|im_start|>bot" in lines
    assert "+{{ end }}<|im_start|>assistant" in lines


def test_a_different_gguf_is_a_difference(project: Path) -> None:
    write_tiny_gguf(project / "other.gguf", n_layer=1)
    (project / "a.Modelfile").write_text("FROM m.gguf\nPARAMETER num_ctx 2048\n")
    (project / "b.Modelfile").write_text("FROM other.gguf\nPARAMETER num_ctx 2048\n")
    code, out, _ = diff("a.Modelfile", "b.Modelfile")
    assert code == 1
    assert out.splitlines()[1].split()[0] == "gguf"
    assert diff("a.Modelfile", "a.Modelfile")[0] == 0


def test_a_side_that_is_nothing_known(project: Path) -> None:
    code, _, err = diff("acme:pkg-full", "pkg:full")
    assert code == 2
    assert err == (
        "error: 'acme:pkg-full' is neither a Modelfile, live:TAG nor a package of "
        "modelpack.yaml (packages here: pkg; for a model on the server write "
        "live:acme:pkg-full)\n"
    )


def test_a_live_side_without_a_server_is_a_setup_error(project: Path) -> None:
    code, _, err = diff("live:acme:pkg", "pkg:full")
    assert code == 2
    assert err == (
        "error: no Ollama answers at http://127.0.0.1:9 (start one and set OLLAMA_HOST, or "
        "the spec's ollama.host)\n"
    )


def test_status_without_a_server_is_a_setup_error_not_drift(project: Path) -> None:
    result = CliRunner().invoke(cli, ["status"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no Ollama answers at http://127.0.0.1:9")
    unknown = CliRunner().invoke(cli, ["status", "nope"])
    assert unknown.exit_code == 2
    assert "no package 'nope'" in unknown.stderr
