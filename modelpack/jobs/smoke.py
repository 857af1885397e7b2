"""The one smoke loop: load a model cold, run each prompt, measure it, judge it.

`build`, `promote`, `verify-pull` and `matrix` all test a model here, so a new smoke check is
written once. The loop unloads every model first (the load is then cold and measured alone),
runs each prompt `repeat` times, reads the model's size and GPU share from `/api/ps` while it is
loaded, measures a warm TTFT once, judges every answer (`modelpack.core.results.judge`) and
unloads the model. A server error, a timeout or the server going away ends the loop: the
prompts that ran keep their runs, the others carry the reason as their error. With a server
modelpack manages, that reason also carries the server log's own line for the failure (read
from where the log stood when the loop began, `modelpack.core.results.serverlog`); with any
other server it says where Ollama writes that log.

TTFT is measured on the client from the request to the first non-empty chunk (Ollama loads a
cold model before streaming, so a cold TTFT includes the load); load, prompt and decode
durations come from the server's counters in the final chunk. Generations use a fixed seed so
reruns are comparable.

With `smoke.think: false`, `think` is sent only to servers that take it (Ollama 0.9.0 on; older
ones ignore the field, and the run warns that the TEMPLATE alone must turn thinking off). Each
answer is then judged for thinking off (`modelpack.core.results.thinking`): the prompt, rendered
from the TEMPLATE the server stored as its version renders it, must end with an empty
`<think></think>` block, and neither the answer nor the `thinking` field may carry reasoning.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modelpack.core.chat import THINK_SINCE, render_go
from modelpack.core.package.spec import SMOKE_SEED, Smoke, SmokePrompt
from modelpack.core.results.judge import Measurement, judge
from modelpack.core.results.record import VariantResult, Verdict
from modelpack.core.results.runs import PromptRuns, Run
from modelpack.core.results.serverlog import explained
from modelpack.core.versions import OllamaVersion
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import ServerLog
from modelpack.errors import InputError, ServerError, ServerGoneError, ServerTimeout
from modelpack.jobs.events import Event, EventKind, OnEvent, ignore

__all__ = [
    "Probe",
    "Prober",
    "SmokeResult",
    "SmokeTester",
    "with_smoke",
    "with_warning",
]


@dataclass(frozen=True)
class Probe:
    """One generation: what `judge` needs, plus the client-side timings."""

    measurement: Measurement
    ttft_s: float | None
    total_s: float
    server_total_s: float | None


@dataclass(frozen=True)
class SmokeResult:
    """One model's smoke test."""

    prompts: list[PromptRuns]
    reason: str | None = None
    """Why the loop stopped early (load failed, timeout, server gone); None when every prompt
    ran (each may still have failed its judgement)."""
    server_gone: bool = False
    """The server went away: a managed one may be restarted, an external one ends the job."""
    gpu_fraction: float | None = None
    size: int | None = None
    size_vram: int | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """The judged failures, one line each, prefixed by their prompt."""
        return [f"{p.prompt!r}: {f}" for p in self.prompts for r in p.runs for f in r.failures]

    @property
    def passed(self) -> bool:
        return self.reason is None and all(p.passed for p in self.prompts)

    @property
    def failure(self) -> str | None:
        """The one-line reason it failed, or None when it passed."""
        if self.reason is not None:
            return self.reason
        return "; ".join(dict.fromkeys(self.failures)) or None


def with_smoke(result: VariantResult, smoke: SmokeResult) -> VariantResult:
    """A variant's result judged by its smoke test: passed or failed, with the reason."""
    return result.model_copy(
        update={
            "verdict": Verdict.PASSED if smoke.passed else Verdict.FAILED,
            "reason": smoke.failure,
            "prompts": smoke.prompts,
            "gpu_fraction": smoke.gpu_fraction,
            "warnings": smoke.warnings,
        }
    )


def with_warning(smoke: SmokeResult, warning: str) -> SmokeResult:
    """The smoke result with one more warning on every run (the template gate's, under warn)."""
    prompts = [
        p.model_copy(
            update={
                "runs": [r.model_copy(update={"warnings": [*r.warnings, warning]}) for r in p.runs]
            }
        )
        for p in smoke.prompts
    ]
    return replace(smoke, prompts=prompts, warnings=sorted({*smoke.warnings, warning}))


