"""lint's verdicts against real servers: what lint calls an error, Ollama refuses too."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.core.modelfile.lint import lint
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError

pytestmark = pytest.mark.integration

# Parameter lines for the legacy server, which parses Modelfiles itself (FormatParams on 0.5.4).
LEGACY_CASES = [
    "PARAMETER temperature 0.7",
    "PARAMETER numa true",
    "PARAMETER tfs_z 1",
    "PARAMETER num_ctx 4096.0",
    "PARAMETER num_ctx abc",
    "PARAMETER use_mmap maybe",
    "PARAMETER mirostat 1",
    "PARAMETER penalize_newline true",
    "PARAMETER min_p 0.05",
    "PARAMETER Temperature 1",
    "PARAMETER seed 0x10",
    "PARAMETER top_k +5",
    "PARAMETER stop <|im_end|>",
]


def test_lint_errors_are_what_the_legacy_server_refuses(
    ollama_legacy: OllamaServer, tiny_gguf: Callable[..., Path]
) -> None:
    """Ollama 0.5.4 runs FormatParams on the server: each of its refusals is a lint error for
    0.5.4 and each line it accepts lints without errors. Range checks are modelpack's own, so
    the cases stay inside the ranges."""
    with OllamaClient(ollama_legacy.host) as client:
        digest = client.push_blob(tiny_gguf())
        version = client.ollama_version()
        mismatches = []
        for line in LEGACY_CASES:
            text = f"FROM @{digest}\n{line}\n"
            report = lint(text, source="case", version=version)
            try:
                client.create({"model": "lint:case", "modelfile": text})
                refused = None
            except ServerError as exc:
                refused = exc.server_message
            if report.ok != (refused is None):
                mismatches.append((line, [d.message for d in report.errors], refused))
    assert mismatches == []


def test_default_target_is_the_server_at_ollama_host(
    ollama_legacy: OllamaServer, tmp_path: Path
) -> None:
    """mirostat was still a real parameter in 0.5.4: no warning when linting for that server."""
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nPARAMETER mirostat 1\n")
    result = CliRunner().invoke(cli, ["lint", str(path)], env={"OLLAMA_HOST": ollama_legacy.host})
    assert result.exit_code == 0
    assert f"for Ollama 0.5.4-ipexllm-20250407 (the server at {ollama_legacy.host})" in (
        result.stderr
    )
    assert "warning" not in result.stdout
    newest = CliRunner().invoke(cli, ["lint", str(path)], env={"OLLAMA_HOST": "127.0.0.1:9"})
    assert "(newest known)" in newest.stderr
    assert "deprecated" in newest.stdout
