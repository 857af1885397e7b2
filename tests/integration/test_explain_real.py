"""Failures explained, on the real servers: preflight by architecture, and a real 500 at load
that carries the managed server's own log line.

The architecture sets in `modelpack.core.gguf.architectures` are checked here against the
rig's binaries (their llama.cpp table, read by scripts/arch_tables.py) and against real loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ollama_server as rig
import pytest
from arch_tables import binary_architectures

from modelpack.core.gguf.architectures import loadable_architectures
from modelpack.core.results.serverlog import EXTERNAL_LOG
from modelpack.core.versions import OllamaVersion
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient, sha256_file
from modelpack.edge.project import Project, open_project
from modelpack.edge.server import OllamaServer
from modelpack.errors import InputError, ModelpackError
from modelpack.jobs.build import Builder
from modelpack.jobs.matrix import MatrixRunner

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: explain
    from: smol.gguf
    chat_template: chatml
    parameters: {{temperature: 0, stop: ["<|im_end|>"]}}
    variants:
{variants}
    smoke:
      prompts: [{{prompt: "What is the capital of France?", expect: Paris, num_predict: 16}}]
      gpu: prefer
"""
BROKEN = "      - {name: broken, template: lightweight, from: odd.gguf, preflight: false}\n"
GOOD = "      - {name: good, template: lightweight}\n"


def project(folder: Path, variants: str, files: dict[str, Path]) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).symlink_to(source)
    (folder / "modelpack.yaml").write_text(SPEC.format(variants=variants))
    return open_project(folder / "modelpack.yaml")


def builder(project: Project, client: OllamaClient, server: OllamaServer | None) -> Builder:
    cache = DigestCache(project.spec_dir / ".cache" / "digests.json")
    return Builder(project, client, cache=cache, server=server)


def test_rig_binaries_load_exactly_the_recorded_architectures() -> None:
    """The llama.cpp table in each rig build, plus the Go engine's architectures, is the set
    recorded for its version; the one difference from upstream is recorded too."""
    current = rig.install("current")
    names = set(binary_architectures(current.binary.parent / "libllama.so"))
    recorded = loadable_architectures(OllamaVersion.parse("0.9.3"))
    assert recorded is not None
    # ipex-llm's llama.cpp lacks upstream's solar; the Go engine adds these four.
    assert names | {"solar", "mistral3", "mllama", "qwen25vl", "gemma3n"} == recorded
    assert not names & {"solar", "mistral3", "mllama", "qwen25vl", "gemma3n"}
    legacy = rig.install("legacy")
    names = set(binary_architectures(legacy.binary.parent / "libollama_llama.so"))
    assert legacy.version is not None
    assert frozenset(names) == loadable_architectures(OllamaVersion.parse(legacy.version))