class Prober:
    """Single generations and `/api/ps` reads, for the loop (and benchmarks)."""

    def __init__(self, client: OllamaClient) -> None:
        self.client = client
        self._prompts: dict[tuple[str, str, str | None], str | None] = {}

    def thinks(self) -> bool:
        """Whether the server takes `think` (Ollama 0.9.0 on; older ones ignore the field)."""
        return OllamaVersion.parse(self.client.version()).release >= THINK_SINCE

    def prompt(self, tag: str, prompt: SmokePrompt, smoke: Smoke) -> str | None:
        """The prompt the server builds for `prompt`: the TEMPLATE, SYSTEM and MESSAGES it
        stored for `tag`, rendered as its version's template.Execute does (`render_go`, the
        renderer parity is checked with), with `think` as sent; None if it cannot be rendered."""
        key = (tag, prompt.prompt, prompt.system)
        if key not in self._prompts:
            show = self.client.show(tag)
            system = prompt.system or show.get("system") or None
            messages = [{"role": "system", "content": system}] if system else []
            messages += [
                {"role": str(m.get("role")), "content": str(m.get("content"))}
                for m in show.get("messages") or []
                if isinstance(m, dict)
            ]
            messages.append({"role": "user", "content": prompt.prompt})
            try:
                self._prompts[key] = render_go(
                    str(show.get("template") or "{{ .Prompt }}"),
                    messages,
                    version=OllamaVersion.parse(self.client.version()),
                    source=f"{tag}:TEMPLATE",
                    think=smoke.think if self.thinks() else None,
                )
            except InputError:
                self._prompts[key] = None
        return self._prompts[key]

    def unload_all(self) -> None:
        """Drop every loaded model, so the next load is cold and measured alone."""
        for loaded in self.client.running():
            self.unload(loaded["model"])

    def unload(self, tag: str) -> None:
        with contextlib.suppress(ServerError):
            self.client.unload(tag)

    def sizes(self, tag: str) -> tuple[int | None, int | None]:
        """(size, size_vram) of a loaded model, from /api/ps."""
        for loaded in self.client.running():
            if tag in (loaded.get("model"), loaded.get("name")):
                return loaded.get("size"), loaded.get("size_vram")
        return None, None

    def run(
        self, tag: str, prompt: SmokePrompt, smoke: Smoke, *, num_predict: int | None = None
    ) -> Probe:
        fields: dict[str, Any] = {}
        if prompt.system is not None:
            fields["system"] = prompt.system
        if smoke.think is not None and self.thinks():
            fields["think"] = smoke.think
        limit = num_predict or prompt.num_predict
        start = time.perf_counter()
        ttft: float | None = None
        text: list[str] = []
        thought: list[str] = []
        final: dict[str, Any] = {}
        stream = self.client.generate(
            tag,
            prompt.prompt,
            options={"num_predict": limit, "seed": SMOKE_SEED},
            timeout=smoke.timeouts.load + smoke.timeouts.first_token,
            **fields,
        )
        for chunk in stream:
            piece = chunk.get("response", "")
            if piece and ttft is None:
                ttft = time.perf_counter() - start
            text.append(piece)
            thought.append(chunk.get("thinking") or "")
            final = chunk
            if time.perf_counter() - start > smoke.timeouts.total:
                raise ServerTimeout(
                    f"{tag} did not finish within {smoke.timeouts.total:g} s",
                    hint="raise smoke.timeouts.total, or lower num_predict",
                )
        total = time.perf_counter() - start

        def seconds(key: str) -> float | None:
            value = final.get(key)
            return value / 1e9 if isinstance(value, int | float) else None

        measurement = Measurement(
            text="".join(text),
            done_reason=final.get("done_reason"),
            num_predict=limit,
            ttft_s=ttft,
            load_s=seconds("load_duration"),
            prompt_tokens=final.get("prompt_eval_count"),
            prompt_s=seconds("prompt_eval_duration"),
            eval_tokens=final.get("eval_count"),
            eval_s=seconds("eval_duration"),
            reasoning="".join(thought),
            rendered=self.prompt(tag, prompt, smoke) if smoke.think is False else None,
        )
        return Probe(measurement, ttft, total, seconds("total_duration"))


