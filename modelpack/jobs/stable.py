"""Moving a package's stable tag, as a small transaction that the record always agrees with.

**Pins.** Every model that may become stable is first copied to its per-digest tag,
`<model>:<package>.<digest12>` (`modelpack.core.package.tags.archive_tag`), and the smoke test
and the stable move both use that tag, never the variant tag: another process may recreate a
variant tag at any time, but a per-digest tag only ever holds that digest. `pin` checks the copy
by digest, so what is tested is exactly what becomes stable. The same tags keep earlier stable
targets on the server, so a rollback is a copy, not a rebuild.

**The move.** `commit_move` writes the intended move into the record first (`pending`), then
copies the pin to the stable tag, confirms the stable tag's digest, and writes the record
again with the move in its history. If the first write fails, the server is never touched. If
the move is interrupted, or the server goes away, the record keeps `pending`, and `settle`
(which build, promote, rollback and push run first, and `status` reports) finds out from the
server whether the move happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Literal

from modelpack.core.package.tags import archive_tag
from modelpack.core.results.record import BuildRecord, PendingMove
from modelpack.edge.client import OllamaClient
from modelpack.edge.clock import now
from modelpack.errors import ModelpackError, ServerError

__all__ = [
    "StableMoveFailed",
    "commit_move",
    "ensure_pin",
    "pending_state",
    "pin",
    "settle",
]

WriteRecord = Callable[[BuildRecord], None]


class StableMoveFailed(ModelpackError):
    """The stable tag could not be pointed at the tested model; the record says where it is."""

    exit_code = 1


def pin(client: OllamaClient, *, tag: str, stable: str) -> tuple[str, str]:
    """Copy the model `tag` holds now to its per-digest tag: `(digest, pinned tag)`.

    The digest is read before the copy and the copy's checked after it, so a `tag` replaced in
    between is caught (and its wrong copy removed) instead of pinned under the wrong name."""
    digest = client.model_digest(tag)
    if digest is None:
        raise StableMoveFailed(f"{tag} is not on the server at {client.base_url}")
    pinned = archive_tag(stable, digest)
    client.copy(tag, pinned)
    copied = client.model_digest(pinned)
    if copied != digest:
        with contextlib.suppress(ServerError):
            client.delete(pinned)
        raise StableMoveFailed(
            f"{tag} changed while it was being pinned (another process wrote it)",
            hint="make sure nothing else creates this package's tags, then build again",
        )
    return digest, pinned


def ensure_pin(client: OllamaClient, *, digest: str, tag: str, stable: str) -> str:
    """The per-digest tag of `digest`: the existing one, else pinned from `tag`, which must
    still hold `digest` (a variant replaced since it was tested is refused)."""
    pinned = archive_tag(stable, digest)
    if client.model_digest(pinned) == digest:
        return pinned
    now_digest, pinned = pin(client, tag=tag, stable=stable)
    if now_digest != digest:
        raise StableMoveFailed(
            f"{tag} holds {now_digest[:12]} now, not the {digest[:12]} that was tested",
            hint="another process replaced it; build again",
        )
    return pinned


def _moved(record: BuildRecord, move: PendingMove, at: str) -> BuildRecord:
    return record.model_copy(
        update={
            "stable_variant": move.variant,
            "stable_digest": move.digest,
            "history": [*record.history, move.change(at)],
            "pending": None,
        }
    )


def commit_move(
    client: OllamaClient,
    record: BuildRecord,
    move: PendingMove,
    *,
    write: WriteRecord,
    write_final: WriteRecord | None = None,
) -> BuildRecord:
    """Point the stable tag at `move.digest` so that the record and the server agree whatever
    happens: write the intent, copy, confirm, write the result (with `write_final`, default
    `write`). Returns the final record.

    A failed copy (a dropped connection may come after the server copied) is settled from the
    server: a move that happened is finished; one that did not is an error that says so; when
    the server cannot tell, the record keeps the move as pending. An interrupt is settled the
    same way and then goes on."""
    finish = write_final or write
    intended = record.model_copy(update={"pending": move})
    write(intended)  # nothing is moved unless the record can say so
    try:
        client.copy(move.source, move.tag)
        landed = client.model_digest(move.tag)
    except KeyboardInterrupt:
        with contextlib.suppress(ModelpackError, KeyboardInterrupt):
            settled = settle(client, intended)
            if settled is not intended:
                (finish if settled.stable_digest == move.digest else write)(settled)
        raise
    except ServerError as exc:
        try:
            settled = settle(client, intended)
        except ModelpackError:
            settled = intended
        if settled.pending is None and settled.stable_digest == move.digest:
            finish(settled)
            return settled
        write(settled)
        done = "was not changed" if settled.pending is None else "may or may not have moved"
        raise StableMoveFailed(
            f"moving {move.tag} to {move.variant} failed ({exc.message}); {move.tag} {done}",
            hint=f"`modelpack status {record.package}` says where it points now",
        ) from None
    if landed != move.digest:
        raise StableMoveFailed(
            f"{move.tag} holds {str(landed)[:12]} after the move, not {move.digest[:12]}",
            hint="another process moved it at the same time; check `modelpack status`",
        )
    final = _moved(record, move, now())
    finish(final)
    return final


PendingState = Literal["moved", "not moved", "unknown"]


def pending_state(client: OllamaClient, move: PendingMove) -> tuple[PendingState, str | None]:
    """Whether an unconfirmed move happened, from the stable tag's digest on the server."""
    holds = client.model_digest(move.tag)
    if holds == move.digest:
        return "moved", holds
    if holds == move.previous:
        return "not moved", holds
    return "unknown", holds


def settle(client: OllamaClient, record: BuildRecord) -> BuildRecord:
    """The record with an unconfirmed move resolved from the server: in the history if it
    happened, dropped if it did not; left pending when the stable tag holds something else."""
    move = record.pending
    if move is None:
        return record
    state, _ = pending_state(client, move)
    if state == "moved":
        return _moved(record, move, move.at)
    if state == "not moved":
        return record.model_copy(update={"pending": None})
    return record
