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


def test_a_server_that_is_not_ollama_is_one_line(project: Path, fake_wrong_service: str) -> None:
    result = CliRunner().invoke(cli, ["build", "pkg"], env={"OLLAMA_HOST": fake_wrong_service})
    assert result.exit_code == 2
    assert result.output.startswith(
        f"error: GET /api/version: the server at http://{fake_wrong_service}"
    )
    assert "not Ollama's reply" in result.output
    assert len(result.output.splitlines()) == 1


def test_unknown_package(project: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "pkgg", "--dry-run"])
    assert result.exit_code == 2
    assert "no package 'pkgg'" in result.output


BARE = "{{ header() }}\n{{ parameter_lines() }}\n{{ footer() }}\n"


@pytest.mark.parametrize("version", ["0.9.3", "0.15.5"])
def test_dry_run_and_estimate_judge_memory_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """`build --dry-run --vram X` and `estimate --vram X` agree on whether a model fits: both
    take num_ctx from the same default (32768 from 23 GiB of VRAM on Ollama >= 0.15.5)."""
    from helpers.shaped_gguf import write_shaped_gguf

    write_shaped_gguf(
        tmp_path / "m.gguf", n_layer=48, n_embd=5120, n_head=40, n_head_kv=40, n_ff=13824,
        n_vocab=152064, context_length=131072,
    )  # fmt: skip
    (tmp_path / "templates" / "variants").mkdir(parents=True)
    (tmp_path / "templates" / "variants" / "bare.Modelfile.j2").write_text(BARE)
    (tmp_path / "modelpack.yaml").write_text(
        SPEC.replace('"0.9.3"', f'"{version}"').replace(
            "variants: [full, lightweight]", "preflight: false\n    variants: [bare]"
        )
    )
    monkeypatch.chdir(tmp_path)
    verdicts = {}
    for vram in ("12GiB", "24GiB", "48GiB"):
        budget = ["--vram", vram, "--ram", "4GiB"]
        plan = CliRunner().invoke(cli, ["build", "pkg", "--dry-run", *budget])
        assert plan.exit_code == 0, plan.output
        estimate = CliRunner().invoke(
            cli, ["estimate", "m.gguf", *budget, "--ollama-version", version]
        )
        fits = estimate.exit_code == 0
        assert fits == ("acme:pkg-bare: skip" not in plan.stdout), (vram, plan.stdout)
        verdicts[vram] = fits
    # The VRAM tier matters: from 23 GiB the newer default context (32768, with an MHA KV
    # cache) no longer fits beside 4 GiB of RAM; 0.9.3's 4096 does.
    assert verdicts == {"12GiB": True, "24GiB": version == "0.9.3", "48GiB": version == "0.9.3"}
