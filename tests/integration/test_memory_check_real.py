"""Measured memory against the estimate, on the real Ollama 0.9.3 and 0.5.4 (CPU).

Each variant a build smoke-tests has `/api/ps` `size` and `size_vram` recorded in build.json next
to modelpack's estimate for that load, and so does each cell of a matrix run. On both servers
the estimate must be within 1% of `size` (measured: under 0.2%) for contexts 2048 to 8192, with
the parallel sequences each version really runs (2 on 0.9.3, 4 on 0.5.4). A num_ctx above the
trained context is estimated at what each version really runs: capped on 0.9.3, as asked on
0.5.4. A FROM that names a model cannot be judged before it loads; its measured size over the
budget fails it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from modelpack.cli.tables import build_table
from modelpack.core.package.spec import MemoryBudget
from modelpack.core.results.reports import to_json
from modelpack.core.versions import OllamaVersion
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.history import record_path
from modelpack.edge.project import Project, open_project
from modelpack.edge.server import OllamaServer
from modelpack.jobs.build import Builder
from modelpack.jobs.matrix import MatrixRunner
from modelpack.jobs.memory import ServerMemory

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: mem
    from: {gguf}
    chat_template: chatml
    parameters: {{temperature: 0, stop: ["<|im_end|>"]}}
    variants:
{variants}
    smoke:
      prompts: [{{prompt: "What is the capital of France?", expect: Paris, num_predict: 8}}]
      gpu: ignore
"""

SMOL_VARIANTS = """\
      - full
      - simple
      - {name: lightweight, parameters: {num_ctx: 2048}}
"""
CONTEXTS = {"full": 8192, "simple": 4096, "lightweight": 2048}
PARALLEL = {"current": 2, "legacy": 1}
"""What each rig server's runner really loads with (its logged `--parallel`): 0.9.3 the upstream
CPU default of 2; the rig's 0.5.4 (ipex-llm's build) 1, where upstream 0.5.4 would use 4."""
CLOSE = 0.01


def make_project(folder: Path, spec: str, files: dict[str, Path]) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).symlink_to(source)
    (folder / "modelpack.yaml").write_text(spec)
    return open_project(folder / "modelpack.yaml")


def builder(project: Project, client: OllamaClient, server: OllamaServer | None) -> Builder:
    cache = DigestCache(project.spec_dir / ".cache" / "digests.json")
    return Builder(project, client, cache=cache, server=server)


def test_every_variant_records_measured_memory_next_to_its_estimate(
    ollama_server: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    spec = SPEC.format(gguf=smollm2_path.name, variants=SMOL_VARIANTS)
    project = make_project(tmp_path, spec, {smollm2_path.name: smollm2_path})
    version = ollama_server.version or ""
    with OllamaClient(ollama_server.host) as client:
        record = builder(project, client, ollama_server).build("pkg")
        matrix = MatrixRunner(project, client, server=ollama_server).run(["pkg"])

    saved = json.loads(record_path(project, "pkg").read_text())
    for variant, data in zip(record.variants, saved["variants"], strict=True):
        memory = variant.memory
        assert memory is not None, variant
        print(f"{version} {variant.variant}: {memory.line()}")
        assert data["memory"]["size"] == memory.size > 0
        assert data["memory"]["estimated"] == memory.estimated
        assert memory.size_vram == 0  # the rig's servers run on the CPU
        assert memory.num_ctx == CONTEXTS[variant.variant]
        assert (memory.parallel, memory.parallel_from) == (
            PARALLEL[ollama_server.build.name],
            "server",
        )
        assert memory.deviation is not None and abs(memory.deviation) <= CLOSE
        assert not [w for w in variant.warnings if w.startswith("memory:")]
    _, notes = build_table(record)
    assert any(n.startswith("full: memory: measured ") and "estimated" in n for n in notes)

    # The matrix loads each variant again: the same figures, in every cell and in its JSON.
    by_variant = {v.variant: v.memory for v in record.variants}
    cells = json.loads(to_json(matrix))["cells"]
    assert {c["variant"] for c in cells} == set(CONTEXTS)
    for cell in matrix.cells:
        assert cell.memory is not None
        assert cell.memory.size == by_variant[cell.variant].size  # type: ignore[union-attr]
        assert cell.memory.parallel_from == "server"
    assert all(c["memory"]["estimated"] for c in cells)

    # Told the wrong parallel setting (as for a server modelpack does not manage, started with
    # another OLLAMA_NUM_PARALLEL), the same measurement is a warning naming the causes.
    full = next(v for v in record.variants if v.variant == "full")
    assert full.memory is not None
    parsed = OllamaVersion.parse(version)
    item = project.renderer(parsed).render_package("pkg", ["full"])[0]
    wrong = ServerMemory(parsed, parallel=2 * PARALLEL[ollama_server.build.name]).check(
        item, full.memory.size, full.memory.size_vram, None
    )
    assert wrong.failure is None
    [warning] = wrong.warnings
    assert "below the estimate" in warning and "a context other than the num_ctx 8192" in warning


def test_num_ctx_above_the_trained_context_is_estimated_as_each_version_runs_it(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    """A GGUF trained on 1024 tokens, asked for 4096: 0.9.3 caps it (and the build warns so),
    0.5.4 runs 4096; either way the estimate matches what the server reports."""
    path = tiny_gguf("short.gguf", n_layer=2, n_embd=256, n_head=4, context_length=1024)
    variants = "      - {name: long, template: simple, parameters: {num_ctx: 4096}}\n"
    project = make_project(
        tmp_path / "project", SPEC.format(gguf=path.name, variants=variants), {path.name: path}
    )
    version = ollama_server.version or ""
    with OllamaClient(ollama_server.host) as client:
        record = builder(project, client, ollama_server).build("pkg")
    [variant] = record.variants
    memory = variant.memory
    assert memory is not None, variant.reason
    print(f"{version}: {memory.line()}")
    assert memory.num_ctx == (1024 if version.startswith("0.9.3") else 4096)
    assert memory.deviation is not None and abs(memory.deviation) <= CLOSE
    runs = (
        "caps it and runs num_ctx 1024"
        if version.startswith("0.9.3")
        else "runs num_ctx 4096 as asked"
    )
    assert any(runs in w for w in variant.warnings), variant.warnings


def test_a_model_name_from_is_judged_by_its_measured_size_against_the_budget(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """FROM a model name: nothing to estimate before the load, so the build creates it; the
    measured size over the RAM budget then fails it."""
    base = make_project(
        tmp_path / "base",
        SPEC.format(gguf=smollm2_path.name, variants="      - lightweight\n"),
        {smollm2_path.name: smollm2_path},
    )
    with OllamaClient(ollama_current.host) as client:
        builder(base, client, ollama_current).build("pkg")
        derived = make_project(
            tmp_path / "derived",
            SPEC.format(gguf="mem:pkg-lightweight", variants="      - lightweight\n").replace(
                "model: mem", "model: memx"
            ),
            {},
        )
        budget = MemoryBudget(vram="0", ram="64MiB")
        record = builder(derived, client, ollama_current).build("pkg", budget=budget)
    [variant] = record.variants
    assert variant.verdict == "failed"
    assert variant.memory is not None and variant.memory.estimated is None
    assert (variant.reason or "").startswith("memory: measured ")
    assert "of RAM is over the budget's 64.00 MiB" in (variant.reason or "")
