"""Run the smoke-test matrix: packages x variants x prompts, repeated, against existing tags.

Each variant is loaded once (cold, after unloading everything else), runs all its prompts
`repeat` times, and is unloaded before the next, so load times, memory and offload figures
belong to that variant alone and runs do not interfere (the smoke loop is the build's own,
`modelpack.jobs.smoke`). Each variant first goes through the build's template gate
(`modelpack.jobs.template_gate`). A variant whose tag is missing, that the gate fails
(smoke.template: require), or that fails to load, turns all its
cells into errors with the reason; the matrix goes on (unless fail-fast), so one broken variant
never hides the state of the others. Each cell also records how contended this machine's CPU
was while its variant ran, when the server runs here (`modelpack.edge.load`): a baseline
comparison does not judge timing measured under contention.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from modelpack.core.modelfile.drift import format_value
from modelpack.core.package.render import Rendered
from modelpack.core.package.spec import Package, SmokePrompt, memory_budget
from modelpack.core.package.tags import variant_tag
from modelpack.core.results.matrix import Cell, MatrixResult, TargetConfig
from modelpack.core.results.shard import Shard
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.load import CpuPressure, on_this_machine
from modelpack.edge.openai_target import OpenAITarget
from modelpack.edge.project import Project
from modelpack.edge.server import OllamaServer, ServerLog
from modelpack.errors import ModelpackError, ServerError, UsageError
from modelpack.jobs.events import OnEvent, ignore
from modelpack.jobs.memory import ServerMemory
from modelpack.jobs.smoke import SmokeTester, with_warning
from modelpack.jobs.template_gate import TemplateGate

__all__ = ["MatrixRunner", "run_openai", "select"]


def select(
    names: Sequence[str], wanted: Sequence[str], what: str, *, contains: bool = False
) -> list[str]:
    """The names a filter keeps, in declared order; a filter that keeps nothing is an error."""
    if not wanted:
        return list(names)
    kept = [n for n in names if any((w in n) if contains else (w == n) for w in wanted)]
    if not kept:
        raise UsageError(
            f"no {what} matches {', '.join(map(repr, wanted))}",
            hint=f"{what}s here: {', '.join(map(repr, names))}",
        )
    return kept


class MatrixRunner:
    """Runs the matrix on one server; `server` (or just its `log`) is given when modelpack
    manages it."""

    def __init__(
        self,
        project: Project,
        client: OllamaClient,
        *,
        on_event: OnEvent = ignore,
        log: ServerLog | None = None,
        server: OllamaServer | None = None,
    ) -> None:
        self.project = project
        self.client = client
        if log is None and server is not None:
            log = server.log
        self.tester = SmokeTester(client, on_event=on_event, log=log)
        self.gate = TemplateGate(client, on_event=on_event)
        """The build's template gate: a variant it fails is not smoke-tested here either."""
        self.local = on_this_machine(client.base_url)
        self.server = server
        self._memory: ServerMemory | None = None
        self._targets: list[TargetConfig] = []
        self._renders: dict[str, dict[str, Rendered]] = {}
        self._render_errors: dict[str, str] = {}

    def run(
        self,
        packages: Sequence[str],
        *,
        variants: Sequence[str] = (),
        prompts: Sequence[str] = (),
        repeat: int = 1,
        fail_fast: bool = False,
        shard: Shard | None = None,
    ) -> MatrixResult:
        """The matrix, or with `shard` its share of the cells (`modelpack.core.results.shard`)."""
        started, clock = now(), time.perf_counter()
        plan: list[tuple[str, Package, str, SmokePrompt]] = []
        for name in packages:
            package = self.project.loaded.package(name)
            chosen = select([v.name for v in package.variants], variants, "variant")
            texts = select(
                [p.prompt for p in package.smoke.prompts], prompts, "prompt", contains=True
            )
            kept = [p for p in package.smoke.prompts if p.prompt in texts]
            plan += [(name, package, variant, prompt) for variant in chosen for prompt in kept]
        mine = shard.take(plan) if shard else plan
        # The shard's cells, variant by variant: each variant is loaded once for its prompts.
        groups: dict[tuple[str, str], tuple[Package, list[SmokePrompt]]] = {}
        for name, package, variant, prompt in mine:
            groups.setdefault((name, variant), (package, []))[1].append(prompt)
        info = shard.info(len(plan)) if shard else None
        version = self.client.version()
        cells: list[Cell] = []
        self._targets = []
        self._renders = {}
        self._render_errors = {}
        digests = self.client.model_digests() if groups else {}
        self._memory = ServerMemory.of(self.client.ollama_version(), self.server)
        with self.gate:
            for (name, variant), (package, chosen_prompts) in groups.items():
                new = self._variant(name, package, variant, chosen_prompts, repeat, digests)
                self._target(name, variant, new[0].tag if new else None, digests)
                cells += [
                    c.model_copy(update={"host": self.client.base_url, "server_version": version})
                    for c in new
                ]
                if fail_fast and any(not c.passed for c in new):
                    break
        return MatrixResult(
            target="ollama",
            server_version=version,
            host=self.client.base_url,
            started_at=started,
            finished_at=now(),
            wall_s=time.perf_counter() - clock,
            repeat=repeat,
            shard=info,
            cells=cells,
            targets=list(self._targets),
        )

    def _target(
        self,
        package: str,
        variant: str,
        tag: str | None,
        digests: dict[str, str],
    ) -> None:
        from modelpack.jobs.status import live_state

        if tag is None:
            return
        reported: dict[str, str] = {}
        if tag in digests:
            live = live_state(self.client, tag, self.client.ollama_version())
            if live is not None:
                reported = {k: format_value(v) for k, v in live.parameters.items()}
                reported["digest"] = digests[tag][:12]
        self._targets.append(
            TargetConfig(
                package=package,
                tag=tag,
                engine="ollama",
                version=self.client.version(),
                declared=self._declared(package, variant),
                reported=reported,
            )
        )

    def _variant(
        self,
        name: str,
        package: Package,
        variant: str,
        prompts: list[SmokePrompt],
        repeat: int,
        digests: dict[str, str],
    ) -> list[Cell]:
        tag = variant_tag(package.model, name, variant)
        item = self._rendered(name, variant)
        verdict = None
        refused: str | None = None  # why no prompt runs: no tag, no rendering, or the gate
        if tag not in digests:
            refused = f"{tag} does not exist: run `modelpack build {name}` first (or pass --build)"
        elif item is None:
            why = self._render_errors.get(name, f"no variant {variant!r}")
            refused = f"the spec does not render {name}:{variant}: {why}"
        else:
            verdict = self.gate.check(
                tag,
                item,
                package.smoke,
                self.client.ollama_version(),
                subject=variant,
            )
            refused = verdict.failure
        if refused is not None:
            return [
                Cell(
                    package=name,
                    variant=variant,
                    tag=tag,
                    prompt=p.prompt,
                    expect=p.expect,
                    error=refused,
                )
                for p in prompts
            ]
        pressure = CpuPressure() if self.local else None
        mark = self.server.log.position() if self.server is not None else None
        outcome = self.tester.run(tag, package.smoke, prompts, repeat=repeat, subject=variant)
        contended = pressure.share() if pressure else None
        if verdict is not None and verdict.warning is not None:
            outcome = with_warning(outcome, verdict.warning)
        assert self._memory is not None  # set by run
        budget = memory_budget(self.project.loaded.spec.ollama.memory)
        log = self.server.log.since(mark) if self.server is not None and mark is not None else None
        memory = self._memory.check(item, outcome.size, outcome.size_vram, budget, log=log)
        cells = [
            Cell(
                package=name,
                variant=variant,
                tag=tag,
                gpu_fraction=outcome.gpu_fraction,
                memory=memory.check,
                cpu_pressure=contended,
                **row.model_dump(),
            )
            for row in outcome.prompts
        ]
        if memory.failure is not None:  # over the declared budget: every cell fails with it
            cells = [
                c.model_copy(update={"error": "; ".join(filter(None, [memory.failure, c.error]))})
                for c in cells
            ]
        return cells

    def _rendered(self, package: str, variant: str) -> Rendered | None:
        """The variant as this server's version renders it (for its GGUF header, the memory
        estimate, and its parameters, the declared config), each package rendered once; None
        when the spec no longer renders (the cells say what is wrong; these are context)."""
        if package not in self._renders:
            try:
                renderer = self.project.renderer(self.client.ollama_version())
                items = renderer.render_package(package)
            except ModelpackError as exc:
                self._render_errors[package] = str(exc)
                items = []
            self._renders[package] = {item.variant: item for item in items}
        return self._renders[package].get(variant)

    def _declared(self, package: str, variant: str) -> dict[str, str]:
        """The variant's parameters as the spec renders them for the server's version."""
        item = self._rendered(package, variant)
        parameters = item.parameters if item is not None else {}
        return {key: format_value(value) for key, value in parameters.items()}


