"""`modelpack estimate`: the table's figures, --json, the fit answer and one-line size errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.shaped_gguf import write_shaped_gguf

from modelpack.cli import cli

QWEN14B = {
    "n_layer": 48,
    "n_embd": 5120,
    "n_head": 40,
    "n_head_kv": 8,
    "n_ff": 13824,
    "n_vocab": 152064,
}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return write_shaped_gguf(tmp_path / "q14.gguf", **QWEN14B)  # type: ignore[arg-type]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["estimate", *args])


def test_table_has_the_components_and_totals(model: Path) -> None:
    result = invoke(str(model), "--ctx", "32768")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "48 layers, num_ctx 32768 (trained 32768), KV f16, num_gpu 49/49" in out
    assert "417.66 MiB" in out  # token_embd on the host
    assert "6.00 GiB" in out  # KV: 48 x 32768 x 8 x 128 x 2 x 2 bytes
    assert "153.00 MiB" in out  # GPU compute
    assert "600.00 MiB" in out  # CUDA runtime
    assert "fit" not in out  # no budget given


def test_default_ctx_is_ollamas_4096(model: Path) -> None:
    data = json.loads(invoke(str(model), "--json").stdout)
    assert data["estimate"]["ctx"] == 4096
    assert data["estimate"]["gpu_kv"] == 768 * 2**20


def test_json_parses_with_estimate_and_fit(model: Path) -> None:
    result = invoke(str(model), "--ctx", "8192", "--kv-type", "q8_0", "--vram", "8GiB", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["architecture"] == "llama" and data["context_length"] == 32768
    assert data["estimate"]["kv_type"] == "q8_0"
    assert data["estimate"]["kv_cache"] == 48 * 8192 * 2 * 1024 * 34 // 32
    fit = data["fit"]
    assert fit["fits"] and not fit["full_offload"] and 0 < fit["num_gpu"] < 49
    assert fit["vram"] == 8 * 2**30 and "layers fit" in fit["reason"]


def test_fit_answer_in_the_table(model: Path) -> None:
    result = invoke(str(model), "--ctx", "16384", "--vram", "24G")
    assert result.exit_code == 0, result.output
    assert "fit (VRAM 24.00 GiB): yes at num_ctx 16384, num_gpu 49/49" in result.stdout
    assert "largest num_ctx with every layer on the GPU: 32768 (trained 32768)" in result.stdout


def test_nothing_fits_exits_1_with_the_reason(model: Path) -> None:
    result = invoke(str(model), "--vram", "0", "--ram", "4GiB")
    assert result.exit_code == 1
    assert "fit (no GPU, RAM 4.00 GiB): no at num_ctx 4096" in result.stdout
    assert "more than the 4.00 GiB given" in result.stdout


def test_num_gpu_moves_layers_to_the_host(model: Path) -> None:
    data = json.loads(invoke(str(model), "--num-gpu", "0", "--json").stdout)["estimate"]
    assert data["gpu_total"] == 0 and data["num_gpu"] == 0
    bad = invoke(str(model), "--num-gpu", "50")
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --num-gpu: 50 is more than this model's 49 layers "
        "(e.g. --num-gpu 49 (all, the output layer included))"
    ]


@pytest.mark.parametrize("option", ["--vram", "--ram"])
def test_bad_size_is_one_line_naming_the_option(model: Path, option: str) -> None:
    result = invoke(str(model), option, "24XB")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {option}: '24XB' is not a size (e.g. {option} 24GiB, 24G or 8000MB)"
    ]


def test_ctx_above_the_trained_context_is_capped_as_the_version_caps_it(model: Path) -> None:
    """The shaped model is trained on 32768 tokens: 0.9.3 caps 65536, 0.5.4 runs it."""
    capped = invoke(str(model), "--ctx", "65536", "--ollama-version", "0.9.3", "--json")
    data = json.loads(capped.stdout)
    assert (data["estimate"]["ctx"], data["requested_ctx"]) == (32768, 65536)
    assert "caps it and runs num_ctx 32768" in data["ctx_warning"]
    assert "warning: num_ctx 65536 is above the GGUF's trained context 32768" in capped.stderr
    old = json.loads(
        invoke(str(model), "--ctx", "65536", "--ollama-version", "0.5.4", "--json").stdout
    )
    assert old["estimate"]["ctx"] == 65536 and "as asked" in old["ctx_warning"]
    within = json.loads(
        invoke(str(model), "--ctx", "8192", "--ollama-version", "0.9.3", "--json").stdout
    )
    assert within["ctx_warning"] is None
