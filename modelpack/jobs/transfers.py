"""What `push` and `verify-pull` share: registry names for local tags, the registry ping, and
the retry loop that follows an Ollama push or pull stream.

A push or pull that fails is retried when the cause is transient (the registry unreachable or
resetting connections, a 5xx, no progress for `stall_timeout`), with a doubling backoff and
bounded attempts. The server doing the transfer going away is never retried: what it left is
checked instead.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from modelpack.edge.project import Project
from modelpack.edge.registry import RegistryClient, RegistryRef, parse_model_name
from modelpack.edge.replies import one_line
from modelpack.errors import (
    ModelpackError,
    ServerError,
    ServerGoneError,
    ServerTimeout,
    SetupError,
    UsageError,
)
from modelpack.jobs.events import Event, EventKind, OnEvent, ignore

__all__ = [
    "RegistryJob",
    "RegistryUnavailable",
    "Retrier",
    "TransferFailed",
    "is_transient",
    "ping",
    "registry_ref",
    "resolve_registry",
]

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


class RegistryUnavailable(SetupError):
    """The registry does not answer (or is not a registry): nothing was sent."""


class TransferFailed(ModelpackError):
    """A push or pull still failed after its retries."""

    exit_code = 1


class _Stalled(Exception):
    """A push or pull made no progress for the stall timeout."""


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


def ping(registry: RegistryClient, consequence: str, emit: OnEvent = ignore) -> None:
    """Check the registry answers before anything is sent; `consequence` ends the error."""
    emit(Event(EventKind.PING, None, f"checking the registry at {registry.base_url}"))
    try:
        registry.ping()
    except ServerError as exc:
        raise RegistryUnavailable(f"{exc.message}; {consequence}", hint=exc.hint) from None


@dataclass(frozen=True)
class Retrier:
    """Follows push and pull streams to the end, retrying transient failures.

    `attempts`, `backoff` (doubling) and `stall_timeout` bound one push or pull; `sleep` is
    passed in so tests need not wait."""

    emit: OnEvent = ignore
    attempts: int = 3
    backoff: float = 2.0
    stall_timeout: float = 120.0
    sleep: Callable[[float], None] = time.sleep
    failure: type[ModelpackError] = TransferFailed
    """The error raised when every attempt failed."""

    def run(self, kind: str, name: str, start: Callable[[], Iterable[dict[str, Any]]]) -> list[str]:
        """Run a push or pull stream to the end; returns the blob digests the server reported
        (in order)."""
        attempts = max(1, self.attempts)
        for attempt in range(1, attempts + 1):
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
                reason = one_line(exc.server_message or exc.message)
                if not is_transient(reason):
                    raise
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # ends the HTTP request, which cancels the push on the server
            if attempt == attempts:
                raise self.failure(f"{kind} of {name} failed {attempt} times, last: {reason}")
            delay = self.backoff * 2 ** (attempt - 1)
            self.emit(
                Event(
                    EventKind.RETRY,
                    name,
                    f"{kind} attempt {attempt}/{attempts} failed ({reason}); "
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
        event = EventKind.PUSH if kind == "push" else EventKind.PULL
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
                Event(
                    event,
                    name,
                    str(line.get("status", "")),
                    line.get("completed"),
                    line.get("total"),
                )
            )


class RegistryJob:
    """What push and verify-pull are set up with: the project, the registry named by the spec
    or by `namespace`/`insecure`, and the retries of one transfer.

    `registry_factory(host, insecure)` makes the v2 client (tests can point it elsewhere);
    `attempts`, `backoff` and `stall_timeout` bound the retries of one push or pull.
    """

    failure: type[ModelpackError] = TransferFailed
    """What a transfer that failed every attempt raises."""

    def __init__(
        self,
        project: Project,
        *,
        namespace: str | None = None,
        insecure: bool = False,
        registry_factory: Callable[[str, bool], RegistryClient] | None = None,
        on_event: OnEvent = ignore,
        attempts: int = 3,
        backoff: float = 2.0,
        stall_timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.project = project
        self.namespace, self.insecure = resolve_registry(project, namespace, insecure=insecure)
        self.registry_factory = registry_factory or (
            lambda host, insecure: RegistryClient(host, insecure=insecure)
        )
        self.emit = on_event
        self.retrier = Retrier(on_event, attempts, backoff, stall_timeout, sleep, self.failure)
