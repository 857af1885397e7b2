"""Move a package's stable tag: after a build, by `promote`, and back by `rollback`.

Every stable target is also kept under an archive tag, `<model>:<package>.<digest12>`, so a
rollback restores an earlier model by copying a tag: no rebuild, and it works after the variant
tags were rebuilt from another source model (the 14B <-> 32B switch is a spec change plus
`build`; `rollback` undoes it in a second). Each move is a `StableChange` in the build record's
history, with its digest, time, reason and archive tag.

`rollback` goes to the target before the current one; rolling back twice returns to where you
were, like `cd -`. Both commands re-read the server: the stable tag's digest is what it holds
now, not what the record last said.
"""

from __future__ import annotations

from collections.abc import Callable

from modelpack.core.results.record import (
    BuildRecord,
    PendingMove,
    StableChange,
    VariantResult,
    Verdict,
)
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import lock_path, require_record, save_record
from modelpack.edge.lock import package_lock
from modelpack.edge.project import Project
from modelpack.errors import ModelpackError, UsageError
from modelpack.jobs.events import Event, EventKind
from modelpack.jobs.smoke import SmokeTester, with_smoke
from modelpack.jobs.stable import commit_move, ensure_pin, pin, settle
from modelpack.jobs.template_gate import TemplateGate, gated

__all__ = ["Lifecycle", "PromotionFailed"]


class PromotionFailed(ModelpackError):
    """The variant failed its template gate or smoke test; the stable tag was not moved."""

    exit_code = 1


class Lifecycle:
    """Promote and roll back one project's packages on one server (the client is passed in)."""

    def __init__(
        self,
        project: Project,
        client: OllamaClient,
        *,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.say = on_event or (lambda message: None)

    def promote(self, package: str, variant: str, *, verify: bool = True) -> BuildRecord:
        """Point the stable tag at `variant` after its smoke test passes (unless not `verify`)."""
        self.project.loaded.package(package)
        with package_lock(lock_path(self.project, package), package=package, command="promote"):
            return self._promote(package, variant, verify=verify)

    def rollback(self, package: str) -> BuildRecord:
        """Point the stable tag back at the target it had before the current one."""
        self.project.loaded.package(package)
        with package_lock(lock_path(self.project, package), package=package, command="rollback"):
            return self._rollback(package)

    def _record(self, package: str) -> BuildRecord:
        """The package's record, with an unconfirmed stable move resolved from the server."""
        record = require_record(self.project, package)
        settled = settle(self.client, record)
        if settled is not record:
            self._write(package, settled)
        return settled

    def _promote(self, package: str, variant: str, *, verify: bool) -> BuildRecord:
        self.project.loaded.package(package)
        record = self._record(package)
        result = record.variant(variant)
        if result is None:
            built = ", ".join(v.variant for v in record.variants)
            raise UsageError(
                f"{package} has no built variant {variant!r} (built: {built})",
                hint=f"run `modelpack build {package}` after adding it to the spec",
            )
        if self.client.model_digest(result.tag) is None:
            raise UsageError(
                f"{result.tag} is not on the server at {self.client.base_url}",
                hint=f"run `modelpack build {package}` to create it",
            )
        # What is tested and what becomes stable is the pinned copy of what the tag holds now.
        digest, pinned = pin(self.client, tag=result.tag, stable=record.stable_tag)
        result = result.model_copy(update={"model_digest": digest})
        if verify:
            result = self._verify(package, result, pinned)
            record = _with_variant(record, result)
            if result.verdict != Verdict.PASSED:
                self._write(package, record)
                raise PromotionFailed(
                    f"{result.tag} failed its smoke test: {result.reason}; "
                    f"{record.stable_tag} was not changed",
                    hint="fix the variant and build again, or pass --no-verify to force it",
                )
        record = self._move(
            record,
            variant=variant,
            digest=digest,
            source=pinned,
            reason="promote" + ("" if verify else " (--no-verify)"),
        )
        self.say(f"{record.stable_tag} -> {result.tag}")
        return record

    def _verify(self, package: str, result: VariantResult, pinned: str) -> VariantResult:
        """The checks a build makes before it moves the stable tag, on the pinned copy: the
        template gate (smoke.template, against the GGUF's own chat template as the spec
        renders the variant now), then the smoke test."""
        spec = self.project.loaded.package(package)
        version = self.client.ollama_version()
        item = self.project.rendered_variant(package, result.variant, version)
        with TemplateGate(self.client, on_event=self._parity) as gate:
            verdict = gate.check(
                pinned,
                item,
                spec.smoke,
                version,
                subject=result.variant,
            )

        def judge(result: VariantResult) -> VariantResult:
            self.say(f"smoke-testing {result.tag}")
            smoke = SmokeTester(self.client).run(pinned, spec.smoke, subject=result.variant)
            return with_smoke(result, smoke)

        return gated(result, verdict, judge)

    def _parity(self, event: Event) -> None:
        if event.kind is EventKind.PARITY:
            self.say(event.message)

    def _rollback(self, package: str) -> BuildRecord:
        record = self._record(package)
        current = self.client.model_digest(record.stable_tag)
        target = next((c for c in reversed(record.history) if c.digest != current), None)
        if target is None:
            raise UsageError(
                f"{record.stable_tag} has no earlier target to roll back to "
                f"({len(record.history)} stable change(s) recorded)",
                hint="roll back after a build or promote has moved it at least once",
            )
        source = ensure_pin(
            self.client,
            digest=target.digest,
            tag=self._holder(record, target),
            stable=record.stable_tag,
        )
        record = self._move(
            record,
            variant=target.variant,
            digest=target.digest,
            source=source,
            reason=f"rollback to {target.variant} of {target.at}",
        )
        self.say(f"{record.stable_tag} -> {target.variant} ({target.digest[:12]})")
        return record

    def _move(
        self, record: BuildRecord, *, variant: str, digest: str, source: str, reason: str
    ) -> BuildRecord:
        move = PendingMove(
            tag=record.stable_tag,
            variant=variant,
            digest=digest,
            source=source,
            previous=self.client.model_digest(record.stable_tag),
            reason=reason,
            at=now(),
        )
        return commit_move(
            self.client, record, move, write=lambda r: self._write(record.package, r)
        )

    def _holder(self, record: BuildRecord, target: StableChange) -> str:
        """A tag on the server that holds `target`'s model: its archive tag, else any tag."""
        digests = self.client.model_digests()
        candidates = [target.archive, *(v.tag for v in record.variants)]
        for tag in candidates:
            if tag and digests.get(tag) == target.digest:
                return tag
        raise UsageError(
            f"the earlier target of {record.stable_tag} ({target.variant}, "
            f"{target.digest[:12]}) is no longer on the server at {self.client.base_url}",
            hint=f"build it again: `modelpack build {record.package}`",
        )

    def _write(self, package: str, record: BuildRecord) -> None:
        save_record(self.project, package, record)


def _with_variant(record: BuildRecord, result: VariantResult) -> BuildRecord:
    variants = [result if v.variant == result.variant else v for v in record.variants]
    return record.model_copy(update={"variants": variants})
