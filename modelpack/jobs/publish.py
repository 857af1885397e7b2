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
must have every one of them. A push that fails is retried when the cause is transient (the
registry unreachable or resetting connections, a 5xx, no progress for `stall_timeout`), with
a doubling backoff and bounded attempts. If it still fails, or is interrupted, the tag is
checked: a manifest that names missing blobs is deleted, so no tag is left that a user could
pull and find broken. Whatever reached the registry is written to the build record
(`published`), with the registry's manifest digest.

Digests: a server that pulled a tag reports the registry's manifest digest, but the pushing
server reports the sha256 of its local manifest file, which ends with a newline that is not
pushed. So the record keeps both, and `verify-pull` compares the puller with the registry and
the record, and the registry's layers with what was pushed and with the built GGUF.

`verify_pull` is what a user will experience: a clean, separate Ollama (own port, own models
dir, nothing else on it) pulls the stable tag, which must have the recorded digest and layers,
and answers the package's first smoke prompt, judged as the build judges it. The server is
always stopped.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.core.results.record import BuildRecord, Published, PublishedLayer, VariantResult
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.edge.history import save_record
from modelpack.edge.project import Project
from modelpack.edge.registry import RegistryClient, RegistryRef, manifest_blobs, parse_model_name
from modelpack.edge.server import OllamaBuild, OllamaServer
from modelpack.errors import (
    ModelpackError,
    ServerError,
    ServerGoneError,
    ServerTimeout,
    SetupError,
    UsageError,
)
from modelpack.jobs.lifecycle import read_record

__all__ = [
    "Check",
    "PublishEvent",
    "Publisher",
    "PushFailed",
    "PushResult",
    "RegistryUnavailable",
    "Target",
    "VerifyFailed",
    "VerifyResult",
    "is_transient",
    "registry_ref",
    "resolve_registry",
]

MODEL_LAYER = "application/vnd.ollama.image.model"

# What Ollama says when the registry, not the request, is the problem: worth another try.
# (A 4xx, an unknown host or a refused login would fail the same way again.)
_TRANSIENT = re.compile(
    r"connection reset|connection refused|broken pipe|\bEOF\b|i/o timeout|timed? ?out"
    r"|\b(?:status|code)\s+5\d\d\b"
    r"|\b5\d\d (?:internal server error|bad gateway|service unavailable|gateway timeout)",
    re.IGNORECASE,
)


def is_transient(message: str) -> bool:
    """Whether an error Ollama reported for a push or pull may go away on its own."""
    return bool(_TRANSIENT.search(message))


class _Stalled(Exception):
    """A push or pull made no progress for the stall timeout."""


class RegistryUnavailable(SetupError):
    """The registry does not answer (or is not a registry): nothing was sent."""


class PushFailed(ModelpackError):
    """A push failed; the message says what the registry was left with."""

    exit_code = 1


class VerifyFailed(ModelpackError):
    """The clean server could not pull the tag."""

    exit_code = 1


@dataclass(frozen=True)
class PublishEvent:
    """Progress for a display. `name` is the registry name being worked on, if any."""

    kind: str  # ping, copy, push, retry, pushed, serve, pull, smoke, check
    name: str | None
    message: str
    done: int | None = None
    total: int | None = None


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


@dataclass(frozen=True)
class Check:
    what: str
    expected: str | None
    actual: str | None

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True)
class VerifyResult:
    name: str
    server_version: str | None
    pull_s: float
    checks: list[Check]
    smoke: VariantResult
    digest: str | None = None
    """The digest the clean server reports for the pulled tag."""
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks) and self.smoke.verdict == "passed"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "digest": self.digest,
            "server_version": self.server_version,
            "pull_s": round(self.pull_s, 3),
            "checks": [
                {"what": c.what, "expected": c.expected, "actual": c.actual, "ok": c.ok}
                for c in self.checks
            ],
            "smoke": self.smoke.model_dump(mode="json"),
        }


def resolve_registry(
    project: Project, namespace: str | None, *, insecure: bool = False
) -> tuple[str, bool]:
    """`(namespace, insecure)`: `--registry` wins over the spec's `registry.namespace`; plain
    HTTP is allowed by `--insecure` or by the spec's `insecure`."""
    settings = project.loaded.spec.registry
    chosen = namespace or (settings.namespace if settings else None)
    if not chosen:
        raise UsageError(
            "no registry to publish to",
            hint="set registry.namespace in the spec (host:port/namespace) or pass --registry",
        )
    return chosen.strip().strip("/"), insecure or bool(settings and settings.insecure)


def registry_ref(namespace: str, local_tag: str) -> RegistryRef:
    """`127.0.0.1:5000/acme` + `smollm2:main-gpu` -> where that tag is pushed."""
    model, _, tag = local_tag.partition(":")
    return parse_model_name(f"{namespace}/{model}:{tag or 'latest'}")


def _sha(digest: str | None) -> str | None:
    """Ollama's /api/tags digests are bare hex; the registry's carry `sha256:`."""
    if digest is None:
        return None
    return digest if digest.startswith("sha256:") else f"sha256:{digest}"


