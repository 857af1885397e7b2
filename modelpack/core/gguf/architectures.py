"""Which model architectures each Ollama version can load, as data.

A GGUF names its architecture in `general.architecture`. Ollama accepts any name at create and
fails only at the first request: llama.cpp's loader looks the name up in its `LLM_ARCH_NAMES`
table and stops with `unknown model architecture: 'x'` (HTTP 500 on 0.9.3; 0.5.4 answers 500 or
panics). So the preflight refuses a name outside the target version's set before anything is
uploaded (`modelpack.core.gguf.preflight`).

A version loads an architecture when either engine takes it:

- **llama.cpp** (`LLAMA_CPP`): the names in `LLM_ARCH_NAMES`, read at every Ollama tag from
  v0.4.0 to v0.24.0-rc1 in the llama.cpp Ollama vendors (`llama/llama.cpp/src/llama-arch.cpp`;
  `llama/llama-arch.cpp` for v0.5.5 to v0.5.7, `llama/llama.cpp` before). Ollama's own patches
  are included (`solar`, and `mllama` until 0.7.0).
- **Ollama's Go engine** (`OLLAMA_ENGINE`): `llm/server.go` sends a model to the Go engine when
  `fs/ggml/ggml.go` `OllamaEngineRequired()` names its architecture and a package under
  `model/models/` registers it (`model.Register`); otherwise it falls back to llama.cpp. Read at
  the same tags. (`OLLAMA_NEW_ENGINE=1` also sends other registered architectures there; all
  of those are in llama.cpp's table as well.)

Each table lists the release where the set changed, with the names added and removed; a
release's set is the one at its last tag (the release itself, else its newest release
candidate). Checked against the real binaries of the test rig (`scripts/arch_tables.py`
reads the table out of a llama.cpp library):

- the `current` rig server (Ollama 0.9.3 built by ipex-llm, `bigdl-core-cpp==2.7.0b20260110`,
  `libllama.so`) has exactly the v0.9.3 llama.cpp names except `solar`, and routes `mistral3`,
  `mllama`, `qwen25vl` and `gemma3n` to its Go engine (`runner --ollama-engine`);
- the `legacy` one (`0.5.4-ipexllm-20250407`, `bigdl-core-cpp==2.6.0`, `libollama_llama.so`)
  has the v0.5.4 names plus `gemma3` (`VENDOR_BUILDS`).

A version between two recorded releases gets the newest set at or below it (versions compare by
release, see `modelpack.core.versions`). No set is known before 0.4.0 (llama.cpp was a git
submodule then) or from 0.30.0, when Ollama stopped vendoring llama.cpp and builds llama.cpp's
`b<N>` tag named in `LLAMA_CPP_VERSION` instead; for those versions, and for an unstamped source
build (`0.0.0`, judged as the newest release), nothing is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

from modelpack.core.versions import OllamaVersion

__all__ = [
    "LLAMA_CPP",
    "OLLAMA_ENGINE",
    "RECORDED_FROM",
    "RECORDED_UNTIL",
    "VENDOR_BUILDS",
    "first_loading",
    "loadable_architectures",
]

Changes = Sequence[tuple[str, tuple[str, ...], tuple[str, ...]]]
"""(release, names added, names removed), oldest first."""

RECORDED_FROM = OllamaVersion(0, 4, 0)
"""The first release whose llama.cpp is vendored in Ollama's own tree."""
RECORDED_UNTIL = OllamaVersion(0, 30, 0)
"""From here Ollama builds an external llama.cpp (`LLAMA_CPP_VERSION`); no set is recorded."""

