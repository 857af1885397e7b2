#!/usr/bin/env python3
"""modelpack build versus the server's own CLI, creating the same three variants.

For each GGUF (the real SmolLM2, 98 MB, and a synthetic one of --large-gb GiB), the three
Modelfiles of a package are created on a fresh real Ollama 0.9.3 twice:

- modelpack: `modelpack build pkg --no-smoke` (the create phase; the CLI has no smoke test);
- baseline:  `ollama create <tag> -f <variant>.Modelfile` three times, with the 0.9.3 CLI.

"cold" is the first run on an empty server and an empty digest cache; "warm" repeats it with
nothing changed. The CLI hashes every file on every create, so its cost grows with the file;
modelpack hashes once, remembers the digest, and skips unchanged variants. Targets for the
large file: warm at least 5x faster than the CLI, cold no slower.

For the small file it also prints where modelpack's time goes: interpreter start-up, imports,
and the build itself.

    .venv/bin/python benchmarks/build_bench.py [--large-gb 4] [--skip-large]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

import fetch_model  # noqa: E402
import ollama_server as rig  # noqa: E402

from modelpack.edge.server import OllamaServer  # noqa: E402

PY = sys.executable
SPEC = """\
packages:
  pkg:
    model: bench
    from: {gguf}
    chat_template: chatml
    variants: [full, simple, lightweight]
"""


def write_large_gguf(path: Path, gib: float) -> Path:
    """A valid llama-shaped GGUF padded with one large zero tensor (written for real)."""
    import gguf
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))
    from helpers.tiny_gguf import write_tiny_gguf

    small = write_tiny_gguf(path.with_suffix(".small.gguf"))
    reader = gguf.GGUFReader(str(small))
    writer = gguf.GGUFWriter(str(path), "llama")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        value = field.contents()
        kind = field.types[0]
        if kind == gguf.GGUFValueType.ARRAY:
            writer.add_array(field.name, value)
        else:
            writer.add_key_value(field.name, value, kind)
    for tensor in reader.tensors:
        writer.add_tensor(tensor.name, np.array(tensor.data))
    columns = 1 << 20
    rows = int(gib * (1 << 30)) // (4 * columns)
    zeros = np.lib.format.open_memmap(
        path.with_suffix(".zeros.npy"), mode="w+", dtype=np.float32, shape=(rows, columns)
    )
    writer.add_tensor("padding.weight", zeros)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    del zeros
    path.with_suffix(".zeros.npy").unlink()
    small.unlink()
    past = time.time() - 3600  # not "just written": the digest cache may keep it
    os.utime(path, (past, past))
    return path


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return elapsed


def compare(gguf_path: Path, label: str, work: Path) -> None:
    project = work / f"project-{label}"
    project.mkdir()
    (project / gguf_path.name).symlink_to(gguf_path)
    (project / "modelpack.yaml").write_text(SPEC.format(gguf=gguf_path.name))
    env = {**os.environ, "MODELPACK_HOME": str(work / f"home-{label}")}
    subprocess.run(
        [PY, "-m", "modelpack", "render", "pkg"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    binary = rig.install("current").binary
    modelfiles = sorted((project / "modelfiles" / "pkg").glob("*.Modelfile"))
    build = rig.install("current")
    with (
        OllamaServer(build, work / f"srv-mp-{label}") as ours,
        OllamaServer(build, work / f"srv-cli-{label}") as theirs,
    ):
        mp_env = {**env, "OLLAMA_HOST": ours.host}
        cli_env = {**env, "OLLAMA_HOST": theirs.host, "HOME": str(work)}
        cmd = [PY, "-m", "modelpack", "build", "pkg", "--no-smoke"]
        rows = []
        for phase in ("cold", "warm"):
            mp = timed(cmd, mp_env, project)
            cli = 0.0
            for path in modelfiles:
                cli += timed(
                    [str(binary), "create", f"bench:cli-{path.stem}", "-f", str(path)],
                    cli_env,
                    project,
                )
            rows.append((phase, mp, cli))
    size = gguf_path.stat().st_size / 1e9
    print(f"\n{label}: {gguf_path.name} ({size:.2f} GB), 3 variants")
    print(f"{'':6} {'modelpack':>10} {'ollama CLI':>11} {'CLI / modelpack':>16}")
    for phase, mp, cli in rows:
        print(f"{phase:6} {mp:9.2f}s {cli:10.2f}s {cli / mp:15.1f}x")


def startup_breakdown() -> None:
    def best(cmd: list[str], runs: int = 5) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        return min(times)

    bare = best([PY, "-c", "pass"])
    cli = best([PY, "-c", "import modelpack.cli"])
    runner = best([PY, "-c", "import modelpack.jobs.build, modelpack.cli.cmd_build, rich"])
    helptext = best([PY, "-m", "modelpack", "--help"])
    print("\nwhere modelpack's fixed cost goes (best of 5):")
    print(f"  interpreter start-up             {bare * 1e3:7.0f} ms")
    print(f"  + import modelpack.cli           {(cli - bare) * 1e3:7.0f} ms")
    print(
        f"  + build's imports (httpx, ollama, pydantic, jinja2, rich)"
        f" {(runner - bare) * 1e3:5.0f} ms"
    )
    print(f"  modelpack --help, end to end     {helptext * 1e3:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-gb", type=float, default=4.0)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelpack-bench-"))
    try:
        compare(fetch_model.fetch(), "small", work)
        startup_breakdown()
        if not args.skip_large:
            large = write_large_gguf(work / "large.gguf", args.large_gb)
            compare(large, "large", work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