def run_openai(
    project: Project,
    target: OpenAITarget,
    model: str,
    packages: Sequence[str],
    *,
    prompts: Sequence[str] = (),
    repeat: int = 1,
) -> MatrixResult:
    """The packages' smoke prompts against an OpenAI-compatible server serving `model`.

    There are no variants there, so each prompt is one cell of variant "openai". Temperature
    0 is sent: servers differ in their default sampling, and a smoke answer must not. A prompt
    without its own `system` gets the package's, which an Ollama variant has as its SYSTEM.
    """
    started, clock = now(), time.perf_counter()
    cells: list[Cell] = []
    targets: list[TargetConfig] = []
    for name in packages:
        package = project.loaded.package(name)
        targets.append(openai_target_config(project, target, name, model))
        texts = select([p.prompt for p in package.smoke.prompts], prompts, "prompt", contains=True)
        for prompt in (p for p in package.smoke.prompts if p.prompt in texts):
            cell = Cell(
                package=name,
                variant="openai",
                tag=model,
                prompt=prompt.prompt,
                expect=prompt.expect,
            )
            pressure = CpuPressure() if on_this_machine(target.base_url) else None
            try:
                runs = [
                    target.run(
                        model,
                        prompt.prompt,
                        system=package.system if prompt.system is None else prompt.system,
                        max_tokens=prompt.num_predict,
                        expect=prompt.expect,
                        thinking=package.smoke.think,
                        temperature=0,
                    )
                    for _ in range(repeat)
                ]
                contended = pressure.share() if pressure else None
                cells.append(cell.model_copy(update={"runs": runs, "cpu_pressure": contended}))
            except ServerError as exc:
                reason = exc.server_message or exc.message
                cells.append(cell.model_copy(update={"error": reason}))
    return MatrixResult(
        target="openai",
        host=target.base_url,
        started_at=started,
        finished_at=now(),
        wall_s=time.perf_counter() - clock,
        repeat=repeat,
        cells=cells,
        targets=targets,
    )


def openai_target_config(
    project: Project, target: OpenAITarget, package: str, model: str
) -> TargetConfig:
    """What serves `model` at the target: the engine and version it reports, the package's
    serve block for that engine, and the settings the server reported (its command line too,
    when it runs here). A server that is neither llama-server nor vLLM is recorded as
    `openai` with nothing more."""
    from modelpack.jobs.serve_status import probe, serve_status

    spec = project.loaded.package(package)
    try:
        report = probe(target)
    except ModelpackError:
        return TargetConfig(package=package, tag=model, engine="openai")
    if any(block.engine == report.engine for block in spec.serve):
        try:
            status = serve_status(project, target, package)
        except ModelpackError:
            pass
        else:
            return TargetConfig(
                package=package,
                tag=model,
                engine=status.engine,
                version=status.version,
                declared=status.declared,
                reported=status.reported,
            )
    reported = {name: str(value) for name, (value, _) in report.values.items()}
    return TargetConfig(
        package=package,
        tag=model,
        engine=report.engine,
        version=report.version,
        reported=reported,
    )
