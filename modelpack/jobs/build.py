"""The build: render, upload once, create each variant, smoke-test it, publish the stable tag.

Variants are tried in the declared order (the fallback chain). A variant fails on an error
from create, an HTTP 500 at load ("llama runner process has terminated"), the server going away
(a managed server is restarted on the same port and the build goes on; with an external one
the build stops), a timeout, or a failed smoke check. The stable tag `<model>:<package>` is
copied from the first variant that passed, and only at the very end: if none passed, or the
build is interrupted, it is left exactly as it was.

Rebuilding with nothing changed does no uploads and no creates: a variant whose Modelfile,
GGUF digests and smoke settings match the last record, and whose tag still holds the recorded
model, keeps its recorded result (unless forced).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from modelpack.core.chat import parity
from modelpack.core.gguf.memory import default_num_ctx, fit
from modelpack.core.gguf.reader import read_gguf
from modelpack.core.modelfile.request import local_file_refs, plan_create
from modelpack.core.modelfile.syntax import parse
from modelpack.core.package.render import Rendered
from modelpack.core.package.spec import MemoryBudget, Smoke
from modelpack.core.results.judge import judge
from modelpack.core.results.record import BuildRecord, PromptResult, VariantResult
from modelpack.core.versions import OllamaVersion
from modelpack.edge.blobs import Blobs, DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import last_record, record_path, write_build
from modelpack.edge.project import Project
from modelpack.edge.server import OllamaServer
from modelpack.errors import InputError, ServerError, ServerGoneError, ServerTimeout
from modelpack.jobs.lifecycle import move_stable
from modelpack.jobs.smoke import Prober

__all__ = ["Builder", "Event", "record_path"]


@dataclass(frozen=True)
class Event:
    """Progress for a display: what is happening to which variant."""

    kind: str  # render, hash, upload, create, load, smoke, verdict, restart, stable
    variant: str | None
    message: str
    done: int | None = None
    total: int | None = None


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class Builder:
    """Builds one package on one server. The client is passed in; `server` is given only when
    modelpack manages the server process (it may then restart it after a crash)."""

    def __init__(
        self,
        project: Project,
        client: OllamaClient,
        *,
        cache: DigestCache,
        server: OllamaServer | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.blobs = Blobs(client, cache)
        self.prober = Prober(client)
        self.server = server
        self.emit = on_event or (lambda event: None)

    # -- plan ----------------------------------------------------------------------------------

    def render(self, package: str, version: OllamaVersion) -> list[Rendered]:
        """The variants as the target server's version gets them (rendered and linted)."""
        return self.project.renderer(version).render_package(package)

    # -- build ---------------------------------------------------------------------------------

    def build(
        self,
        package: str,
        *,
        force: bool = False,
        smoke: bool = True,
        budget: MemoryBudget | None = None,
    ) -> BuildRecord:
        """Build every variant; `smoke=False` only creates them (verdict "skipped", and the
        stable tag does not move, since nothing was proven to work). With a memory `budget`
        (default: the spec's `ollama.memory`), a variant that cannot fit is skipped before
        anything is created for it."""
        started = now()
        spec = self.project.loaded.package(package)
        version = self.client.ollama_version()
        rendered = self.render(package, version)
        previous = last_record(self.project, package)
        smoke_key = _sha256(spec.smoke.model_dump_json())
        results: list[VariantResult] = []
        budget = self._budget(budget)
        for item in rendered:
            tag = f"{spec.model}:{package}-{item.variant}"
            too_big = self._does_not_fit(item, version, budget, spec.smoke) if budget else None
            if too_big is not None:
                results.append(
                    VariantResult(variant=item.variant, tag=tag, verdict="skipped", reason=too_big)
                )
                self.emit(Event("verdict", item.variant, f"skipped: {too_big}"))
                continue
            digests, written = self._hash(item)
            try:
                result = self._variant(
                    item,
                    tag,
                    version,
                    spec.smoke,
                    smoke_key,
                    previous,
                    digests=digests,
                    written=written,
                    force=force,
                    smoke=smoke,
                )
            except ServerGoneError as exc:
                result = VariantResult(
                    variant=item.variant,
                    tag=tag,
                    verdict="failed",
                    reason=f"server went away: {exc.message}",
                    modelfile=item.text,
                    file_digests=written,
                )
                results.append(result)
                self.emit(Event("verdict", item.variant, f"failed: {result.reason}"))
                if self.server is None:
                    self._finish(package, started, version, results, previous, reachable=False)
                    raise ServerGoneError(
                        f"the Ollama server at {self.client.base_url} went away while building "
                        f"{tag}; the stable tag was not changed",
                        hint="see the server's log; modelpack restarts only servers it manages",
                    ) from None
                self.emit(Event("restart", item.variant, "restarting the managed server"))
                self.server.restart()
                continue
            results.append(result)
            verdict = result.verdict if not result.reason else f"{result.verdict}: {result.reason}"
            self.emit(Event("verdict", item.variant, verdict))
        return self._finish(package, started, version, results, previous, reachable=True)

    def _budget(self, given: MemoryBudget | None) -> MemoryBudget | None:
        return given if given is not None else self.project.loaded.spec.ollama.memory

    def _does_not_fit(
        self, item: Rendered, version: OllamaVersion, budget: MemoryBudget, smoke: Smoke
    ) -> str | None:
        """Why the variant cannot load within `budget`, from its GGUF header and parameters;
        None when it fits (or FROM names a model, whose file modelpack cannot read)."""
        if item.source is None:
            return None
        vram, ram = budget.bytes()
        params = item.parameters
        ctx = params.get("num_ctx")
        num_ctx = ctx if isinstance(ctx, int) and ctx > 0 else default_num_ctx(version, vram)
        info = read_gguf(item.source)
        result = fit(info, ctx=num_ctx, kv_type=budget.kv_type, vram=vram, ram=ram)
        if not result.fits:
            return f"does not fit: {result.reason}"
        if vram and not result.full_offload and smoke.gpu == "require":
            return f"does not fit on the GPU (smoke.gpu is require): {result.reason}"
        return None

    def _hash(self, item: Rendered) -> tuple[dict[Path, str], dict[str, str]]:
        """The digests of the local files the variant's FROM and ADAPTER name: by path (to
        upload them) and by the value as the Modelfile writes it (for the record)."""
        refs = local_file_refs(parse(item.text), item.path.parent)
        digests: dict[Path, str] = {}
        for _, path in refs:
            if path not in digests:
                self.emit(Event("hash", item.variant, f"digest of {path.name}"))
                digests[path] = self.blobs.cache.digest(path)
        return digests, {value: digests[path] for value, path in refs}

    def _variant(
        self,
        item: Rendered,
        tag: str,
        version: OllamaVersion,
        spec_smoke: Smoke,
        smoke_key: str,
        previous: BuildRecord | None,
        *,
        digests: dict[Path, str],
        written: dict[str, str],
        force: bool,
        smoke: bool,
    ) -> VariantResult:
        base = item.path.parent
        modelfile_digest = _sha256(item.text + smoke_key)
        gguf_digest = ",".join(sorted(digests.values())) or None
        model_digest = self.client.model_digest(tag)

        last = previous.variant(item.variant) if previous else None
        unchanged = (
            not force
            and last is not None
            and last.modelfile_digest == modelfile_digest
            and last.gguf_digest == gguf_digest
            and last.model_digest is not None
            and last.model_digest == model_digest
        )
        if unchanged and last is not None:
            # The same text (its digest matched): recorded also when the last record lacks it.
            kept = last.model_copy(
                update={"created": False, "modelfile": item.text, "file_digests": written}
            )
            if not smoke or last.verdict != "skipped":
                self.emit(Event("create", item.variant, f"{tag} unchanged, keeping its result"))
                return kept
            # Created earlier without a smoke test: test the model that is there.
            return self.smoke_test(kept, spec_smoke)

        base_result = VariantResult(
            variant=item.variant,
            tag=tag,
            verdict="failed",
            modelfile_digest=modelfile_digest,
            gguf_digest=gguf_digest,
            modelfile=item.text,
            file_digests=written,
        )
        for path in digests:

            def progress(sent: int, total: int, name: str = path.name) -> None:
                self.emit(Event("upload", item.variant, f"uploading {name}", sent, total))

            self.blobs.ensure(path, progress=progress)
        plan = plan_create(item.text, name=tag, base=base, digests=digests, version=version)
        try:
            for line in self.client.create_stream(plan.body):
                status = line.get("status", "")
                self.emit(
                    Event("create", item.variant, status, line.get("completed"), line.get("total"))
                )
        except ServerGoneError:
            raise
        except ServerError as exc:
            return base_result.model_copy(
                update={"reason": f"create failed: {exc.server_message or exc.message}"}
            )
        model_digest = self.client.model_digest(tag)
        created = self._parity(
            item,
            base_result.model_copy(update={"model_digest": model_digest, "created": True}),
            version,
        )
        if not smoke:
            return created.model_copy(
                update={"verdict": "skipped", "reason": "smoke test skipped (--no-smoke)"}
            )
        return self.smoke_test(created, spec_smoke)

    def _parity(
        self, item: Rendered, result: VariantResult, version: OllamaVersion
    ) -> VariantResult:
        """The tokenizer-and-template check: the TEMPLATE the server stored against the GGUF's
        own chat template, on the probe conversation. A difference is reported, not a failure:
        a hand-written TEMPLATE may differ on purpose; the smoke test judges."""
        reference = item.chat_reference
        if reference is None:
            return result
        template = self.client.show(result.tag).get("template") or ""
        try:
            check = parity(
                template,
                reference.template,
                bos_token=reference.bos_token,
                eos_token=reference.eos_token,
                version=version,
            )
        except InputError as exc:
            return result.model_copy(
                update={"template_difference": f"template parity not checked: {exc.message}"}
            )
        self.emit(Event("parity", item.variant, check.message()))
        return result.model_copy(
            update={
                "template_parity": check.identical,
                "template_difference": None if check.identical else check.message(),
            }
        )

    # -- smoke ---------------------------------------------------------------------------------

    def smoke_test(self, result: VariantResult, smoke: Smoke) -> VariantResult:
        """Run the smoke prompts on `result.tag` (cold load first) and return it judged."""
        tag = result.tag
        self.prober.unload_all()
        prompts: list[PromptResult] = []
        gpu_fraction: float | None = None
        warnings: list[str] = []
        sizes: tuple[int | None, int | None] = (None, None)
        try:
            for index, prompt in enumerate(smoke.prompts):
                self.emit(Event("load" if index == 0 else "smoke", result.variant, prompt.prompt))
                probe = self.prober.run(tag, prompt, smoke)
                ttft_cold, total_s = probe.ttft_s, probe.total_s
                warm_ms = None
                if index == 0:
                    # Read once while the model is loaded; every prompt is judged on it.
                    sizes = self.prober.sizes(tag)
                    warm = self.prober.run(tag, prompt, smoke, num_predict=1).ttft_s
                    warm_ms = warm * 1000 if warm is not None else None
                measurement = replace(probe.measurement, size=sizes[0], size_vram=sizes[1])
                verdict = judge(measurement, expect=prompt.expect, gpu=smoke.gpu)
                if index == 0:
                    gpu_fraction = verdict.gpu_fraction
                warnings += verdict.warnings
                prompts.append(
                    PromptResult(
                        prompt=prompt.prompt,
                        passed=verdict.passed,
                        answer=measurement.text,
                        failures=list(verdict.failures),
                        warnings=list(verdict.warnings),
                        load_s=measurement.load_s,
                        ttft_cold_ms=ttft_cold * 1000 if ttft_cold is not None else None,
                        ttft_warm_ms=warm_ms,
                        prompt_tps=verdict.prompt_tps,
                        decode_tps=verdict.decode_tps,
                        eval_count=measurement.eval_tokens,
                        total_s=total_s,
                    )
                )
        except ServerGoneError:
            raise
        except ServerTimeout as exc:
            return result.model_copy(
                update={"reason": f"timeout: {exc.message}", "prompts": prompts}
            )
        except ServerError as exc:
            reason = f"load failed: HTTP {exc.status_code}: {exc.server_message or exc.message}"
            return result.model_copy(update={"reason": reason, "prompts": prompts})
        finally:
            self.prober.unload(tag)
        failures = [f"{p.prompt!r}: {f}" for p in prompts for f in p.failures]
        return result.model_copy(
            update={
                "verdict": "failed" if failures else "passed",
                "reason": "; ".join(failures) or None,
                "prompts": prompts,
                "gpu_fraction": gpu_fraction,
                "warnings": sorted(set(warnings)),
            }
        )

    # -- finish --------------------------------------------------------------------------------

    def _finish(
        self,
        package: str,
        started: str,
        version: OllamaVersion,
        results: list[VariantResult],
        previous: BuildRecord | None,
        *,
        reachable: bool,
    ) -> BuildRecord:
        """Move the stable tag to the first passing variant (if the server is still there)
        and write the record, as `build.json` and as a copy in the package's build history
        (:func:`modelpack.edge.history.write_build`). An unreachable server is not asked
        anything: the record then keeps the stable digest it had."""
        spec = self.project.loaded.package(package)
        stable_tag = f"{spec.model}:{package}"
        winner = next((r for r in results if r.verdict == "passed"), None) if reachable else None
        history = list(previous.history) if previous else []
        stable_variant = previous.stable_variant if previous else None
        stable_digest = (
            self.client.model_digest(stable_tag)
            if reachable
            else (previous.stable_digest if previous else None)
        )
        if winner is not None and winner.model_digest is not None:
            recorded = history[-1].digest if history else None
            # Also when the tag already holds the winner but no record says a build put it
            # there (a first record, or a tag moved behind modelpack's back).
            if stable_digest != winner.model_digest or recorded != winner.model_digest:
                self.emit(Event("stable", winner.variant, f"{stable_tag} -> {winner.tag}"))
                change = move_stable(
                    self.client,
                    source=winner.tag,
                    stable_tag=stable_tag,
                    variant=winner.variant,
                    reason=f"build: first passing variant is {winner.variant}",
                )
                stable_digest = change.digest
                history.append(change)
            stable_variant = winner.variant
        record = BuildRecord(
            package=package,
            spec_digest=_sha256(Path(self.project.spec_path).read_text(encoding="utf-8")),
            ollama_version=str(version),
            host=self.client.base_url,
            started_at=started,
            finished_at=now(),
            variants=results,
            stable_tag=stable_tag,
            stable_variant=stable_variant if winner is not None else None,
            stable_digest=stable_digest,
            history=history,
            published=previous.published if previous else [],
        )
        write_build(self.project, package, record)
        return record
