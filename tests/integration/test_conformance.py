"""Conformance: modelpack lint and the real Ollama agree on accept/reject, file by file.

The corpus is tests/data/conformance/*.Modelfile, written for this test. Each file is linted for
a version and then given to that version of Ollama the way users give it:

- 0.5.4: the server's create endpoint, which parses Modelfiles on the server (FormatParams);
- 0.9.3: the real CLI, `ollama create -f`, which parses on the client and sends structured
  fields (the server then checks the TEMPLATE).

A file is accepted by modelpack when lint finds no error (warnings allowed). Where modelpack is
deliberately stricter than Ollama, the file says so in a `# stricter:` comment, and the test
asserts both halves: lint refuses it and Ollama accepts it. A case whose template crashes the
server is tested on its own (test_gotemplate_vs_server.py), not here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import ollama_server as rig
import pytest

from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.syntax import decode
from modelpack.core.versions import OllamaVersion
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "data" / "conformance"
FILES = sorted(CORPUS.glob("*.Modelfile"))


def stricter(path: Path) -> str | None:
    """The recorded reason modelpack refuses what Ollama accepts, if the file has one."""
    text = decode(path.read_bytes())
    for line in text.splitlines():
        if line.startswith("# stricter:"):
            return line.removeprefix("# stricter:").strip()
    return None


def lint_accepts(path: Path, version: str) -> bool:
    return lint(path.read_bytes(), source=path.name, version=OllamaVersion.parse(version)).ok


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny_gguf_module: Path) -> Path:
    """The corpus beside the tiny GGUF its FROM lines name."""
    folder = tmp_path_factory.mktemp("conformance")
    for path in FILES:
        shutil.copy(path, folder / path.name)
    shutil.copy(tiny_gguf_module, folder / "tiny.gguf")
    return folder


@pytest.fixture(scope="module")
def tiny_gguf_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


def check(
    verdicts: dict[str, tuple[bool, bool, str]],
) -> tuple[list[tuple[str, bool, bool, str]], list[str]]:
    """(disagreements, recorded stricter cases) from {file: (lint ok, ollama ok, ollama said)}."""
    wrong, recorded = [], []
    for name, (ours, theirs, said) in verdicts.items():
        reason = stricter(CORPUS / name)
        if reason is not None:
            if ours or not theirs:
                wrong.append((name, ours, theirs, f"recorded as stricter ({reason}): {said}"))
            recorded.append(name)
        elif ours != theirs:
            wrong.append((name, ours, theirs, said))
    return wrong, recorded


def test_corpus_is_large_and_mixed() -> None:
    assert len(FILES) >= 60
    accepted = [p for p in FILES if lint_accepts(p, "0.9.3")]
    assert 20 <= len(accepted) <= len(FILES) - 20


def test_agrees_with_the_054_server_create(
    ollama_legacy: OllamaServer, corpus: Path, record_property: Callable[[str, object], None]
) -> None:
    with OllamaClient(ollama_legacy.host) as client:
        digest = client.push_blob(corpus / "tiny.gguf")
        verdicts = {}
        for path in sorted(corpus.glob("*.Modelfile")):
            text = decode(path.read_bytes()).replace("./tiny.gguf", f"@{digest}")
            try:
                client.create({"model": "conformance:legacy", "modelfile": text})
                theirs, said = True, "accepted"
            except ServerError as exc:
                theirs, said = False, exc.server_message or exc.message
            verdicts[path.name] = (lint_accepts(path, "0.5.4"), theirs, said)
    wrong, recorded = check(verdicts)
    record_property("stricter_than_ollama_0.5.4", ",".join(recorded))
    assert wrong == []
    assert len(recorded) == 4


def test_agrees_with_the_093_cli(
    ollama_current: OllamaServer, corpus: Path, record_property: Callable[[str, object], None]
) -> None:
    binary = rig.install("current").binary
    env = {**os.environ, "OLLAMA_HOST": ollama_current.host, "HOME": str(corpus)}
    verdicts = {}
    for path in sorted(corpus.glob("*.Modelfile")):
        result = subprocess.run(
            [str(binary), "create", "conformance:current", "-f", path.name],
            cwd=corpus,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        said = (result.stderr.strip().splitlines() or ["accepted"])[-1]
        verdicts[path.name] = (lint_accepts(path, "0.9.3"), result.returncode == 0, said)
    wrong, recorded = check(verdicts)
    record_property("stricter_than_ollama_0.9.3", ",".join(recorded))
    assert wrong == []
    assert len(recorded) == 4
