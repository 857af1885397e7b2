"""Preflight by architecture: which names each Ollama version loads, and render refusing the rest.

The data is checked against the real binaries in tests/integration/test_explain_real.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.gguf.architectures import (
    LLAMA_CPP,
    OLLAMA_ENGINE,
    first_loading,
    loadable_architectures,
)
from modelpack.core.gguf.preflight import model_problems
from modelpack.core.gguf.reader import read_gguf
from modelpack.core.package.render import Renderer
from modelpack.core.package.spec import load_spec
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

BUILTIN = Path(__file__).resolve().parents[2] / "templates"


def loads(version: str) -> frozenset[str]:
    names = loadable_architectures(OllamaVersion.parse(version))
    assert names is not None, version
    return names


def test_llama_cpp_and_the_go_engine_both_count() -> None:
    names = loads("0.9.3")
    assert {"llama", "qwen2", "gemma3", "solar", "phi3"} <= names  # llama.cpp's table
    # Not in 0.9.3's llama.cpp table, loaded by Ollama's Go engine only.
    assert {"mistral3", "mllama", "qwen25vl", "gemma3n"} <= names
    assert "so8tvl" not in names
    assert "smollm3" not in names  # llama.cpp learned it in Ollama 0.11.5


def test_a_version_between_two_records_gets_the_older_set() -> None:
    assert loads("0.9.4") == loads("0.9.3")
    assert loads("0.10.1") == loads("0.9.3")  # the next change is 0.11.0
    assert loads("0.11.0") == loads("0.9.3") | {"gptoss"}


def test_release_candidates_and_vendor_builds_are_judged_as_their_release() -> None:
    assert loads("0.11.5-rc0") == loads("0.11.5")
    assert "gemma3" not in loads("0.5.4")
    # The legacy rig server: ipex-llm's build of 0.5.4 has gemma3 in its llama.cpp.
    assert loads("0.5.4-ipexllm-20250407") == loads("0.5.4") | {"gemma3"}
    assert loads("0.6.0-ipexllm-20250407") == loads("0.6.0")


@pytest.mark.parametrize("version", ["0.3.14", "0.30.0", "0.30.0-rc1", "0.33.0-rc2", "0.0.0"])
def test_unrecorded_versions_refuse_nothing(version: str) -> None:
    assert loadable_architectures(OllamaVersion.parse(version)) is None


def test_no_recorded_release_loses_an_architecture() -> None:
    """So "Ollama X and later load it" in the refusal's hint is true for every X."""
    releases = sorted(
        {OllamaVersion.parse(r) for table in (LLAMA_CPP, OLLAMA_ENGINE) for r, *_ in table}
    )
    for older, newer in itertools.pairwise(releases):
        assert loads(str(older)) <= loads(str(newer)), (older, newer)


def test_first_loading() -> None:
    assert first_loading("llama") == OllamaVersion(0, 4, 0)
    assert first_loading("gemma3") == OllamaVersion(0, 6, 0)  # the Go engine, before llama.cpp
    assert first_loading("smollm3") == OllamaVersion(0, 11, 5)
    assert first_loading("so8tvl") is None


def test_model_problems_names_the_version_and_architecture(tmp_path: Path) -> None:
    info = read_gguf(write_tiny_gguf(tmp_path / "m.gguf", arch="so8tvl"))
    [(problem, fix)] = model_problems(info, OllamaVersion.parse("0.9.3"))
    assert problem == "is refused: Ollama 0.9.3 cannot load architecture 'so8tvl'"
    assert "check general.architecture" in fix
    assert model_problems(info) == []  # no target version: the version-free checks only
    newer = read_gguf(write_tiny_gguf(tmp_path / "n.gguf", arch="smollm3"))
    [(_, fix)] = model_problems(newer, OllamaVersion.parse("0.9.3"))
    assert fix == "Ollama 0.11.5 and later load it: target one of those"
    assert model_problems(newer, OllamaVersion.parse("0.11.5")) == []


SPEC = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [simple]
"""


def render(folder: Path, spec: str, version: str) -> None:
    loaded = load_spec(spec, source="modelpack.yaml")
    renderer = Renderer(
        loaded,
        spec_dir=folder,
        version=OllamaVersion.parse(version),
        template_dirs=[BUILTIN],
    )
    renderer.render_package("pkg")


def test_render_refuses_an_architecture_the_target_cannot_load(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf", arch="so8tvl")
    with pytest.raises(InputError) as error:
        render(tmp_path, SPEC, "0.9.3")
    assert str(error.value) == (
        "modelpack.yaml:4: packages.pkg.from: m.gguf is refused: Ollama 0.9.3 cannot load "
        "architecture 'so8tvl' (none of the releases modelpack has lists for (0.4.0 up to "
        "0.30.0) loads it: check general.architecture, or target a newer Ollama, or set "
        "preflight: false)"
    )


def test_preflight_false_or_an_unrecorded_target_lets_it_through(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf", arch="so8tvl")
    render(tmp_path, SPEC.replace("variants:", "preflight: false\n    variants:"), "0.9.3")
    render(tmp_path, SPEC, "0.30.0")


def test_render_takes_an_architecture_only_a_newer_target_loads(tmp_path: Path) -> None:
    write_tiny_gguf(tmp_path / "m.gguf", arch="smollm3")
    with pytest.raises(InputError, match=r"Ollama 0\.11\.5 and later load it"):
        render(tmp_path, SPEC, "0.9.3")
    render(tmp_path, SPEC, "0.11.5")
