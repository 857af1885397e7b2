"""Progress events the jobs report to a display: what is happening, to what.

Every job takes an `on_event` callback; the CLI turns events into progress lines and verdict
lines. Kinds are an enum, and a verdict or a pushed digest travels in its own field, so a
display never parses a message back apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from modelpack.core.results.record import Verdict

__all__ = ["Event", "EventKind", "OnEvent", "ignore"]


class EventKind(StrEnum):
    # build
    HASH = "hash"
    UPLOAD = "upload"
    CREATE = "create"
    PARITY = "parity"
    VERDICT = "verdict"
    RESTART = "restart"
    STABLE = "stable"
    # smoke (build, promote, matrix, verify-pull)
    LOAD = "load"
    SMOKE = "smoke"
    # publish and verify-pull
    PING = "ping"
    COPY = "copy"
    PUSH = "push"
    RETRY = "retry"
    VERIFY = "verify"
    PUSHED = "pushed"
    SERVE = "serve"
    PULL = "pull"
    CHECK = "check"


@dataclass(frozen=True)
class Event:
    """`subject` is what the event is about: a variant (build, smoke) or a registry name
    (publish); None for the job as a whole."""

    kind: EventKind
    subject: str | None
    message: str
    done: int | None = None
    total: int | None = None
    verdict: Verdict | None = None
    """VERDICT events: how the variant did (the reason is in `message`)."""
    digest: str | None = None
    """PUSHED events: the registry's manifest digest."""


OnEvent = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default callback: no display."""
