"""A small offline project for the CLI tests that compare models (diff, build history)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf

TWO_VARIANTS_SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    system: Be brief.
    variants: [full, lightweight]
"""


@pytest.fixture
def offline_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`pkg` (variants full and lightweight) on a tiny GGUF, as the working directory, with
    OLLAMA_HOST pointing where nothing answers: a command that needs a server says so."""
    write_tiny_gguf(tmp_path / "m.gguf")
    (tmp_path / "modelpack.yaml").write_text(TWO_VARIANTS_SPEC)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    return tmp_path
