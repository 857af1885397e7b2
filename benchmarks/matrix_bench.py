#!/usr/bin/env python3
"""How much does the matrix add on top of the model's own work, and how exact is its TTFT?

On a real Ollama 0.9.3 with the real SmolLM2, the embedded default's three variants are
created once, then:

1. overhead: `modelpack matrix`'s wall time versus the sum of the server-reported
   total_duration of the same runs (target: under 10%);
2. TTFT: modelpack's client-measured time to first token versus a bare httpx streaming loop
   on the same warm model and prompt, interleaved (target: medians within 5 ms).

    .venv/bin/python benchmarks/matrix_bench.py [--repeat 3] [--ttft-runs 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

import fetch_model  # noqa: E402
import ollama_server as rig  # noqa: E402

from modelpack.core.package.spec import Smoke, SmokePrompt  # noqa: E402
from modelpack.edge.blobs import DigestCache  # noqa: E402
from modelpack.edge.client import OllamaClient  # noqa: E402
from modelpack.edge.project import open_project  # noqa: E402
from modelpack.edge.server import OllamaServer  # noqa: E402
from modelpack.jobs.build import Builder  # noqa: E402
from modelpack.jobs.matrix import MatrixRunner  # noqa: E402
from modelpack.jobs.smoke import Prober  # noqa: E402

PROMPT = "What is the capital of France?"


def bare_ttft(http: httpx.Client, tag: str) -> float:
    """The baseline: one streaming request with httpx and nothing else. It reads the stream
    to the end, as modelpack does: leaving early makes Ollama cancel the generation, and the
    next request would wait for that and be charged for it."""
    body = {"model": tag, "prompt": PROMPT, "options": {"num_predict": 8, "seed": 1}}
    first: float | None = None
    start = time.perf_counter()
    with http.stream("POST", "/api/generate", json=body) as response:
        for line in response.iter_lines():
            if first is None and '"response":""' not in line:
                first = time.perf_counter() - start
    if first is None:
        raise RuntimeError("no token")
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ttft-runs", type=int, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelpack-matrix-bench-"))
    try:
        gguf = fetch_model.fetch()
        (work / "gguf").mkdir()
        (work / "gguf" / gguf.name).symlink_to(gguf)
        shutil.copy(REPO / "modelpack.yaml", work / "modelpack.yaml")
        project = open_project(work / "modelpack.yaml")
        with (
            OllamaServer(rig.install("current"), work / "srv") as server,
            OllamaClient(server.host) as client,
        ):
            Builder(project, client, cache=DigestCache(work / "d.json")).build(
                "main-gpu", smoke=False
            )
            result = MatrixRunner(project, client).run(["main-gpu"], repeat=args.repeat)
            server_s = sum(run.server_total_s or 0.0 for cell in result.cells for run in cell.runs)
            runs = sum(len(cell.runs) for cell in result.cells)
            print(
                f"matrix: {len(result.cells)} cells x {args.repeat} = {runs} runs, "
                f"{'all passed' if result.passed else 'FAILURES'}"
            )
            print(f"  wall time                      {result.wall_s:8.2f} s")
            print(f"  sum of server total_duration   {server_s:8.2f} s")
            overhead = result.wall_s / server_s - 1
            print(f"  overhead                       {overhead:8.1%}  (target < 10%)")

            tag = "smollm2:main-gpu-simple"
            prober = Prober(client)
            smoke = Smoke(prompts=[SmokePrompt(prompt=PROMPT, num_predict=8)])
            prober.run(tag, smoke.prompts[0], smoke)  # load it: both sides measure warm
            ours, bare = [], []
            with httpx.Client(base_url=client.base_url, timeout=60) as http:
                for _ in range(args.ttft_runs):
                    probe = prober.run(tag, smoke.prompts[0], smoke)
                    ours.append((probe.ttft_s or 0.0) * 1000)
                    bare.append(bare_ttft(http, tag) * 1000)
            prober.unload(tag)
        ours_med, bare_med = statistics.median(ours), statistics.median(bare)
        print(f"TTFT, warm, median of {args.ttft_runs} interleaved runs:")
        print(f"  modelpack (Prober)  {ours_med:7.1f} ms")
        print(f"  bare httpx loop     {bare_med:7.1f} ms")
        print(f"  difference          {ours_med - bare_med:+7.1f} ms  (target within 5 ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
