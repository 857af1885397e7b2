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

from modelpack.core.results.record import BuildRecord, StableChange, VariantResult
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import read_record_file, record_path, save_record
from modelpack.edge.project import Project
from modelpack.errors import ModelpackError, UsageError

__all__ = [
    "Lifecycle",
    "PromotionFailed",
    "archive_tag",
    "move_stable",
    "read_record",
]


class PromotionFailed(ModelpackError):
    """The variant failed its smoke test; the stable tag was not moved."""

    exit_code = 1


def archive_tag(stable_tag: str, digest: str) -> str:
    """`acme:main` + digest -> `acme:main.0123456789ab` (tags allow letters, digits, `._-`)."""
    return f"{stable_tag}.{digest.removeprefix('sha256:')[:12]}"


def move_stable(
    client: OllamaClient, *, source: str, stable_tag: str, variant: str, reason: str
) -> StableChange:
    """Point `stable_tag` at the model `source` holds, keep it under its archive tag, and
    describe the move for the record."""
    client.copy(source, stable_tag)
    digest = client.model_digest(stable_tag) or ""
    archive = archive_tag(stable_tag, digest)
    client.copy(stable_tag, archive)
    return StableChange(
        at=now(), tag=stable_tag, variant=variant, digest=digest, reason=reason, archive=archive
    )


def read_record(project: Project, package: str) -> BuildRecord:
    path = record_path(project, package)
    try:
        return read_record_file(path)
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no build record for {package}",
            hint=f"run `modelpack build {package}` first",
        ) from None
    except ValueError as exc:
        raise UsageError(
            f"{path}: not a readable build record ({str(exc).splitlines()[0]})",
            hint=f"run `modelpack build {package}` again to rewrite it",
        ) from None


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
        from modelpack.jobs.build import Builder

        spec = self.project.loaded.package(package)
        record = read_record(self.project, package)
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
        if verify:
            self.say(f"smoke-testing {result.tag}")
            builder = Builder(
                self.project, self.client, cache=DigestCache.in_home(self.project.home)
            )
            result = builder.smoke_test(result, spec.smoke)
            record = _with_variant(record, result)
            if result.verdict != "passed":
                self._write(package, record)
                raise PromotionFailed(
                    f"{result.tag} failed its smoke test: {result.reason}; "
                    f"{record.stable_tag} was not changed",
                    hint="fix the variant and build again, or pass --no-verify to force it",
                )
        change = move_stable(
            self.client,
            source=result.tag,
            stable_tag=record.stable_tag,
            variant=variant,
            reason="promote" + ("" if verify else " (--no-verify)"),
        )
        self.say(f"{record.stable_tag} -> {result.tag}")
        record = record.model_copy(
            update={
                "stable_variant": variant,
                "stable_digest": change.digest,
                "history": [*record.history, change],
            }
        )
        self._write(package, record)
        return record

    def rollback(self, package: str) -> BuildRecord:
        """Point the stable tag back at the target it had before the current one."""
        record = read_record(self.project, package)
        current = self.client.model_digest(record.stable_tag)
        target = next((c for c in reversed(record.history) if c.digest != current), None)
        if target is None:
            raise UsageError(
                f"{record.stable_tag} has no earlier target to roll back to "
                f"({len(record.history)} stable change(s) recorded)",
                hint="roll back after a build or promote has moved it at least once",
            )
        source = self._holder(record, target)
        change = move_stable(
            self.client,
            source=source,
            stable_tag=record.stable_tag,
            variant=target.variant,
            reason=f"rollback to {target.variant} of {target.at}",
        )
        self.say(f"{record.stable_tag} -> {target.variant} ({change.digest[:12]})")
        record = record.model_copy(
            update={
                "stable_variant": target.variant,
                "stable_digest": change.digest,
                "history": [*record.history, change],
            }
        )
        self._write(package, record)
        return record

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
