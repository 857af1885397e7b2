"""How contended this machine's CPUs are, from Linux's pressure stall information (PSI).

A model answering on a contended CPU is slowed many times over, not by a few percent: ggml's
threads wait for each other at every step, so one busy-looping process on a 2-core machine made
SmolLM2 decode 3-30x slower, with repeats that still agreed. Timing measured then says nothing
about the model, so the matrix records for each cell the share of its wall time in which some
runnable task waited for a CPU (`/proc/pressure/cpu`, the "some" line), and a baseline
comparison does not judge a contended cell's timing. Where the kernel has no PSI (not Linux,
or built without it) nothing is recorded and timing is judged as before.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["PSI_CPU", "CpuPressure", "cpu_stalled_s", "on_this_machine"]

PSI_CPU = Path("/proc/pressure/cpu")


def cpu_stalled_s(source: Path = PSI_CPU) -> float | None:
    """Seconds since boot in which some runnable task waited for a CPU; None without PSI."""
    try:
        text = source.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind == "some":
            for field in fields:
                name, _, value = field.partition("=")
                if name == "total" and value.isdigit():
                    return int(value) / 1e6  # microseconds
    return None


class CpuPressure:
    """Opened when created; `share()` is the part of the wall time since then (0 to 1) in
    which some task on this machine waited for a CPU, or None without PSI."""

    def __init__(
        self, source: Path = PSI_CPU, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._source = source
        self._clock = clock
        self._stalled = cpu_stalled_s(source)
        self._started = clock()

    def share(self) -> float | None:
        stalled = cpu_stalled_s(self._source)
        elapsed = self._clock() - self._started
        if self._stalled is None or stalled is None or elapsed <= 0:
            return None
        return round(min(max((stalled - self._stalled) / elapsed, 0.0), 1.0), 3)


def on_this_machine(base_url: str) -> bool:
    """Whether a server's URL is a loopback address: only then does this machine's CPU
    pressure bear on the server's timing."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