LLAMA_CPP: Changes = (
    (
        "0.4.0",
        (
            "arctic", "baichuan", "bert", "bitnet", "bloom", "chameleon", "chatglm", "codeshell",
            "command-r", "dbrx", "deepseek2", "exaone", "falcon", "gemma", "gemma2", "gpt2",
            "gptj", "gptneox", "granite", "granitemoe", "grok", "internlm2", "jais",
            "jina-bert-v2", "llama", "mamba", "minicpm", "minicpm3", "mllama", "mpt",
            "nemotron", "nomic-bert", "olmo", "olmoe", "openelm", "orion", "phi2", "phi3",
            "plamo", "qwen", "qwen2", "qwen2moe", "refact", "rwkv6", "solar", "stablelm",
            "starcoder", "starcoder2", "t5", "t5encoder", "xverse",
        ),
        (),
    ),
    ("0.5.2", ("olmo2",), ()),
    ("0.5.3", ("qwen2vl",), ()),
    ("0.5.5", ("cohere2", "deci", "deepseek", "wavtokenizer-dec"), ()),
    ("0.5.13", ("phimoe", "rwkv6qwen2"), ()),
    ("0.6.2", ("gemma3",), ()),
    ("0.6.5", ("mistral3",), ()),
    ("0.6.6", ("arwkv7", "bailingmoe", "glm4", "llama4", "plm", "qwen3", "qwen3moe", "rwkv7"), ()),
    ("0.6.8", ("nomic-bert-moe",), ()),
    ("0.6.9", (), ("mistral3",)),
    ("0.7.0", (), ("mllama",)),
    (
        "0.11.5",
        (
            "arcee", "dots1", "dream", "ernie4_5", "ernie4_5-moe", "exaone4", "falcon-h1",
            "gemma3n", "glm4moe", "gpt-oss", "granitehybrid", "hunyuan-dense", "hunyuan-moe",
            "jamba", "lfm2", "llada", "mamba2", "neo-bert", "plamo2", "smallthinker", "smollm3",
        ),
        (),
    ),
    (
        "0.12.4",
        ("gemma-embedding", "grovemoe", "jina-bert-v3", "llada-moe", "nemotron_h", "seed_oss"),
        (),
    ),
    ("0.12.6", ("apertus", "lfm2moe"), ()),
    ("0.12.11", ("bailingmoe2", "clip"), ()),
    (
        "0.13.2",
        (
            "afmoe", "cogvlm", "minimax-m2", "pangu-embedded", "qwen3next", "qwen3vl",
            "qwen3vlmoe", "rnd1",
        ),
        (),
    ),
    ("0.13.3", ("mistral3",), ()),
    ("0.13.4", ("nemotron_h_moe",), ()),
)  # fmt: skip

OLLAMA_ENGINE: Changes = (
    ("0.6.0", ("gemma3",), ()),
    ("0.6.5", ("mistral3",), ()),
    ("0.6.7", ("llama4",), ()),
    ("0.7.0", ("mllama", "qwen25vl"), ()),
    ("0.9.3", ("gemma3n",), ()),
    ("0.11.0", ("gptoss",), ()),
    ("0.11.5", ("gpt-oss",), ()),
    ("0.12.0", ("qwen3",), ()),
    ("0.12.2", ("qwen3moe",), ()),
    ("0.12.5", (), ("qwen3",)),
    ("0.12.6", ("qwen3",), ()),
    ("0.12.7", ("qwen3vl", "qwen3vlmoe"), ()),
    ("0.13.0", ("deepseek2", "deepseekocr"), ()),
    ("0.13.1", ("nomic-bert",), ()),
    ("0.13.4", ("olmo3",), ()),
    ("0.13.5", ("bert",), ()),
    ("0.14.3", ("glm4moelite", "lfm2"), ()),
    ("0.15.5", ("glmocr", "qwen3next"), ()),
    ("0.17.1", ("lfm2moe", "nemotron_h", "nemotron_h_moe", "qwen35", "qwen35moe"), ()),
    ("0.20.0", ("gemma4",), ()),
    ("0.22.0", ("laguna", "nemotron_h_omni"), ()),
)

VENDOR_BUILDS: dict[str, dict[OllamaVersion, frozenset[str]]] = {
    # bigdl-core-cpp 2.6.0's llama.cpp (the legacy rig server) knows gemma3; upstream 0.5.4
    # does not.
    "ipexllm": {OllamaVersion(0, 5, 4): frozenset({"gemma3"})},
}
"""Names a vendor build adds, by the vendor's tag in the version's suffix and the release."""


def _sets(changes: Changes) -> list[tuple[OllamaVersion, frozenset[str]]]:
    """Each recorded release with its whole set, oldest first."""
    out: list[tuple[OllamaVersion, frozenset[str]]] = []
    current: frozenset[str] = frozenset()
    for release, added, removed in changes:
        current = (current | frozenset(added)) - frozenset(removed)
        out.append((OllamaVersion.parse(release), current))
    return out


_TABLES = (_sets(LLAMA_CPP), _sets(OLLAMA_ENGINE))


def _at(sets: list[tuple[OllamaVersion, frozenset[str]]], release: OllamaVersion) -> frozenset[str]:
    found: frozenset[str] = frozenset()
    for since, names in sets:
        if since > release:
            break
        found = names
    return found


def loadable_architectures(version: OllamaVersion) -> frozenset[str] | None:
    """Every architecture `version` loads, or None when modelpack has no record for it (then
    nothing may be refused)."""
    release = version.release
    if release.is_source_build or not RECORDED_FROM <= release < RECORDED_UNTIL:
        return None
    names = frozenset().union(*(_at(sets, release) for sets in _TABLES))
    for vendor, extra in VENDOR_BUILDS.items():
        if version.pre is not None and vendor in version.pre:
            names |= extra.get(release, frozenset())
    return names


def first_loading(architecture: str) -> OllamaVersion | None:
    """The first recorded release that loads `architecture`; None when none does."""
    releases = sorted({since for sets in _TABLES for since, _ in sets})
    for release in releases:
        names = loadable_architectures(release)
        if names is not None and architecture in names:
            return release
    return None
