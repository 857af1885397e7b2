"""`modelpack status`: what a package declares against what the server has (drift).

For each variant the spec is rendered for the server's own version (as `build` would render
it), its GGUF hashed through the digest cache, and the result compared with `/api/show` of
the variant's tag (see `modelpack.core.modelfile.drift`). The build record adds what the spec cannot
say: which model each tag held after the last build, and where the stable tag was pointed. So
drift is any of:

- a variant tag missing, or whose parameters, template, system prompt, messages, license or
  GGUF differ from the spec ("num_ctx is 4096 on the server, 8192 in the spec");
- a variant tag that holds another model than the last build made (replaced behind
  modelpack's back, even when nothing compared differs);
- the stable tag missing, pointing at a digest no recorded build produced, or at another
  build's model than the last one's; its contents are also compared with the variant the last
  build chose, unless that variant's tag holds the very same model (then the variant's line
  already says everything).

The server is only read: nothing is created, copied or deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelpack.core.modelfile.drift import (
    Difference,
    ModelState,
    compare,
    model_replaced,
    stable_differences,
    tag_missing,
)
from modelpack.core.modelfile.request import local_file_refs
from modelpack.core.modelfile.syntax import Modelfile, parse
from modelpack.core.package.render import Rendered
from modelpack.core.package.tags import stable_tag, variant_tag
from modelpack.core.results.record import BuildRecord
from modelpack.core.versions import OllamaVersion
from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.history import last_record
from modelpack.edge.project import Project
from modelpack.errors import ServerError
from modelpack.jobs.stable import pending_state

__all__ = [
    "PackageStatus",
    "StableStatus",
    "VariantStatus",
    "declared_state",
    "live_state",
    "package_status",
    "rendered_state",
    "show",
]


@dataclass(frozen=True)
class VariantStatus:
    variant: str
    tag: str
    digest: str | None
    """The tag's model digest on the server; None when the tag is missing."""
    differences: list[Difference] = field(default_factory=list)

    @property
    def exists(self) -> bool:
        return self.digest is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "tag": self.tag,
            "exists": self.exists,
            "digest": self.digest,
            "differences": [d.to_json() for d in self.differences],
        }


@dataclass(frozen=True)
class StableStatus:
    tag: str
    digest: str | None
    known: bool
    """Whether a recorded build produced the model the stable tag points at."""
    variant: str | None
    """The variant whose build the stable tag points at, when known."""
    differences: list[Difference] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "digest": self.digest,
            "known": self.known,
            "variant": self.variant,
            "differences": [d.to_json() for d in self.differences],
        }


@dataclass(frozen=True)
class PackageStatus:
    package: str
    model: str
    host: str
    ollama_version: str
    recorded: bool
    """Whether a build record exists (modelfiles/<package>/build.json)."""
    variants: list[VariantStatus]
    stable: StableStatus
    unfinished: str | None = None
    """A stable move that was interrupted, what the server shows of it, and how to finish or
    undo it (None when there is none)."""

    @property
    def differences(self) -> list[Difference]:
        return [d for v in self.variants for d in v.differences] + self.stable.differences

    @property
    def drift(self) -> bool:
        return bool(self.differences) or self.unfinished is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "model": self.model,
            "host": self.host,
            "ollama_version": self.ollama_version,
            "unfinished": self.unfinished,
            "recorded": self.recorded,
            "drift": self.drift,
            "variants": [v.to_json() for v in self.variants],
            "stable": self.stable.to_json(),
        }


def show(client: OllamaClient, tag: str) -> dict[str, Any] | None:
    """The raw `/api/show` JSON of `tag`, or None when the server has no such model."""
    try:
        return client.show(tag)
    except ServerError as exc:
        if exc.status_code == 404:
            return None
        raise


def live_state(client: OllamaClient, tag: str, version: OllamaVersion) -> ModelState | None:
    reply = show(client, tag)
    return ModelState.from_show(reply, version=version) if reply is not None else None


def declared_state(
    text: str, base: Path, version: OllamaVersion, cache: DigestCache | None
) -> ModelState:
    """A Modelfile's state, with the digests of the local files its FROM and ADAPTER name
    (relative to `base`, as Ollama's CLI resolves them); without a cache nothing is hashed and
    the weights compare by FROM's text."""
    modelfile = parse(text)
    return _state(modelfile, local_file_refs(modelfile, base), version, cache)


