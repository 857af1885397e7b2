"""Running one prompt against a created model and measuring it, as build and matrix both do.

TTFT is measured on the client from the request to the first non-empty chunk (Ollama loads a
cold model before streaming, so a cold TTFT includes the load); load, prompt and decode
durations come from the server's counters in the final chunk; offload comes from /api/ps while
the model is loaded. Generations use a fixed seed so reruns are comparable.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

from modelpack.core.package.spec import Smoke, SmokePrompt
from modelpack.core.results.judge import Measurement
from modelpack.edge.client import OllamaClient
from modelpack.errors import ServerError, ServerTimeout

SMOKE_SEED = 1


@dataclass(frozen=True)
class Probe:
    """One generation: what `judge` needs, plus the client-side timings."""

    measurement: Measurement
    ttft_s: float | None
    total_s: float
    server_total_s: float | None


class Prober:
    def __init__(self, client: OllamaClient) -> None:
        self.client = client

    def unload_all(self) -> None:
        """Drop every loaded model, so the next load is cold and measured alone."""
        for loaded in self.client.running():
            self.unload(loaded["model"])

    def unload(self, tag: str) -> None:
        with contextlib.suppress(ServerError):
            self.client.unload(tag)

    def sizes(self, tag: str) -> tuple[int | None, int | None]:
        """(size, size_vram) of a loaded model, from /api/ps."""
        for loaded in self.client.running():
            if tag in (loaded.get("model"), loaded.get("name")):
                return loaded.get("size"), loaded.get("size_vram")
        return None, None

    def run(
        self, tag: str, prompt: SmokePrompt, smoke: Smoke, *, num_predict: int | None = None
    ) -> Probe:
        fields: dict[str, Any] = {}
        if prompt.system is not None:
            fields["system"] = prompt.system
        if smoke.think is not None:
            fields["think"] = smoke.think
        limit = num_predict or prompt.num_predict
        start = time.perf_counter()
        ttft: float | None = None
        text: list[str] = []
        final: dict[str, Any] = {}
        stream = self.client.generate(
            tag,
            prompt.prompt,
            options={"num_predict": limit, "seed": SMOKE_SEED},
            timeout=smoke.timeouts.load + smoke.timeouts.first_token,
            **fields,
        )
        for chunk in stream:
            piece = chunk.get("response", "")
            if piece and ttft is None:
                ttft = time.perf_counter() - start
            text.append(piece)
            final = chunk
            if time.perf_counter() - start > smoke.timeouts.total:
                raise ServerTimeout(
                    f"{tag} did not finish within {smoke.timeouts.total:g} s",
                    hint="raise smoke.timeouts.total, or lower num_predict",
                )
        total = time.perf_counter() - start

        def seconds(key: str) -> float | None:
            value = final.get(key)
            return value / 1e9 if isinstance(value, int | float) else None

        measurement = Measurement(
            text="".join(text),
            done_reason=final.get("done_reason"),
            num_predict=limit,
            ttft_s=ttft,
            load_s=seconds("load_duration"),
            prompt_tokens=final.get("prompt_eval_count"),
            prompt_s=seconds("prompt_eval_duration"),
            eval_tokens=final.get("eval_count"),
            eval_s=seconds("eval_duration"),
        )
        return Probe(measurement, ttft, total, seconds("total_duration"))
