"""The build: render, upload once, create each variant, smoke-test it, publish the stable tag.

Variants are tried in the declared order (the fallback chain). A variant fails on an error
from create, an HTTP 500 at load ("llama runner process has terminated"), the server going away
(a managed server is restarted on the same port and the build goes on; with an external one
the build stops), a timeout, or a failed smoke check. The stable tag `<model>:<package>` is
pointed at the first variant that passed, and only at the very end: if none passed, or the
build is interrupted before then, it is left exactly as it was.

Each created variant is pinned to its per-digest tag, which is what the smoke test loads and
what the stable tag is copied from (`modelpack.jobs.stable`), so the stable tag is exactly the
model that was tested. The package is locked for the whole build (`modelpack.edge.lock`), and
the record's folder must be writable before the server is touched.

Rebuilding with nothing changed does no uploads and no creates: a variant whose Modelfile,
GGUF digests and smoke settings match the last record, and whose tag still holds the recorded
model, keeps its recorded result (unless forced).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.core.gguf.memory import default_parallel, effective_num_ctx, fit
from modelpack.core.modelfile.request import plan_create
from modelpack.core.package.render import Rendered
from modelpack.core.package.spec import MemoryBudget, Smoke, memory_budget
from modelpack.core.package.tags import stable_tag, variant_tag
from modelpack.core.results.record import BuildRecord, PendingMove, VariantResult, Verdict
from modelpack.core.versions import OllamaVersion
from modelpack.edge.blobs import Blobs, DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import (
    check_writable,
    last_record,
    lock_path,
    save_record,
    write_build,
)
from modelpack.edge.lock import package_lock
from modelpack.edge.project import Project
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError, ServerGoneError
from modelpack.jobs.events import Event, EventKind, OnEvent, ignore
from modelpack.jobs.memory import ServerMemory
from modelpack.jobs.stable import commit_move, ensure_pin, pin, settle
from modelpack.jobs.template_gate import TemplateGate, gated

if TYPE_CHECKING:
    from modelpack.jobs.smoke import SmokeTester

__all__ = ["Builder", "does_not_fit"]


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def does_not_fit(
    item: Rendered, version: OllamaVersion, budget: MemoryBudget, smoke: Smoke
) -> str | None:
    """Why the variant cannot load within `budget`, from its GGUF header and parameters; None
    when it fits (or FROM names a model, whose file modelpack cannot read). A build and a dry
    run both judge a variant here."""
    if item.info is None:
        return None
    vram, ram = budget.bytes()
    requested = item.parameters.get("num_ctx")
    ctx = effective_num_ctx(
        version,
        requested=requested if isinstance(requested, int) else None,
        vram=vram,
        trained=item.info.context_length,
    )
    # A CPU runs the version's default parallel sequences; a GPU falls back to 1 if they do
    # not fit (server/sched.go), so 1 is what must fit there.
    parallel = 1 if vram else default_parallel(version)
    result = fit(item.info, ctx=ctx, kv_type=budget.kv_type, vram=vram, ram=ram, parallel=parallel)
    if not result.fits:
        return f"does not fit: {result.reason}"
    if vram and not result.full_offload and smoke.gpu == "require":
        return f"does not fit on the GPU (smoke.gpu is require): {result.reason}"
    return None


@dataclass(frozen=True)
class _Inputs:
    """What a variant is made from, for the unchanged check and the record."""

    modelfile_digest: str
    digests: dict[Path, str]
    """Each local file FROM and ADAPTER name -> its digest (what is uploaded)."""
    written: dict[str, str]
    """The same, by the value as the Modelfile writes it (what the record keeps)."""

    @property
    def gguf_digests(self) -> list[str]:
        return sorted(self.digests.values())


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
        on_event: OnEvent = ignore,
    ) -> None:
        self.project = project
        self.client = client
        self.blobs = Blobs(client, cache)
        self.server = server
        self.emit = on_event
        self.moving_stable = False
        """Set once the stable move has begun: an interrupt after it may have moved the tag."""
        self.started: str | None = None
        self.gate = TemplateGate(client, on_event=on_event)
        """The template gate (smoke.template, smoke.reference), shared with `matrix`."""
        self._listed: dict[str, str] | None = None
        """The server's models as the build found them, while the build has changed nothing
        there (no create, no smoke test); None once it has."""
        self._memory: ServerMemory | None = None
        self._budget: MemoryBudget | None = None

    @functools.cached_property
    def tester(self) -> SmokeTester:
        """Made for the first smoke test: a build that runs none (`--no-smoke`, nothing
        changed) never loads the judge."""
        from modelpack.jobs.smoke import SmokeTester

        log = self.server.log if self.server is not None else None
        return SmokeTester(self.client, on_event=self.emit, log=log)

    def render(self, package: str, version: OllamaVersion) -> list[Rendered]:
        """The variants as the target server's version gets them (rendered and linted)."""
        return self.project.renderer(version).render_package(package)

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
        self.project.loaded.package(package)
        with package_lock(lock_path(self.project, package), package=package, command="build"):
            check_writable(self.project, package)
            with self.gate:
                return self._build(package, force=force, smoke=smoke, budget=budget)

    def _build(
        self, package: str, *, force: bool, smoke: bool, budget: MemoryBudget | None
    ) -> BuildRecord:
        started = self.started = now()
        self.moving_stable = False
        spec = self.project.loaded.package(package)
        version = self.client.ollama_version()
        rendered = self.render(package, version)
        previous = last_record(self.project, package)
        if previous is not None:
            previous = settle(self.client, previous)
        smoke_key = _sha256(spec.smoke.model_dump_json())
        budget = budget or memory_budget(self.project.loaded.spec.ollama.memory)
        self._memory, self._budget = ServerMemory.of(version, self.server), budget
        on_server = self._listed = self.client.model_digests()
        results: list[VariantResult] = []
        for item in rendered:
            tag = variant_tag(spec.model, package, item.variant)
            too_big = does_not_fit(item, version, budget, spec.smoke) if budget else None
            if too_big is not None:
                results.append(
                    VariantResult(
                        variant=item.variant, tag=tag, verdict=Verdict.SKIPPED, reason=too_big
                    )
                )
                self._verdict(results[-1])
                continue
            inputs = self._inputs(item, smoke_key)
            try:
                last = previous.variant(item.variant) if previous else None
                if not force and _unchanged(last, inputs, on_server.get(tag)):
                    assert last is not None
                    result = self._kept(last, item, inputs, spec.smoke, version, smoke=smoke)
                else:
                    result = self._create(item, tag, version, inputs, spec.smoke, smoke=smoke)
            except ServerGoneError as exc:
                result = VariantResult(
                    variant=item.variant,
                    tag=tag,
                    verdict=Verdict.FAILED,
                    reason=f"server went away: {exc.message}",
                    modelfile=item.text,
                    file_digests=inputs.written,
                )
                results.append(result)
                self._verdict(result)
                if self.server is None:
                    self._finish(package, started, version, results, previous, reachable=False)
                    raise ServerGoneError(
                        f"the Ollama server at {self.client.base_url} went away while building "
                        f"{tag}; the stable tag was not changed",
                        hint="see the server's log; modelpack restarts only servers it manages",
                    ) from None
                self.emit(Event(EventKind.RESTART, item.variant, "restarting the managed server"))
                self.server.restart()
                continue
            results.append(result)
            self._verdict(result)
        return self._finish(package, started, version, results, previous, reachable=True)

    def after_interrupt(self, package: str, *, word: str = "interrupted") -> str:
        """What an interrupted build did to the stable tag, in one true sentence: read back
        from the record the stable move writes before and after it moves the tag. `word` is
        how it was stopped ("interrupted" by Ctrl-C, "terminated" by SIGTERM)."""
        if not self.moving_stable:
            return f"{word}: the stable tag was not changed"
        record = last_record(self.project, package)
        if record is None or record.started_at != self.started or record.pending is not None:
            return (
                f"{word} while moving the stable tag: "
                f"`modelpack status {package}` says where it points now"
            )
        if record.stable_variant is None:
            return f"{word}: the stable tag was not changed"
        return (
            f"{word} after {record.stable_tag} was pointed at {record.stable_variant}; "
            "the build record says so"
        )

    def _verdict(self, result: VariantResult) -> None:
        self.emit(
            Event(EventKind.VERDICT, result.variant, result.reason or "", verdict=result.verdict)
        )

    def _inputs(self, item: Rendered, smoke_key: str) -> _Inputs:
        """The digests of the files the variant's FROM and ADAPTER name (the render's declared
        files, hashed through the digest cache) and of its text with the smoke settings."""
        by_path: dict[Path, str] = {}
        for path in item.files.values():
            if path not in by_path:
                self.emit(Event(EventKind.HASH, item.variant, f"digest of {path.name}"))
                by_path[path] = self.blobs.cache.digest(path)
        written = {value: by_path[path] for value, path in item.files.items()}
        return _Inputs(_sha256(item.text + smoke_key), by_path, written)

    def _kept(
        self,
        last: VariantResult,
        item: Rendered,
        inputs: _Inputs,
        spec_smoke: Smoke,
        version: OllamaVersion,
        *,
        smoke: bool,
    ) -> VariantResult:
        """The tag already holds this model: keep its result, or judge it when the last
        build created it without a smoke test."""
        # The same text (its digest matched): recorded also when the last record lacks it.
        kept = last.model_copy(
            update={"created": False, "modelfile": item.text, "file_digests": inputs.written}
        )
        if not smoke or last.verdict != Verdict.SKIPPED:
            self.emit(Event(EventKind.CREATE, item.variant, f"{last.tag} unchanged, keeping it"))
            return kept
        assert last.model_digest is not None  # unchanged means the tag holds this digest
        pinned = ensure_pin(
            self.client, digest=last.model_digest, tag=last.tag, stable=self._stable(item)
        )
        return self._judge(item, kept, version, spec_smoke, pinned, smoke=True)

    def _create(
        self,
        item: Rendered,
        tag: str,
        version: OllamaVersion,
        inputs: _Inputs,
        spec_smoke: Smoke,
        *,
        smoke: bool,
    ) -> VariantResult:
        failed = VariantResult(
            variant=item.variant,
            tag=tag,
            verdict=Verdict.FAILED,
            modelfile_digest=inputs.modelfile_digest,
            gguf_digests=inputs.gguf_digests,
            modelfile=item.text,
            file_digests=inputs.written,
            warnings=list(item.warnings),
        )
        self._listed = None
        for path in inputs.digests:

            def progress(sent: int, total: int, name: str = path.name) -> None:
                self.emit(Event(EventKind.UPLOAD, item.variant, f"uploading {name}", sent, total))

            self.blobs.ensure(path, progress=progress)
        request = plan_create(
            item.modelfile, name=tag, files=item.files, digests=inputs.digests, version=version
        )
        try:
            for line in self.client.create_stream(request):
                status = line.get("status", "")
                self.emit(
                    Event(
                        EventKind.CREATE,
                        item.variant,
                        status,
                        line.get("completed"),
                        line.get("total"),
                    )
                )
        except ServerGoneError:
            raise
        except ServerError as exc:
            reason = f"create failed: {exc.server_message or exc.message}"
            return failed.model_copy(update={"reason": reason})
        digest, pinned = pin(self.client, tag=tag, stable=self._stable(item))
        created = failed.model_copy(update={"model_digest": digest, "created": True})
        return self._judge(item, created, version, spec_smoke, pinned, smoke=smoke)

    def _stable(self, item: Rendered) -> str:
        return stable_tag(self.project.loaded.package(item.package).model, item.package)

    def _smoke(
        self, result: VariantResult, smoke: Smoke, pinned: str, item: Rendered
    ) -> VariantResult:
        """Smoke-test the pinned copy: exactly the model that may become stable. The memory
        `/api/ps` reported for it is checked against the estimate and the budget."""
        from modelpack.jobs.smoke import with_smoke

        self._listed = None
        mark = self.server.log.position() if self.server is not None else None
        self.client.preload()  # the official client (for /api/ps) loads while the model does
        outcome = self.tester.run(pinned, smoke, subject=result.variant)
        if outcome.server_gone:
            raise ServerGoneError(outcome.reason or "the server went away")
        smoked = with_smoke(result, outcome)
        assert self._memory is not None  # set by _build
        log = self.server.log.since(mark) if self.server is not None and mark is not None else None
        memory = self._memory.check(item, outcome.size, outcome.size_vram, self._budget, log=log)
        update: dict[str, object] = {
            "memory": memory.check,
            "warnings": list(dict.fromkeys([*item.warnings, *smoked.warnings, *memory.warnings])),
        }
        if memory.failure is not None:
            reasons = [memory.failure] + ([smoked.reason] if smoked.reason else [])
            update |= {"verdict": Verdict.FAILED, "reason": "; ".join(reasons)}
        return smoked.model_copy(update=update)

    def _judge(
        self,
        item: Rendered,
        result: VariantResult,
        version: OllamaVersion,
        spec_smoke: Smoke,
        pinned: str,
        *,
        smoke: bool,
    ) -> VariantResult:
        """The template gate, then the smoke test (`template_gate.gated`)."""
        verdict = self.gate.check(
            result.tag,
            item,
            spec_smoke,
            version,
            subject=item.variant,
        )

        def judge(result: VariantResult) -> VariantResult:
            if not smoke:
                return result.model_copy(
                    update={"verdict": Verdict.SKIPPED, "reason": "smoke test skipped (--no-smoke)"}
                )
            return self._smoke(result, spec_smoke, pinned, item)

        return gated(result, verdict, judge)

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
        """Write the record and point the stable tag at the first passing variant (if the
        server is still there), as one transaction (`modelpack.jobs.stable.commit_move`): the
        record, as `build.json` and as a copy in the package's history
        (:func:`modelpack.edge.history.write_build`), always says where the tag points. An
        unreachable server is not asked anything: the record keeps the stable digest it had."""
        spec = self.project.loaded.package(package)
        stable = stable_tag(spec.model, package)
        winner = (
            next((r for r in results if r.verdict == Verdict.PASSED), None) if reachable else None
        )
        if not reachable:
            held = previous.stable_digest if previous else None
        elif self._listed is not None:  # a no-op build: the listing it began with is current
            held = self._listed.get(stable)
        else:
            held = self.client.model_digest(stable)
        record = BuildRecord(
            package=package,
            spec_digest=self.project.loaded.digest,
            ollama_version=str(version),
            host=self.client.base_url,
            started_at=started,
            finished_at=now(),
            variants=results,
            stable_tag=stable,
            stable_variant=None,
            stable_digest=held,
            history=list(previous.history) if previous else [],
            published=previous.published if previous else [],
        )

        def write_all(final: BuildRecord) -> None:
            write_build(self.project, package, final)

        if winner is None or winner.model_digest is None:
            write_all(record)
            return record
        recorded = record.history[-1].digest if record.history else None
        # Also when the tag already holds the winner but no record says a build put it there
        # (a first record, or a tag moved behind modelpack's back).
        if held == winner.model_digest and recorded == winner.model_digest:
            record = record.model_copy(update={"stable_variant": winner.variant})
            write_all(record)
            return record
        self.emit(Event(EventKind.STABLE, winner.variant, f"{stable} -> {winner.tag}"))
        self.moving_stable = True
        source = ensure_pin(self.client, digest=winner.model_digest, tag=winner.tag, stable=stable)
        move = PendingMove(
            tag=stable,
            variant=winner.variant,
            digest=winner.model_digest,
            source=source,
            previous=held,
            reason=f"build: first passing variant is {winner.variant}",
            at=now(),
        )
        return commit_move(
            self.client,
            record,
            move,
            write=lambda intent: save_record(self.project, package, intent),
            write_final=write_all,
        )


def _unchanged(last: VariantResult | None, inputs: _Inputs, on_server: str | None) -> bool:
    """Whether the tag still holds the model the last build made from these same inputs."""
    return (
        last is not None
        and last.modelfile_digest == inputs.modelfile_digest
        and last.gguf_digests == inputs.gguf_digests
        and last.model_digest is not None
        and last.model_digest == on_server
    )