def _ms(seconds: float | None) -> float | None:
    return seconds * 1000 if seconds is not None else None


class SmokeTester:
    """Smoke-tests models on one server (the client is passed in). `log` is given only when
    modelpack manages the server, so its log can explain a failure."""

    def __init__(
        self, client: OllamaClient, *, on_event: OnEvent = ignore, log: ServerLog | None = None
    ) -> None:
        self.prober = Prober(client)
        self.emit = on_event
        self.log = log

    def run(
        self,
        tag: str,
        smoke: Smoke,
        prompts: Sequence[SmokePrompt] | None = None,
        *,
        repeat: int = 1,
        subject: str | None = None,
    ) -> SmokeResult:
        """Test `tag` on `prompts` (default: all of `smoke`'s), each `repeat` times."""
        chosen = list(smoke.prompts if prompts is None else prompts)
        done: list[PromptRuns] = []
        sizes: tuple[int | None, int | None] = (None, None)
        fraction: float | None = None
        warnings: list[str] = []
        reason: str | None = None
        gone = False
        mark = self.log.position() if self.log is not None else 0
        self.prober.unload_all()
        if smoke.think is False and not self.prober.thinks():
            warnings.append(
                f"Ollama {self.prober.client.version()} has no think switch (from "
                f"{THINK_SINCE}): the TEMPLATE alone must turn thinking off"
            )
        try:
            for index, prompt in enumerate(chosen):
                runs: list[Run] = []
                for attempt in range(repeat):
                    first = index == 0 and attempt == 0
                    counter = f" ({attempt + 1}/{repeat})" if repeat > 1 else ""
                    kind = EventKind.LOAD if first else EventKind.SMOKE
                    self.emit(Event(kind, subject, prompt.prompt + counter))
                    probe = self.prober.run(tag, prompt, smoke)
                    warm: float | None = None
                    if first:
                        # Read while the model is loaded; every answer is judged on it.
                        sizes = self.prober.sizes(tag)
                        warm = self.prober.run(tag, prompt, smoke, num_predict=1).ttft_s
                    measured = replace(probe.measurement, size=sizes[0], size_vram=sizes[1])
                    judgement = judge(
                        measured,
                        expect=prompt.expect,
                        gpu=smoke.gpu,
                        prompt=prompt.prompt,
                        think=smoke.think,
                    )
                    if first:
                        fraction = judgement.gpu_fraction
                    warnings += judgement.warnings
                    runs.append(
                        Run(
                            passed=judgement.passed,
                            answer=measured.text,
                            failures=list(judgement.failures),
                            warnings=list(judgement.warnings),
                            ttft_ms=_ms(probe.ttft_s),
                            ttft_warm_ms=_ms(warm),
                            load_s=measured.load_s,
                            prompt_tps=judgement.prompt_tps,
                            decode_tps=judgement.decode_tps,
                            total_s=probe.total_s,
                            server_total_s=probe.server_total_s,
                            eval_count=measured.eval_tokens,
                        )
                    )
                done.append(PromptRuns(prompt=prompt.prompt, expect=prompt.expect, runs=runs))
        except ServerGoneError as exc:
            reason, gone = f"server went away: {exc.message}", True
        except ServerTimeout as exc:
            reason = f"timeout: {exc.message}"
        except ServerError as exc:
            stage = "load failed: " if not done else ""
            reason = f"{stage}HTTP {exc.status_code}: {exc.server_message or exc.message}"
        finally:
            if not gone:
                self.prober.unload(tag)
        if reason is not None:
            reason = explained(reason, self.log.since(mark) if self.log is not None else None)
        not_run = [
            PromptRuns(prompt=p.prompt, expect=p.expect, error=reason) for p in chosen[len(done) :]
        ]
        return SmokeResult(
            prompts=done + not_run if reason else done,
            reason=reason,
            server_gone=gone,
            gpu_fraction=fraction,
            size=sizes[0],
            size_vram=sizes[1],
            warnings=sorted(set(warnings)),
        )
