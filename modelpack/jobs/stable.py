"""Moving a package's stable tag: after a build, by `promote`, and back by `rollback`.

Every model the stable tag points at is also kept under its archive tag
(`modelpack.core.package.tags.archive_tag`), so a rollback restores an earlier model by copying
a tag: no rebuild. Each move is a `StableChange` in the build record's history, with its
digest, time, reason and archive tag.
"""

from __future__ import annotations

from modelpack.core.package.tags import archive_tag
from modelpack.core.results.record import StableChange
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now

__all__ = ["move_stable"]


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