def test_unknown_architecture_is_refused_before_upload(
    ollama_server: OllamaServer, smollm2_path: Path, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    odd = tiny_gguf("odd.gguf", arch="so8tvl", seed=14)  # a blob no other test uploads
    variants = "      - {name: odd, template: lightweight, from: odd.gguf}\n" + GOOD
    proj = project(tmp_path / "p", variants, {"smol.gguf": smollm2_path, "odd.gguf": odd})
    with OllamaClient(ollama_server.host) as client:
        version = client.ollama_version()
        with pytest.raises(InputError) as error:
            builder(proj, client, None).build("pkg")
        assert client.has_blob(sha256_file(odd)) is False
    assert f"Ollama {version} cannot load architecture 'so8tvl'" in error.value.message
    assert (error.value.hint or "").endswith("or set preflight: false")
    assert error.value.line == 8  # the odd variant's line in the spec
    assert error.value.message.startswith("packages.pkg.variants[0].from: odd.gguf is refused")


def test_a_real_500_carries_the_managed_servers_log_line(
    ollama_server: OllamaServer, smollm2_path: Path, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    """0.9.3 answers 'unable to load model: <blob>', 0.5.4 'this model is not supported by
    your version of Ollama'; both logs say which architecture."""
    odd = tiny_gguf("odd.gguf", arch="so8tvl")
    proj = project(tmp_path / "p", BROKEN + GOOD, {"smol.gguf": smollm2_path, "odd.gguf": odd})
    with OllamaClient(ollama_server.host) as client:
        record = builder(proj, client, ollama_server).build("pkg")
    broken, good = record.variants
    assert broken.verdict == "failed"
    assert broken.reason is not None
    assert broken.reason.startswith("load failed: HTTP 500: ")
    assert broken.reason.endswith(
        "; server log: error loading model: error loading model architecture: "
        "unknown model architecture: 'so8tvl'"
    )
    assert good.verdict == "passed", good.reason
    assert good.reason is None


def test_an_external_server_says_where_its_log_is(
    ollama_current: OllamaServer,
    smollm2_path: Path,
    tiny_gguf: Callable[..., Path],
    tmp_path: Path,
) -> None:
    odd = tiny_gguf("odd.gguf", arch="so8tvl")
    proj = project(tmp_path / "p", BROKEN, {"smol.gguf": smollm2_path, "odd.gguf": odd})
    with OllamaClient(ollama_current.host) as client:
        record = builder(proj, client, None).build("pkg")
    reason = record.variants[0].reason
    assert reason is not None
    assert reason.startswith("load failed: HTTP 500: unable to load model: ")
    assert reason.endswith(f" ({EXTERNAL_LOG})")
    assert "server log:" not in reason


def test_matrix_with_a_managed_server_explains_too(
    ollama_current: OllamaServer,
    smollm2_path: Path,
    tiny_gguf: Callable[..., Path],
    tmp_path: Path,
) -> None:
    odd = tiny_gguf("odd.gguf", arch="so8tvl")
    proj = project(tmp_path / "p", BROKEN, {"smol.gguf": smollm2_path, "odd.gguf": odd})
    with OllamaClient(ollama_current.host) as client:
        builder(proj, client, None).build("pkg", smoke=False)
        result = MatrixRunner(proj, client, log=ollama_current.log).run(["pkg"])
    [cell] = result.cells
    assert cell.error is not None
    assert cell.error.endswith("unknown model architecture: 'so8tvl'")


def test_a_crash_at_load_carries_the_panic(
    smollm2_path: Path, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    """0.5.4 panics and exits on a GGUF whose architecture keys are missing: the reason says
    the server went away and quotes the panic from the managed server's log."""
    odd = tiny_gguf("odd.gguf", arch="so8tvl", omit=["so8tvl.block_count"])
    proj = project(tmp_path / "p", BROKEN + GOOD, {"smol.gguf": smollm2_path, "odd.gguf": odd})
    with (
        OllamaServer(rig.install("legacy"), tmp_path / "srv") as server,
        OllamaClient(server.host) as client,
    ):
        record = builder(proj, client, server).build("pkg")
    broken, good = record.variants
    assert broken.reason is not None
    assert broken.reason.startswith("server went away")
    assert broken.reason.endswith("; server log: panic: runtime error: integer divide by zero")
    assert good.verdict == "passed", good.reason


def test_architectures_of_the_go_engine_are_not_unknown_to_0_9_3(
    ollama_current: OllamaServer, tiny_gguf: Callable[..., Path]
) -> None:
    """mistral3 is not in 0.9.3's llama.cpp table, yet 0.9.3 loads it: the scheduler sends it
    to the Go engine (`runner --ollama-engine`), whose model code then fails on the tiny
    file's shapes. An unknown name fails in llama.cpp's loader instead."""
    log = ollama_current.log
    outcomes = {}
    with OllamaClient(ollama_current.host) as client:
        for arch in ("mistral3", "so8tvl"):
            path = tiny_gguf(f"{arch}.gguf", arch=arch)
            digest = client.push_blob(path)
            client.create({"model": f"explain-{arch}", "files": {path.name: digest}})
            mark = log.position()
            with pytest.raises(ModelpackError):
                list(client.generate(f"explain-{arch}", "hi", options={"num_predict": 1}))
            outcomes[arch] = log.since(mark)
    assert "--ollama-engine" in outcomes["mistral3"]
    assert "unknown model architecture" not in outcomes["mistral3"]
    assert "unknown model architecture: 'so8tvl'" in outcomes["so8tvl"]
