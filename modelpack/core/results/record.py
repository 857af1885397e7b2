"""The build record, `modelfiles/<package>/build.json`: what a build did and why.

It says which spec and server built what (digests of every Modelfile, GGUF and model), how
each variant did in its smoke test, and where the stable tag points. Later commands read it: a
rebuild skips variants whose inputs and model are unchanged, `status` compares it with the
server, and `rollback` walks its history. Each build also keeps an immutable copy in
`modelfiles/<package>/builds/` (see `modelpack.edge.history`), and since each variant's
Modelfile text is recorded, `diff` can compare two builds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelpack.core.results.memory import MemoryCheck
from modelpack.core.results.runs import PromptRuns

RECORD_VERSION: Final = 2
"""2: `gguf_digests` is a list (1 joined them with commas) and prompts keep their runs."""

READABLE_VERSIONS: Final = (1, 2)
"""Record versions this modelpack reads (and rewrites as the current one)."""


class Verdict(StrEnum):
    """How a variant did in a build."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VariantResult(_Model):
    variant: str
    tag: str
    verdict: Verdict
    reason: str | None = None
    """Why it failed or was skipped: one line, e.g. the server's 500 message."""
    modelfile_digest: str | None = None
    gguf_digests: list[str] = Field(default_factory=list)
    """The sorted digests of the local files FROM and ADAPTER name."""
    model_digest: str | None = None
    created: bool = False
    """False when the tag was already the same model (nothing changed) and was reused."""
    gpu_fraction: float | None = None
    memory: MemoryCheck | None = None
    """`/api/ps` size and size_vram while the smoke test ran, next to modelpack's estimate
    (`modelpack.core.results.memory`); None when no smoke test loaded it."""
    template_parity: bool | None = None
    """Whether the created model's TEMPLATE renders the probe conversation exactly as the
    GGUF's own chat template does (None: no chat template in the GGUF, or not checked)."""
    template_difference: str | None = None
    """Where they first differ, or why the check could not run."""
    prompt_token_parity: bool | None = None
    """With `smoke.reference: llama-server`: whether Ollama's prompt token count equals
    llama-server's for every probe conversation (None: not compared)."""
    warnings: list[str] = Field(default_factory=list)
    prompts: list[PromptRuns] = Field(default_factory=list)
    modelfile: str | None = None
    """The exact Modelfile text this build rendered for the variant and created it from (or
    found unchanged on the server); None in records written before it was kept."""
    file_digests: dict[str, str] = Field(default_factory=dict)
    """The FROM and ADAPTER values of `modelfile` that name local files, as written, -> the
    digest each file had at build time (`modelpack diff build:...` compares weights by them)."""

    @model_validator(mode="before")
    @classmethod
    def _from_version_1(cls, data: Any) -> Any:
        """Record version 1 joined the GGUF digests with commas."""
        if isinstance(data, dict) and "gguf_digest" in data:
            data = dict(data)
            joined = data.pop("gguf_digest")
            data["gguf_digests"] = joined.split(",") if joined else []
        return data

    def metric(self, name: str) -> float | None:
        """The first prompt's first run's value of a metric (what the summary table shows)."""
        runs = self.prompts[0].runs if self.prompts else []
        return getattr(runs[0], name) if runs else None


class StableChange(_Model):
    at: str
    tag: str
    variant: str
    digest: str
    reason: str
    archive: str | None = None
    """A tag that keeps this target on the server (`<model>:<package>.<digest12>`), so a
    rollback needs no rebuild; records written before it existed have none."""


class PendingMove(_Model):
    """A stable-tag move written down before it is made (`modelpack.jobs.stable`).

    It stays in the record only when the move was interrupted before it could be confirmed:
    the server then holds either `previous` (nothing happened), `digest` (the move happened)
    or something else, and `status` says which and how to finish or undo it.
    """

    tag: str
    """The stable tag being moved."""
    variant: str
    digest: str
    """The model it is being pointed at."""
    source: str
    """The per-digest tag it is copied from: exactly the model that was tested."""
    previous: str | None = None
    """What the stable tag held before (None: it did not exist)."""
    reason: str
    at: str

    def change(self, at: str) -> StableChange:
        """The history entry the move becomes once confirmed."""
        return StableChange(
            at=at,
            tag=self.tag,
            variant=self.variant,
            digest=self.digest,
            reason=self.reason,
            archive=self.source,
        )


class PublishedLayer(_Model):
    media_type: str
    digest: str
    size: int | None = None


class Published(_Model):
    """One tag as `push` left it in a registry, checked there through the v2 API.

    `manifest_digest` is the registry's Docker-Content-Digest: what a server that pulls the
    tag reports. It is not `source_digest` (what the pushing server reports for the same model),
    because Ollama's local manifest file ends with a newline that it does not push.
    """

    name: str
    """The full Ollama name pushed: `host:port/namespace/model:tag`."""
    tag: str
    """The local tag it was pushed from (`smollm2:main-gpu`)."""
    variant: str | None = None
    manifest_digest: str
    source_digest: str | None = None
    config: str | None = None
    layers: list[PublishedLayer] = Field(default_factory=list)
    at: str


class BuildRecord(_Model):
    record_version: Literal[2] = RECORD_VERSION
    package: str
    spec_digest: str
    ollama_version: str
    host: str
    started_at: str
    finished_at: str
    variants: list[VariantResult]
    stable_tag: str
    stable_variant: str | None = None
    stable_digest: str | None = None
    history: list[StableChange] = Field(default_factory=list)
    published: list[Published] = Field(default_factory=list)
    """What `push` put in registries, latest per pushed name; absent in older records."""
    pending: PendingMove | None = None
    """A stable move that was started and not confirmed (see `PendingMove`)."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """A version 1 record reads as version 2 (its variants convert themselves)."""
        if isinstance(data, dict) and data.get("record_version") in READABLE_VERSIONS:
            data = {**data, "record_version": RECORD_VERSION}
        return data

    @property
    def passed(self) -> bool:
        return self.stable_variant is not None and any(v.verdict == "passed" for v in self.variants)

    def variant(self, name: str) -> VariantResult | None:
        return next((v for v in self.variants if v.variant == name), None)
