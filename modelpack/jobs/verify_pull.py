"""`verify-pull`: what a user will experience after `push`.

A clean, separate Ollama (own port, own models dir, nothing else on it) pulls the package's
pushed stable tag. The pulled model must be the registry's manifest, which must be what the
build record says was pushed (same digest, same blobs, the GGUF the build tested); its TEMPLATE
must pass the template gate on the clean server's Ollama version (which need not be the one the
build ran on: what a TEMPLATE renders changes between versions); and it must answer the
package's first smoke prompt, judged by the same smoke loop as a build. The clean server is
always stopped.

Digests: a server that pulled a tag reports the registry's manifest digest, but the pushing
server reports the sha256 of its local manifest file, which ends with a newline that is not
pushed. So the record keeps both, and the checks compare the puller with the registry and the
record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.core.results.record import BuildRecord, Published, VariantResult, Verdict
from modelpack.edge.client import OllamaClient
from modelpack.edge.history import require_record
from modelpack.edge.registry import manifest_blobs
from modelpack.edge.replies import one_line
from modelpack.edge.server import OllamaBuild, OllamaServer
from modelpack.errors import InputError, ServerError, UsageError
from modelpack.jobs.events import Event, EventKind
from modelpack.jobs.smoke import SmokeTester, with_smoke
from modelpack.jobs.template_gate import TemplateGate, gated
from modelpack.jobs.transfers import RegistryJob, TransferFailed, ping, registry_ref

__all__ = ["MODEL_LAYER", "Check", "PullVerifier", "VerifyFailed", "VerifyResult"]

MODEL_LAYER = "application/vnd.ollama.image.model"


class VerifyFailed(TransferFailed):
    """The clean server could not pull the tag."""


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
        return all(c.ok for c in self.checks) and self.smoke.verdict == Verdict.PASSED

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
            "notes": self.notes,
        }


def _sha(digest: str | None) -> str | None:
    """Ollama's /api/tags digests are bare hex; the registry's carry `sha256:`."""
    if digest is None:
        return None
    return digest if digest.startswith("sha256:") else f"sha256:{digest}"


class PullVerifier(RegistryJob):
    """Pulls one project's pushed stable tags into a clean Ollama it starts itself (see
    `RegistryJob` for the settings)."""

    failure = VerifyFailed

    def verify(self, package: str, *, build: OllamaBuild, workdir: Path) -> VerifyResult:
        """Pull the pushed stable tag into a clean Ollama started in `workdir` and run the
        package's first smoke prompt on it; compare digests with the registry and the record."""
        record = require_record(self.project, package)
        spec = self.project.loaded.package(package)
        ref = registry_ref(self.namespace, record.stable_tag)
        with self.registry_factory(ref.host, self.insecure) as registry:
            ping(registry, "nothing was pulled", self.emit)
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
        self.emit(Event(EventKind.SERVE, None, f"starting a clean Ollama ({build.name})"))
        try:
            server.start()
            with OllamaClient(server.host) as clean:
                started = time.monotonic()
                try:
                    self.retrier.run(
                        "pull",
                        ref.name,
                        lambda: clean.pull(
                            ref.name, insecure=self.insecure, timeout=self.retrier.stall_timeout
                        ),
                    )
                except ServerError as exc:
                    why = one_line(exc.server_message or exc.message)
                    raise VerifyFailed(
                        f"a clean Ollama {server.version} could not pull {ref.name}: {why}",
                        hint="a registry must answer blob downloads with a redirect for Ollama",
                    ) from None
                pull_s = time.monotonic() - started
                pulled = _sha(clean.model_digest(ref.name))
                checks = _checks(record, published, registry_digest, manifest, pulled)
                variant = record.stable_variant or "stable"
                version = clean.ollama_version()
                notes = []
                try:
                    item = self.project.rendered_variant(package, variant, version)
                except InputError as exc:
                    item = None
                    notes.append(f"template gate not run: the spec does not render: {exc}")
                with TemplateGate(clean, on_event=self.emit) as gate:
                    verdict = gate.check(
                        ref.name,
                        item,
                        spec.smoke,
                        version,
                        subject=ref.name,
                    )

                def judge(result: VariantResult) -> VariantResult:
                    smoke = SmokeTester(clean, on_event=self.emit, log=server.log).run(
                        ref.name, spec.smoke, spec.smoke.prompts[:1], subject=ref.name
                    )
                    return with_smoke(result, smoke)

                result = gated(
                    VariantResult(variant=variant, tag=ref.name, verdict=Verdict.FAILED),
                    verdict,
                    judge,
                )
                return VerifyResult(ref.name, server.version, pull_s, checks, result, pulled, notes)
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
    ggufs = stable.gguf_digests if stable else []
    if len(ggufs) == 1:
        models = [
            str(layer.get("digest"))
            for layer in manifest.get("layers") or []
            if layer.get("mediaType") == MODEL_LAYER
        ]
        checks.append(Check("model layer = built GGUF", ggufs[0], models[0] if models else None))
    return checks


def _published_blobs(published: Published) -> Iterator[str]:
    seen: list[str] = []
    for digest in [published.config, *(layer.digest for layer in published.layers)]:
        if digest and digest not in seen:
            seen.append(digest)
            yield digest
