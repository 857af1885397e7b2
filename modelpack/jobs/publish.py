"""Publishing: push a package's tags to a registry, and prove a clean Ollama pulls and runs them.

`push` sends what the build record says passed: each variant that passed its smoke test, then
the stable tag, last, so that the tag users pull moves only once everything before it is in
the registry (as the build moves it only at the end). Failed and skipped variants are never
pushed: a registry tag is a promise that the model runs, and the build showed they do not.
Before anything is sent, every local tag must still hold the model the record tested, and the
registry must answer (a registry that is down is one line, and nothing is pushed).

Ollama pushes a model only under its registry name, so each tag is first copied to
`host:port/namespace/model:tag` on the source server (the copies stay: they are what `ollama
push` needs again next time, and cost no space). Ollama uploads the blobs, then the manifest;
after each push the registry is read back through its v2 API: the tag's manifest must name
exactly the blobs Ollama reported pushing (the source's config and layers) and the registry
must have every one of them. A push that fails is retried when the cause is transient (see
`modelpack.jobs.transfers`). If it still fails, or is interrupted, the tag is
checked: a manifest that names missing blobs is deleted, so no tag is left that a user could
pull and find broken. Whatever reached the registry is written to the build record
(`published`), with the registry's manifest digest.

Digests: a server that pulled a tag reports the registry's manifest digest, but the pushing
server reports the sha256 of its local manifest file, which ends with a newline that is not
pushed. So the record keeps both, and `verify-pull` compares the puller with the registry and
the record, and the registry's layers with what was pushed and with the built GGUF.

`verify-pull` (`modelpack.jobs.verify_pull`) then proves a clean Ollama pulls and runs what
was pushed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from modelpack.core.results.record import BuildRecord, Published, PublishedLayer, Verdict
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import lock_path, require_record, save_record
from modelpack.edge.lock import package_lock
from modelpack.edge.project import Project
from modelpack.edge.registry import RegistryClient, RegistryRef, manifest_blobs
from modelpack.edge.replies import one_line
from modelpack.errors import ModelpackError, ServerError, UsageError
from modelpack.jobs.events import Event, EventKind
from modelpack.jobs.stable import settle
from modelpack.jobs.transfers import RegistryJob, TransferFailed, ping, registry_ref

__all__ = ["Publisher", "PushFailed", "PushResult", "Target"]


class PushFailed(TransferFailed):
    """A push failed; the message says what the registry was left with."""


@dataclass(frozen=True)
class Target:
    """One local tag and the registry name it is pushed to."""

    local: str
    ref: RegistryRef
    variant: str
    digest: str
    """The local model digest the build record tested: what must be pushed."""
    stable: bool = False

    @property
    def name(self) -> str:
        return self.ref.name


@dataclass(frozen=True)
class PushResult:
    registry: str
    pushed: list[Published]
    skipped: list[tuple[str, str]]
    """(local tag, why it was not pushed) for variants that did not pass."""
    seconds: float


class Publisher(RegistryJob):
    """Pushes one project's packages from one Ollama (`client`, the build's server) to its
    registry (see `RegistryJob` for the settings)."""

    failure = PushFailed

    def __init__(self, project: Project, client: OllamaClient, **settings: Any) -> None:
        super().__init__(project, **settings)
        self.client = client

    # -- plan ------------------------------------------------------------------------------------

    def targets(self, record: BuildRecord) -> tuple[list[Target], list[tuple[str, str]]]:
        """The tags to push (passed variants in order, then the stable tag) and the variants
        left out with the reason."""
        if record.stable_variant is None or record.stable_digest is None:
            raise UsageError(
                f"{record.package} has no stable tag to push: no variant passed its last build",
                hint=f"fix the package and run `modelpack build {record.package}`",
            )
        targets: list[Target] = []
        skipped: list[tuple[str, str]] = []
        for variant in record.variants:
            if variant.verdict != Verdict.PASSED or variant.model_digest is None:
                skipped.append((variant.tag, f"{variant.verdict}: {variant.reason or '-'}"))
                continue
            ref = registry_ref(self.namespace, variant.tag)
            targets.append(Target(variant.tag, ref, variant.variant, variant.model_digest))
        stable_ref = registry_ref(self.namespace, record.stable_tag)
        targets.append(
            Target(
                record.stable_tag,
                stable_ref,
                record.stable_variant,
                record.stable_digest,
                stable=True,
            )
        )
        return targets, skipped

    def _check_local(self, targets: list[Target]) -> None:
        """Every tag must still hold the model the build tested: push nothing untested."""
        digests = self.client.model_digests()
        for target in targets:
            local = digests.get(target.local)
            if local != target.digest:
                found = f"holds {local[:12]}" if local else "is missing"
                raise UsageError(
                    f"{target.local} on {self.client.base_url} {found}, not the model the "
                    f"build record tested ({target.digest[:12]}); nothing was pushed",
                    hint="run `modelpack build` on this server first (OLLAMA_HOST, or --serve)",
                )

    # -- push ---------------------------------------------------------------------------------

    def push(self, package: str) -> PushResult:
        self.project.loaded.package(package)
        with package_lock(lock_path(self.project, package), package=package, command="push"):
            return self._push(package)

    def _push(self, package: str) -> PushResult:
        started = time.monotonic()
        record = require_record(self.project, package)
        settled = settle(self.client, record)
        if settled is not record:
            save_record(self.project, package, settled)
            record = settled
        if record.pending is not None:
            raise UsageError(
                f"{record.stable_tag} was being moved to {record.pending.variant} when a command "
                "was interrupted, and the server holds neither model: nothing was pushed",
                hint=f"see `modelpack status {package}`, then promote or roll back first",
            )
        targets, skipped = self.targets(record)
        self._check_local(targets)
        host = targets[0].ref.host
        pushed: list[Published] = []
        with self.registry_factory(host, self.insecure) as registry:
            ping(registry, "nothing was pushed", self.emit)
            current: Target | None = None
            try:
                for current in targets:
                    pushed.append(self._push_one(registry, current))
            except (ModelpackError, KeyboardInterrupt) as exc:
                assert current is not None
                left = self._leave_clean(registry, current)
                self._save(package, pushed)
                if isinstance(exc, KeyboardInterrupt):
                    self.emit(Event(EventKind.CHECK, current.name, left))
                    raise
                done = ", ".join(p.name for p in pushed) or "nothing"
                why = one_line(str(exc))  # server messages can span lines (HTML)
                raise PushFailed(
                    f"pushing {current.name} failed: {why}; {left}; pushed before it: {done}",
                    hint="the stable tag is pushed last, so users still get the previous one",
                ) from None
        self._save(package, pushed)
        return PushResult(registry.base_url, pushed, skipped, time.monotonic() - started)

    def _push_one(self, registry: RegistryClient, target: Target) -> Published:
        self.emit(Event(EventKind.COPY, target.name, f"{target.local} -> {target.name}"))
        self.client.copy(target.local, target.name)
        blobs = self.retrier.run(
            "push",
            target.name,
            lambda: self.client.push(
                target.name, insecure=self.insecure, timeout=self.retrier.stall_timeout
            ),
        )
        self.emit(Event(EventKind.VERIFY, target.name, "reading it back from the registry"))
        digest, manifest = registry.manifest(target.ref.repo, target.ref.tag)
        listed = manifest_blobs(manifest)
        missing = [d for d in listed if not registry.has_blob(target.ref.repo, d)]
        if missing:
            registry.delete_manifest(target.ref.repo, digest)
            raise PushFailed(
                f"the registry's manifest for {target.name} named {len(missing)} blob(s) it "
                f"lacks ({missing[0]}); it was deleted"
            )
        if blobs and set(blobs) != set(listed):
            raise PushFailed(
                f"{target.name} in the registry names blobs {sorted(set(listed) - set(blobs))} "
                "that Ollama did not push: another push to the same tag may have raced this one"
            )
        published = Published(
            name=target.name,
            tag=target.local,
            variant=target.variant,
            manifest_digest=digest,
            source_digest=target.digest,
            config=(manifest.get("config") or {}).get("digest"),
            layers=[
                PublishedLayer(
                    media_type=str(layer.get("mediaType")),
                    digest=str(layer.get("digest")),
                    size=layer.get("size"),
                )
                for layer in manifest.get("layers") or []
            ],
            at=now(),
        )
        self.emit(Event(EventKind.PUSHED, target.name, target.local, digest=digest))
        return published

    def _leave_clean(self, registry: RegistryClient, target: Target) -> str:
        """After a failed push: make sure the tag does not point at missing blobs; say what
        the registry has for it now."""
        repo, tag = target.ref.repo, target.ref.tag
        try:
            try:
                digest, manifest = registry.manifest(repo, tag)
            except ServerError as exc:
                if exc.status_code == 404:
                    return f"the registry has no {target.name}"
                raise
            missing = [d for d in manifest_blobs(manifest) if not registry.has_blob(repo, d)]
            if missing:
                registry.delete_manifest(repo, digest)
                return f"deleted {target.name}: its manifest named {len(missing)} missing blob(s)"
        except ServerError as exc:
            return f"could not check {target.name} in the registry ({exc.message})"
        return f"{target.name} is complete in the registry at {digest}"

    def _save(self, package: str, pushed: list[Published]) -> None:
        """Merge what was pushed into the build record (latest entry per name), atomically."""
        if not pushed:
            return
        record = require_record(self.project, package)
        names = {p.name for p in pushed}
        kept = [p for p in record.published if p.name not in names]
        record = record.model_copy(update={"published": [*kept, *pushed]})
        save_record(self.project, package, record)
