"""Serve a package on the llama-server its spec declares, and smoke-test it there.

`serve` and `matrix --engine llama-server` share this: the package's llama-server block is
rendered to its argv (`modelpack.core.serve.launch`, the same argv as `serve-llama-server.sh`),
the real server is started from it on loopback (`modelpack.edge.llama_server`), the model name
is read back from `/v1/models`, and the package's smoke prompts run against it through the
OpenAI-compatible target, judged as every other smoke run (`modelpack.jobs.matrix.run_openai`).
The server is stopped when the `served` block ends, however it ends.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from modelpack.core.results.matrix import Cell, MatrixResult
from modelpack.core.serve.launch import Launch, ServeRenderer
from modelpack.edge.clock import now
from modelpack.edge.llama_server import LlamaServerProcess, llamacpp_build
from modelpack.edge.openai_target import OpenAITarget
from modelpack.edge.project import Project
from modelpack.errors import ServerError, ServerStartError, UsageError
from modelpack.jobs.events import Event, EventKind, OnEvent, ignore
from modelpack.jobs.matrix import run_openai

__all__ = ["ENGINE", "Served", "llama_launch", "llama_packages", "run_llama_matrix", "served"]

ENGINE = "llama-server"
READY_TIMEOUT = 300.0
"""How long a model may take to load before the server counts as not starting."""


@dataclass
class Served:
    """A package's llama-server, up and healthy."""

    package: str
    launch: Launch
    server: LlamaServerProcess
    target: OpenAITarget
    model: str
    """The model id the server reports (what requests name)."""
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


def llama_packages(project: Project) -> list[str]:
    """The packages that declare a llama-server block, in declared order."""
    return [
        name
        for name, package in project.loaded.spec.packages.items()
        if any(block.engine == ENGINE for block in package.serve)
    ]


def llama_launch(project: Project, package: str) -> Launch:
    """The package's llama-server launch, rendered and checked as `render` does it."""
    project.loaded.package(package)
    renderer = ServeRenderer(project.loaded, spec_dir=project.spec_dir)
    for launch in renderer.render_package(package):
        if launch.engine == ENGINE:
            return launch
    raise UsageError(
        f"package {package} declares no llama-server serve block",
        hint="add `serve: {engine: llama-server, version: b11549}` to it in the spec",
    )


@contextlib.contextmanager
def served(
    project: Project,
    package: str,
    *,
    port: int | None = None,
    on_event: OnEvent = ignore,
) -> Iterator[Served]:
    """Start `package`'s llama-server on loopback, wait for its health, yield it, and stop it on
    the way out (an error, Ctrl-C and SIGTERM included). `port`: None for the block's own, 0 for
    a free one."""
    launch = llama_launch(project, package)
    if port is None:
        port = int(launch.argv[launch.argv.index("--port") + 1])
    notes = []
    installed = llamacpp_build()
    if installed is not None and installed != launch.version:
        notes.append(
            f"the block pins llama-server {launch.version}; this runs {installed} "
            "(the installed xllamacpp wheel)"
        )
    # The argv's relative paths start in the script's folder, as when the script runs.
    launch.path.parent.mkdir(parents=True, exist_ok=True)
    server = LlamaServerProcess(
        launch.argv,
        cwd=launch.path.parent,
        log_path=project.home / "run" / f"llama-server-{package}.log",
        port=port or None,
        ready_timeout=READY_TIMEOUT,
    )
    on_event(Event(EventKind.SERVE, package, f"starting llama-server for {package}"))
    with server, OpenAITarget(server.url) as target:
        models = target.models()
        if not models:
            raise ServerError(f"llama-server for {package} lists no model at {server.url}")
        yield Served(package, launch, server, target, models[0], notes)


def smoke(project: Project, serving: Served, *, prompts: Sequence[str] = ()) -> MatrixResult:
    """The package's smoke prompts against its running server, one cell per prompt."""
    result = run_openai(project, serving.target, serving.model, [serving.package], prompts=prompts)
    return _as_engine(result, serving.package)


def _as_engine(result: MatrixResult, package: str) -> MatrixResult:
    cells = [c.model_copy(update={"variant": ENGINE}) for c in result.cells if c.package == package]
    return result.model_copy(update={"cells": cells, "server_version": _server_version()})


def _server_version() -> str | None:
    build = llamacpp_build()
    return f"{ENGINE} {build}" if build else None


def run_llama_matrix(
    project: Project,
    packages: Sequence[str],
    *,
    prompts: Sequence[str] = (),
    repeat: int = 1,
    fail_fast: bool = False,
    on_event: OnEvent = ignore,
) -> MatrixResult:
    """Each package's smoke prompts on its own llama-server, started on a free port and stopped
    after it. A server that does not start turns that package's cells into errors with the
    reason (its output's last lines included); the other packages still run."""
    started, clock = now(), time.perf_counter()
    cells: list[Cell] = []
    hosts: list[str] = []
    for name in packages:
        try:
            with served(project, name, port=0, on_event=on_event) as serving:
                hosts.append(serving.url)
                for note in serving.notes:
                    on_event(Event(EventKind.SERVE, name, note))
                result = run_openai(
                    project, serving.target, serving.model, [name], prompts=prompts, repeat=repeat
                )
                new = _as_engine(result, name).cells
        except (ServerStartError, ServerError) as exc:
            reason = f"llama-server did not start: {exc.message}"
            package = project.loaded.package(name)
            new = [
                Cell(
                    package=name,
                    variant=ENGINE,
                    tag=ENGINE,
                    prompt=p.prompt,
                    expect=p.expect,
                    error=reason,
                )
                for p in package.smoke.prompts
                if not prompts or any(w in p.prompt for w in prompts)
            ]
        cells += new
        if fail_fast and any(not c.passed for c in new):
            break
    return MatrixResult(
        target="openai",
        server_version=_server_version(),
        host=", ".join(hosts) or ENGINE,
        started_at=started,
        finished_at=now(),
        wall_s=time.perf_counter() - clock,
        repeat=repeat,
        cells=cells,
    )
