"""A throwaway project on disk, built with the library's Builder: shared by the build tests."""

from __future__ import annotations

from pathlib import Path

from modelpack.core.results.record import BuildRecord
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.project import Project, open_project
from modelpack.edge.server import OllamaServer
from modelpack.jobs.build import Builder
from modelpack.jobs.events import Event

SMOKE = """\
    smoke:
      prompts: [{prompt: "What is the capital of France?", expect: Paris, num_predict: 24}]
      gpu: prefer
"""


def package(variants: str, *, name: str = "pkg") -> str:
    return f"""\
packages:
  {name}:
    model: smol
    from: smol.gguf
    chat_template: chatml
    parameters: {{temperature: 0, stop: ["<|im_end|>"]}}
    variants:
{variants}
{SMOKE}"""


def make_project(folder: Path, spec: str, files: dict[str, Path]) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in files.items():
        (folder / name).symlink_to(source)
    (folder / "modelpack.yaml").write_text(spec)
    return open_project(folder / "modelpack.yaml")


def build(
    project: Project, host: str, *, server: OllamaServer | None = None, force: bool = False
) -> tuple[BuildRecord, list[Event], DigestCache]:
    events: list[Event] = []
    cache = DigestCache(project.spec_dir / ".cache" / "digests.json")
    with OllamaClient(host) as client:
        builder = Builder(project, client, cache=cache, server=server, on_event=events.append)
        record = builder.build("pkg", force=force)
    return record, events, cache


def digest(host: str, tag: str) -> str | None:
    with OllamaClient(host) as client:
        return client.model_digest(tag)
