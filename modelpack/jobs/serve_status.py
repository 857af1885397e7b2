"""`modelpack status PACKAGE --openai URL`: a package's serve block against a running server.

The server says which engine it is: llama-server answers `/props`, vLLM `/version`. The
package's block for that engine is rendered as `modelpack render` renders it (its argv,
`modelpack.core.serve.launch`) and compared (`modelpack.core.serve.drift`) with:

- what the server reports over HTTP (llama-server: /props, /slots; vLLM: /v1/models, /version,
  /metrics, /server_info where served);
- when the server runs on this machine, its real command line, found through the port it
  listens on (`modelpack.edge.process`), option by option against the rendered argv.

What cannot be read is said as a note, never guessed. The server is only read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from modelpack.core.gguf.reader import read_gguf
from modelpack.core.inputs import TEMPLATE_LIMIT, read_text
from modelpack.core.serve import llamacpp, vllm
from modelpack.core.serve.drift import (
    NOT_COMPARED,
    ServeDifference,
    ServerReport,
    compare_command_line,
    compare_llama,
    compare_vllm,
    declared_settings,
    llama_report,
    parse_command_line,
    vllm_report,
)
from modelpack.core.serve.launch import Launch, ServeRenderer
from modelpack.core.serve.spec import OWNED, ChatTemplateFile, LlamaServer
from modelpack.edge.load import on_this_machine
from modelpack.edge.openai_target import OpenAITarget
from modelpack.edge.process import ListeningProcess, process_on_port
from modelpack.edge.project import Project
from modelpack.errors import SetupError, UsageError

__all__ = ["ServeStatus", "probe", "serve_status"]

FindProcess = Callable[[int], ListeningProcess | str]


@dataclass(frozen=True)
class ServeStatus:
    package: str
    engine: str
    url: str
    version: str | None
    """The build or release the server reports."""
    differences: list[ServeDifference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    process: str | None = None
    """`pid N: argv`, when the command line was read."""
    declared: dict[str, str] = field(default_factory=dict)
    reported: dict[str, str] = field(default_factory=dict)

    @property
    def drift(self) -> bool:
        return bool(self.differences)

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "engine": self.engine,
            "url": self.url,
            "version": self.version,
            "drift": self.drift,
            "process": self.process,
            "declared": self.declared,
            "reported": self.reported,
            "differences": [d.to_json() for d in self.differences],
            "notes": self.notes,
        }


def probe(target: OpenAITarget) -> ServerReport:
    """Which engine serves at the target, and what it reports about itself."""
    props = target.get_json("/props")
    if isinstance(props, Mapping) and "default_generation_settings" in props:
        slots = target.get_json("/slots")
        return llama_report(props, slots if isinstance(slots, list) else None)
    version = target.get_json("/version")
    if isinstance(version, Mapping) and isinstance(version.get("version"), str):
        models = target.get_json("/v1/models")
        info = target.get_json("/server_info")
        return vllm_report(
            models if isinstance(models, Mapping) else None,
            version,
            target.get_text("/metrics"),
            info if isinstance(info, Mapping) else None,
        )
    raise SetupError(
        f"the server at {target.base_url} is neither llama-server (no /props) nor vLLM "
        "(no /version)",
        hint="give the URL of a llama-server or vLLM server (its root, or its /v1)",
    )


def serve_status(
    project: Project,
    target: OpenAITarget,
    package: str,
    *,
    find_process: FindProcess = process_on_port,
) -> ServeStatus:
    """Compare `package`'s serve block for the engine at `target` with that server."""
    spec = project.loaded.package(package)
    if not spec.serve:
        raise UsageError(
            f"package {package} declares no serve: block, so there is nothing to compare "
            f"with {target.base_url}",
            hint="add a serve: block (docs/serving.md), or drop --openai to compare with Ollama",
        )
    report = probe(target)
    block = next((b for b in spec.serve if b.engine == report.engine), None)
    if block is None:
        declared = ", ".join(b.engine for b in spec.serve)
        raise UsageError(
            f"the server at {target.base_url} is {report.engine}, but package {package} "
            f"serves on {declared} only",
            hint=f"add a serve: block with engine: {report.engine}, or point --openai at the "
            "declared engine",
        )
    launches = ServeRenderer(project.loaded, spec_dir=project.spec_dir).render_package(package)
    launch = next(item for item in launches if item.engine == block.engine)
    notes = list(report.notes)
    if isinstance(block, LlamaServer):
        differences = _llama(block, launch, report)
        version: Any = llamacpp.parse_build(block.version)
    else:
        differences = compare_vllm(block, report)
        version = vllm.parse_release(block.version)
    owned = OWNED[block.engine]
    reported = {
        owned.get(name, name): _short(value)
        for name, (value, _) in report.values.items()
        if name != "chat_template"
    }
    process = None
    found = _process(target.base_url, find_process)
    if isinstance(found, str):
        notes.append(f"command line not read: {found}")
    else:
        live = parse_command_line(found.argv, block.engine, version)
        for name, values in live.options.items():
            if name not in NOT_COMPARED:
                reported.setdefault(owned.get(name, name), ", ".join(v or "on" for v in values))
        if live.model is not None:
            reported.setdefault("model", live.model)
        differences += compare_command_line(
            block.engine,
            launch.argv,
            live,
            version=version,
            declared_dir=str(launch.path.parent),
            live_dir=found.cwd,
            files=list(launch.files),
        )
        process = f"pid {found.pid}: {' '.join(found.argv)}"
    return ServeStatus(
        package=package,
        engine=block.engine,
        url=target.base_url,
        version=report.version,
        differences=differences,
        notes=notes,
        process=process,
        declared=declared_settings(block),
        reported=reported,
    )


def _llama(block: LlamaServer, launch: Launch, report: ServerReport) -> list[ServeDifference]:
    gguf = launch.files[launch.options[0][1]]
    info = read_gguf(gguf)
    if isinstance(block.chat_template, ChatTemplateFile):
        file = launch.files[next(g[1] for g in launch.options if g[0] == "--chat-template-file")]
        template: str | None = read_text(file, limit=TEMPLATE_LIMIT, what="chat template")
    else:
        template = info.chat_template
    trained = info.arch_get("context_length")
    return compare_llama(
        block,
        report,
        model_file=gguf.name,
        chat_template=template,
        trained_context=trained if isinstance(trained, int) else None,
    )


def _process(url: str, find: FindProcess) -> ListeningProcess | str:
    if not on_this_machine(url):
        return "the server is not on this machine"
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return find(port)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