def _state(
    modelfile: Modelfile, files: dict[str, Path], version: OllamaVersion, cache: DigestCache | None
) -> ModelState:
    digests = {value: cache.digest(path) for value, path in files.items()} if cache else {}
    return ModelState.from_modelfile(modelfile, digests=digests, version=version)


def package_status(
    project: Project, client: OllamaClient, package: str, *, cache: DigestCache
) -> PackageStatus:
    """Compare one package's declared variants and stable tag with the server."""
    spec = project.loaded.package(package)
    version = client.ollama_version()
    rendered = project.renderer(version).render_package(package)
    record = last_record(project, package)
    on_server = client.model_digests()

    declared: dict[str, ModelState] = {}
    variants: list[VariantStatus] = []
    for item in rendered:
        tag = variant_tag(spec.model, package, item.variant)
        state = declared[item.variant] = rendered_state(item, version, cache)
        variants.append(_variant(client, record, item.variant, tag, on_server, state, version))

    tag = stable_tag(spec.model, package)
    stable = _stable(client, record, tag, on_server.get(tag), variants, declared, version)
    return PackageStatus(
        package=package,
        model=spec.model,
        host=client.base_url,
        ollama_version=str(version),
        recorded=record is not None,
        variants=variants,
        stable=stable,
        unfinished=_unfinished(client, record) if record is not None else None,
    )


def _unfinished(client: OllamaClient, record: BuildRecord) -> str | None:
    """The record's interrupted stable move, said as what happened and what to run."""
    move = record.pending
    if move is None:
        return None
    state, holds = pending_state(client, move)
    package, target = record.package, f"{move.variant} ({move.digest[:12]})"
    finish = f"`modelpack promote {package} {move.variant} --no-verify` finishes it"
    undo = f"`modelpack rollback {package}` undoes it"
    said = f"a stable move of {move.tag} to {target} was interrupted ({move.at}): "
    if state == "moved":
        return said + f"it happened, but was not recorded as done; {finish}, {undo}"
    if state == "not moved":
        return said + f"it did not happen; {finish}, or the next build clears this note"
    now_holds = holds[:12] if holds else "nothing"
    return said + f"{move.tag} holds {now_holds}, neither model; {finish}, {undo}"


def rendered_state(item: Rendered, version: OllamaVersion, cache: DigestCache) -> ModelState:
    """A rendered variant's state, its declared files hashed through the cache."""
    return _state(item.modelfile, item.files, version, cache)


def _variant(
    client: OllamaClient,
    record: BuildRecord | None,
    variant: str,
    tag: str,
    on_server: dict[str, str],
    declared: ModelState,
    version: OllamaVersion,
) -> VariantStatus:
    digest = on_server.get(tag)
    live = live_state(client, tag, version) if digest is not None else None
    if digest is None or live is None:
        return VariantStatus(variant, tag, None, [tag_missing(tag)])
    differences = compare(declared, live, version=version)
    built = record.variant(variant) if record else None
    if built is not None and built.model_digest and built.model_digest != digest:
        differences.append(model_replaced(tag, built.model_digest, digest))
    return VariantStatus(variant, tag, digest, differences)


def _stable(
    client: OllamaClient,
    record: BuildRecord | None,
    tag: str,
    digest: str | None,
    variants: list[VariantStatus],
    declared: dict[str, ModelState],
    version: OllamaVersion,
) -> StableStatus:
    produced: dict[str, str] = {}
    made_by: dict[str, str] = {}
    expected: str | None = None
    chosen: str | None = None
    if record is not None:
        for result in record.variants:
            if result.model_digest:
                produced[result.model_digest] = f"{result.tag} of the last build"
                made_by[result.model_digest] = result.variant
        for change in record.history:
            produced[change.digest] = f"the {change.variant} build of {change.at}"
            made_by[change.digest] = change.variant
        if record.history:
            expected, chosen = record.history[-1].digest, record.history[-1].variant
        elif record.stable_variant is not None and record.stable_digest is not None:
            expected, chosen = record.stable_digest, record.stable_variant
    differences = stable_differences(tag, digest, produced=produced, expected=expected)
    if digest is not None and chosen is not None and chosen in declared:
        same_as_variant = any(v.variant == chosen and v.digest == digest for v in variants)
        live = None if same_as_variant else live_state(client, tag, version)
        if live is not None:
            differences += compare(declared[chosen], live, version=version)
    return StableStatus(
        tag=tag,
        digest=digest,
        known=digest is not None and digest in produced,
        variant=made_by.get(digest) if digest is not None else None,
        differences=differences,
    )
