"""Time and memory budgets for tests that feed hostile input to a reader or loader.

`deadline` turns a hang into a failure (SIGALRM raises inside any Python loop), and `peak_of`
measures the most memory one call allocated while tracemalloc traces (`tracing`). The GGUF and
spec fuzz tests and the hostile-input tests share them.
"""

from __future__ import annotations

import contextlib
import signal
import tracemalloc
from collections.abc import Callable, Iterator


class Hang(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float, *, cpu: bool = False) -> Iterator[None]:
    """Interrupt the work if it loops: a timer signal raises in the main thread, inside any
    loop. `cpu`: count the process's CPU time, not the clock's, so that a machine busy with
    other work does not fail a budget (a loop still burns CPU; a blocked read does not)."""

    def expire(signum: int, frame: object) -> None:
        raise Hang(f"no result within {seconds} s{' of CPU time' if cpu else ''}")

    timer, signum = (
        (signal.ITIMER_PROF, signal.SIGPROF) if cpu else (signal.ITIMER_REAL, signal.SIGALRM)
    )
    previous = signal.signal(signum, expire)
    signal.setitimer(timer, seconds)
    try:
        yield
    finally:
        signal.setitimer(timer, 0)
        signal.signal(signum, previous)


@contextlib.contextmanager
def tracing() -> Iterator[None]:
    """Trace allocations for `peak_of` (tracing slows Python down several times)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def peak_of(work: Callable[[], object]) -> int:
    """The most memory `work()` had allocated at once, above what was allocated before it."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    work()
    return tracemalloc.get_traced_memory()[1] - before


def whole_suite() -> bool:
    """True in the whole suite (`scripts/test.sh` with no arguments, which CI runs, sets
    MODELPACK_SUITE=full); False in a selection such as the quick `-m "not integration"` loop,
    which must stay under a minute."""
    import os

    return os.environ.get("MODELPACK_SUITE") == "full"


def fuzz_examples(thorough: int) -> int:
    """How many examples a fuzz test runs: all `thorough` of them in the whole suite, a
    twentieth in the quick loop."""
    return thorough if whole_suite() else max(20, thorough // 20)
