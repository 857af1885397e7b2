"""The measured-memory step of `build` and `matrix`: `/api/ps` against the estimate.

The smoke loop (`modelpack.jobs.smoke`) reads `size` and `size_vram` while the model is loaded;
here they are checked against modelpack's estimate for the variant
(`modelpack.core.results.memory`) with what is known of the server. The parallel sequences a
managed server ran the load with come from its log (the runner's `--parallel N`, which Ollama
logs up to 0.12), else from the environment it was started with, else the version's default;
for any other server the version's default is assumed. The KV cache type is a managed server's
OLLAMA_KV_CACHE_TYPE, else the one the budget declares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelpack.core.gguf.memory import KV_TYPES, default_parallel
from modelpack.core.package.render import Rendered
from modelpack.core.package.spec import MemoryBudget
from modelpack.core.results.memory import MemoryCheck, budget_failure, check_memory
from modelpack.core.versions import OllamaVersion
from modelpack.edge.server import OllamaServer

__all__ = ["MemoryOutcome", "ServerMemory"]

_RUNNER_PARALLEL = re.compile(r"\brunner\b.* --parallel (\d+)")
"""The runner's command line as Ollama logs it ("starting llama server" cmd=...) up to 0.12."""


@dataclass(frozen=True)
class MemoryOutcome:
    """A variant's memory check, and what it makes of the variant."""

    check: MemoryCheck | None
    failure: str | None = None
    """The measured value is over the declared budget: the variant fails."""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServerMemory:
    """What the memory check knows of one server."""

    version: OllamaVersion
    parallel: int | None = None
    """OLLAMA_NUM_PARALLEL of a managed server; None: the version's default is assumed."""
    kv_type: str | None = None
    """OLLAMA_KV_CACHE_TYPE of a managed server; None: the budget's (else f16)."""

    @classmethod
    def of(cls, version: OllamaVersion, server: OllamaServer | None) -> ServerMemory:
        """What a managed `server` runs with (its environment; the version's default where
        OLLAMA_NUM_PARALLEL is unset or 0); nothing for any other server (None)."""
        if server is None:
            return cls(version)
        text = (server.setting("OLLAMA_NUM_PARALLEL") or "").strip()
        parallel = int(text) if text.isdigit() and int(text) > 0 else default_parallel(version)
        kv_type = (server.setting("OLLAMA_KV_CACHE_TYPE") or "").strip().lower()
        return cls(version, parallel=parallel, kv_type=kv_type if kv_type in KV_TYPES else None)

    def check(
        self,
        item: Rendered | None,
        size: int | None,
        size_vram: int | None,
        budget: MemoryBudget | None,
        *,
        log: str | None = None,
    ) -> MemoryOutcome:
        """The check for `item` loaded at `size` / `size_vram` (None: nothing was read, no
        check); over `budget` is a failure, beyond the tolerance a warning. `log`: what a
        managed server logged during the load."""
        if size is None:
            return MemoryOutcome(None)
        runner = _RUNNER_PARALLEL.findall(log or "")
        parallel = int(runner[-1]) if runner else self.parallel
        vram, ram = budget.bytes() if budget is not None else (None, None)
        kv_type = self.kv_type or (budget.kv_type if budget is not None else "f16")
        check = check_memory(
            item.info if item is not None else None,
            item.parameters if item is not None else {},
            self.version,
            size=size,
            size_vram=size_vram,
            parallel=parallel or None,
            kv_type=kv_type,
            vram=vram,
        )
        warning = check.warning()
        return MemoryOutcome(
            check, budget_failure(check, vram, ram), [warning] if warning is not None else []
        )