class Publisher:
    """Pushes one project's packages from one Ollama (`client`, the build's server) to the
    registry named by the spec or by `namespace`/`insecure`. `verify_pull` starts its own
    server and needs no client.

    `registry_factory(host, insecure)` makes the v2 client (tests can point it elsewhere);
    `attempts`, `backoff` and `stall_timeout` bound the retries of one push or pull.
    """

    def __init__(
        self,
        project: Project,
        client: OllamaClient | None,
        *,
        namespace: str | None = None,
        insecure: bool = False,
        registry_factory: Callable[[str, bool], RegistryClient] | None = None,
        on_event: Callable[[PublishEvent], None] | None = None,
        attempts: int = 3,
        backoff: float = 2.0,
        stall_timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.client = client
        self.namespace, self.insecure = resolve_registry(project, namespace, insecure=insecure)
        self.registry_factory = registry_factory or (
            lambda host, insecure: RegistryClient(host, insecure=insecure)
        )
        self.emit = on_event or (lambda event: None)
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.stall_timeout = stall_timeout
        self.sleep = sleep

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
            if variant.verdict != "passed" or variant.model_digest is None:
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
        digests = self.source.model_digests()
        for target in targets:
            local = digests.get(target.local)
            if local != target.digest:
                found = f"holds {local[:12]}" if local else "is missing"
                raise UsageError(
                    f"{target.local} on {self.source.base_url} {found}, not the model the "
                    f"build record tested ({target.digest[:12]}); nothing was pushed",
                    hint="run `modelpack build` on this server first (OLLAMA_HOST, or --serve)",
                )

    # -- push ------------------------------------------------------------------------------------

    @property
    def source(self) -> OllamaClient:
        if self.client is None:
            raise UsageError("pushing needs the Ollama that built the package")
        return self.client

    def push(self, package: str) -> PushResult:
        started = time.monotonic()
        record = read_record(self.project, package)
        targets, skipped = self.targets(record)
        self._check_local(targets)
        host = targets[0].ref.host
        pushed: list[Published] = []
        with self.registry_factory(host, self.insecure) as registry:
            self._ping(registry, "nothing was pushed")
            current: Target | None = None
            try:
                for current in targets:
                    pushed.append(self._push_one(registry, current))
            except (ModelpackError, KeyboardInterrupt) as exc:
                assert current is not None
                left = self._leave_clean(registry, current)
                self._save(package, pushed)
                if isinstance(exc, KeyboardInterrupt):
                    self.emit(PublishEvent("check", current.name, left))
                    raise
                done = ", ".join(p.name for p in pushed) or "nothing"
                why = " ".join(str(exc).split())  # server messages can span lines (HTML)
                raise PushFailed(
                    f"pushing {current.name} failed: {why}; {left}; pushed before it: {done}",
                    hint="the stable tag is pushed last, so users still get the previous one",
                ) from None
        self._save(package, pushed)
        return PushResult(registry.base_url, pushed, skipped, time.monotonic() - started)

    def _ping(self, registry: RegistryClient, consequence: str) -> None:
        self.emit(PublishEvent("ping", None, f"checking the registry at {registry.base_url}"))
        try:
            registry.ping()
        except ServerError as exc:
            raise RegistryUnavailable(f"{exc.message}; {consequence}", hint=exc.hint) from None

    def _push_one(self, registry: RegistryClient, target: Target) -> Published:
        self.emit(PublishEvent("copy", target.name, f"{target.local} -> {target.name}"))
        self.source.copy(target.local, target.name)
        blobs = self._retrying(
            "push",
            target.name,
            lambda: self.source.push(
                target.name, insecure=self.insecure, timeout=self.stall_timeout
            ),
        )
        self.emit(PublishEvent("verify", target.name, "reading it back from the registry"))
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
        self.emit(PublishEvent("pushed", target.name, digest))
        return published

    def _retrying(
        self, kind: str, name: str, start: Callable[[], Iterable[dict[str, Any]]]
    ) -> list[str]:
        """Run a push or pull stream to the end, retrying transient failures; returns the
        blob digests the server reported (in order). The pushing server going away is never
        retried: what it left is checked instead."""
        for attempt in range(1, self.attempts + 1):
            blobs: list[str] = []
            stream = start()
            try:
                self._follow(stream, kind, name, blobs)
                return blobs
            except _Stalled:
                reason = f"no progress for {self.stall_timeout:g} s"
            except ServerGoneError:
                raise
            except ServerTimeout:
                reason = f"no answer for {self.stall_timeout:g} s"
            except ServerError as exc:
                reason = (exc.server_message or exc.message).splitlines()[0]
                if not is_transient(reason):
                    raise
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # ends the HTTP request, which cancels the push on the server
            if attempt == self.attempts:
                failed = PushFailed if kind == "push" else VerifyFailed
                raise failed(f"{kind} of {name} failed {attempt} times, last: {reason}")
            delay = self.backoff * 2 ** (attempt - 1)
            self.emit(
                PublishEvent(
                    "retry",
                    name,
                    f"{kind} attempt {attempt}/{self.attempts} failed ({reason}); "
                    f"retrying in {delay:g} s",
                )
            )
            self.sleep(delay)
        raise AssertionError("unreachable")

    def _follow(
        self, stream: Iterable[dict[str, Any]], kind: str, name: str, blobs: list[str]
    ) -> None:
        """Read progress lines to the end. Ollama sends a line every 60 ms even while it is
        stuck retrying an upload (for about a minute), so a stall is `completed` not moving,
        not silence."""
        last: tuple[Any, ...] = ()
        moved = time.monotonic()
        for line in stream:
            digest = line.get("digest")
            if isinstance(digest, str) and digest not in blobs:
                blobs.append(digest)
            tick = time.monotonic()
            state = (line.get("status"), digest, line.get("completed"))
            if state != last:
                last, moved = state, tick
            elif tick - moved >= self.stall_timeout:
                raise _Stalled
            self.emit(
                PublishEvent(
                    kind,
                    name,
                    str(line.get("status", "")),
                    line.get("completed"),
                    line.get("total"),
                )
            )

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
        record = read_record(self.project, package)
        names = {p.name for p in pushed}
        kept = [p for p in record.published if p.name not in names]
        record = record.model_copy(update={"published": [*kept, *pushed]})
        save_record(self.project, package, record)

    # -- verify-pull -----------------------------------------------------------------------------

    def verify_pull(self, package: str, *, build: OllamaBuild, workdir: Path) -> VerifyResult:
        """Pull the pushed stable tag into a clean Ollama started in `workdir` and run the
        package's first smoke prompt on it; compare digests with the registry and the record."""
        record = read_record(self.project, package)
        spec = self.project.loaded.package(package)
        ref = registry_ref(self.namespace, record.stable_tag)
        with self.registry_factory(ref.host, self.insecure) as registry:
            self._ping(registry, "nothing was pulled")
            published = next((p for p in record.published if p.name == ref.name), None)
            if published is None:
                raise UsageError(
                    f"{ref.name} was never pushed (the build record has no push for it)",
                    hint=f"run `modelpack push {package}` first",
                )
            try:
                registry_digest, manifest = registry.manifest(ref.repo, ref.tag)
            except ServerError as exc:
                raise VerifyFailed(
                    f"{ref.name} is not readable in the registry: {exc.message}",
                    hint=f"push it again: `modelpack push {package}`",
                ) from None
        server = OllamaServer(build, workdir, ready_timeout=60)
        self.emit(PublishEvent("serve", None, f"starting a clean Ollama ({build.name})"))
        try:
            server.start()
            with OllamaClient(server.host) as clean:
                started = time.monotonic()
                try:
                    self._retrying(
                        "pull",
                        ref.name,
                        lambda: clean.pull(
                            ref.name, insecure=self.insecure, timeout=self.stall_timeout
                        ),
                    )
                except ServerError as exc:
                    why = " ".join((exc.server_message or exc.message).split())
                    raise VerifyFailed(
                        f"a clean Ollama {server.version} could not pull {ref.name}: {why}",
                        hint="a registry must answer blob downloads with a redirect for Ollama",
                    ) from None
                pull_s = time.monotonic() - started
                pulled = _sha(clean.model_digest(ref.name))
                checks = _checks(record, published, registry_digest, manifest, pulled)
                from modelpack.jobs.build import Builder

                self.emit(PublishEvent("smoke", ref.name, spec.smoke.prompts[0].prompt))
                builder = Builder(self.project, clean, cache=DigestCache(workdir / "digests.json"))
                smoke = spec.smoke.model_copy(update={"prompts": spec.smoke.prompts[:1]})
                result = builder.smoke_test(
                    VariantResult(
                        variant=record.stable_variant or "stable", tag=ref.name, verdict="failed"
                    ),
                    smoke,
                )
                return VerifyResult(ref.name, server.version, pull_s, checks, result, pulled)
        finally:
            server.stop()


def _checks(
    record: BuildRecord,
    published: Published,
    registry_digest: str,
    manifest: dict[str, Any],
    pulled: str | None,
) -> list[Check]:
    """The pulled model is the registry's manifest, which is what was pushed (same digest,
    same blobs) and carries the GGUF the build tested."""
    checks = [
        Check("pulled digest = registry manifest", registry_digest, pulled),
        Check("registry manifest = recorded at push", published.manifest_digest, registry_digest),
        Check(
            "registry blobs = pushed blobs",
            " ".join(_published_blobs(published)),
            " ".join(manifest_blobs(manifest)),
        ),
    ]
    stable = record.variant(record.stable_variant or "")
    gguf = stable.gguf_digest if stable else None
    if gguf and "," not in gguf:
        models = [
            str(layer.get("digest"))
            for layer in manifest.get("layers") or []
            if layer.get("mediaType") == MODEL_LAYER
        ]
        checks.append(Check("model layer = built GGUF", gguf, models[0] if models else None))
    return checks


def _published_blobs(published: Published) -> Iterator[str]:
    seen: list[str] = []
    for digest in [published.config, *(layer.digest for layer in published.layers)]:
        if digest and digest not in seen:
            seen.append(digest)
            yield digest
