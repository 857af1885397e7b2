#!/usr/bin/env python3
"""How fast is `modelpack lint`? Target: 1,000 Modelfiles in under 1 s.

Lints 1,000 Modelfiles (the conformance corpus, repeated with variations) three ways and prints
each against a baseline measured in the same run, because absolute times drift on shared
machines:

- baseline: reading and decoding the 1,000 files (the floor any linter pays);
- core: `modelpack.core.modelfile.lint.lint` over them, in-process;
- CLI: `modelpack lint DIR` as a user runs it (interpreter start-up included).

    .venv/bin/python benchmarks/lint_bench.py [--files N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from modelpack.core.modelfile.lint import lint  # noqa: E402
from modelpack.core.modelfile.syntax import decode  # noqa: E402
from modelpack.core.versions import OllamaVersion  # noqa: E402

CORPUS = REPO / "tests" / "data" / "conformance"
TARGET = OllamaVersion.parse("0.9.3")


def make_files(folder: Path, count: int) -> list[Path]:
    sources = sorted(CORPUS.glob("*.Modelfile"))
    paths = []
    for i in range(count):
        data = sources[i % len(sources)].read_bytes()
        if i >= len(sources) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            data += f"\nPARAMETER seed {i}\nSYSTEM variant {i}\n".encode()
        path = folder / f"{i:04d}.Modelfile"
        path.write_bytes(data)
        paths.append(path)
    return paths


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_files(Path(tmp), args.files)

        def read_only() -> None:
            for path in paths:
                decode(path.read_bytes())

        def core() -> None:
            for path in paths:
                lint(path.read_bytes(), source=str(path), version=TARGET)

        cli_cmd = [sys.executable, "-m", "modelpack", "lint", tmp, "--ollama-version", "0.9.3"]

        def cli() -> None:
            subprocess.run(cli_cmd, capture_output=True, check=False)

        baseline = best_of(5, read_only)
        core_s = best_of(5, core)
        cli_s = best_of(3, cli)
        findings = [len(lint(p.read_bytes(), source="", version=TARGET).diagnostics) for p in paths]
    n = args.files
    print(f"files: {n} (mean {statistics.mean(findings):.1f} findings each)")
    print(f"baseline read+decode : {baseline * 1e3:8.1f} ms")
    print(
        f"core lint            : {core_s * 1e3:8.1f} ms  {core_s / n * 1e6:7.1f} us/file  "
        f"{core_s / baseline:5.1f}x baseline"
    )
    print(
        f"CLI modelpack lint   : {cli_s * 1e3:8.1f} ms  {cli_s / n * 1e6:7.1f} us/file  "
        f"{cli_s / baseline:5.1f}x baseline"
    )
    verdict = "PASS" if cli_s < 1.0 else "FAIL"
    print(f"target: {n} files under 1 s end to end: {verdict} ({cli_s:.2f} s)")


if __name__ == "__main__":
    main()
