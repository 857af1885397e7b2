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

from modelpack.core.package.render import Rendered
from modelpack.core.package.spec import Package, SmokePrompt
from modelpack.core.package.tags import variant_tag
from modelpack.core.results.matrix import Cell, MatrixResult
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.load import CpuPressure, on_this_machine
from modelpack.edge.openai_target import OpenAITarget
from modelpack.edge.project import Project
from modelpack.edge.server import ServerLog
from modelpack.errors import ServerError, UsageError
from modelpack.jobs.events import OnEvent, ignore
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
    """Runs the matrix on one server; `log` is the server's log when modelpack manages it."""

    def __init__(
        self,
        project: Project,
        client: OllamaClient,
        *,
        on_event: OnEvent = ignore,
        log: ServerLog | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.tester = SmokeTester(client, on_event=on_event, log=log)
        self.gate = TemplateGate(client, on_event=on_event)
        """The build's template gate: a variant it fails is not smoke-tested here either."""
        self.local = on_this_machine(client.base_url)

    def run(
        self,
        packages: Sequence[str],
        *,
        variants: Sequence[str] = (),
        prompts: Sequence[str] = (),
        repeat: int = 1,
        fail_fast: bool = False,
    ) -> MatrixResult:
        started, clock = now(), time.perf_counter()
        plan = []
        for name in packages:
            package = self.project.loaded.package(name)
            chosen = select([v.name for v in package.variants], variants, "variant")
            texts = select(
                [p.prompt for p in package.smoke.prompts], prompts, "prompt", contains=True
            )
            plan.append(
                (name, package, chosen, [p for p in package.smoke.prompts if p.prompt in texts])
            )
        cells: list[Cell] = []
        digests = self.client.model_digests()
        renderer = self.project.renderer(self.client.ollama_version())
        with self.gate:
            for name, package, chosen, chosen_prompts in plan:
                rendered = renderer.render_package(name, chosen)
                for item in rendered:
                    new = self._variant(name, package, item, chosen_prompts, repeat, digests)
                    cells += new
                    if fail_fast and any(not c.passed for c in new):
                        return self._result(started, clock, repeat, cells)
        return self._result(started, clock, repeat, cells)

    def _result(self, started: str, clock: float, repeat: int, cells: list[Cell]) -> MatrixResult:
        return MatrixResult(
            target="ollama",
            server_version=self.client.version(),
            host=self.client.base_url,
            started_at=started,
            finished_at=now(),
            wall_s=time.perf_counter() - clock,
            repeat=repeat,
            cells=cells,
        )

    def _variant(
        self,
        name: str,
        package: Package,
        item: Rendered,
        prompts: list[SmokePrompt],
        repeat: int,
        digests: dict[str, str],
    ) -> list[Cell]:
        variant = item.variant
        tag = variant_tag(package.model, name, variant)
        refused: str | None = None  # why no prompt runs: no tag, or the template gate failed it
        if tag not in digests:
            refused = f"{tag} does not exist: run `modelpack build {name}` first (or pass --build)"
        else:
            verdict = self.gate.check(
                tag,
                item.chat_reference,
                package.smoke,
                self.client.ollama_version(),
                gguf=item.source,
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
        outcome = self.tester.run(tag, package.smoke, prompts, repeat=repeat, subject=variant)
        contended = pressure.share() if pressure else None
        if verdict.warning is not None:
            outcome = with_warning(outcome, verdict.warning)
        return [
            Cell(
                package=name,
                variant=variant,
                tag=tag,
                gpu_fraction=outcome.gpu_fraction,
                cpu_pressure=contended,
                **row.model_dump(),
            )
            for row in outcome.prompts
        ]


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
    0 is sent: servers differ in their default sampling, and a smoke answer must not.
    """
    started, clock = now(), time.perf_counter()
    cells: list[Cell] = []
    for name in packages:
        package = project.loaded.package(name)
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
                        system=prompt.system,
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
    )
