"""A real Docker registry on loopback that Ollama can push to and pull from: install, start,
stop. What `modelpack registry-rig` and the test rig run.

Two real servers from Debian packages (see docs/real-servers.md, "A real registry"):

- `docker-registry` (distribution 2.8.2): the Docker Registry v2 API, storing on a scratch dir;
- `nginx` (what Debian's nginx-light runs) as a front: Ollama downloads blobs only through a
  redirect (a registry that answers a blob GET with 200 makes it fail with "no Location header"),
  so the front answers blob GETs with a 307 to itself under another host spelling
  (`localhost` <-> `127.0.0.1`: Ollama follows redirects to the same host name) and proxies
  everything else, pushes included, to the registry.

Nothing is installed into the system: the .deb files are fetched with `apt-get download` and
unpacked with `dpkg-deb -x` into `<data dir>/registry/` (`project.user_dirs`). `apt-get update`
runs only when the machine has no package lists at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from modelpack.edge import started
from modelpack.edge.project import UserDirs
from modelpack.edge.server import (
    INSTALL_MANIFEST,
    LOOPBACK,
    free_port,
    spawn_in_group,
    stop_child_group,
)
from modelpack.errors import InstallError, PortInUseError, ServerStartError, SetupError

Say = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


# The .deb packages to unpack and the files that must come out of them. Debian's `nginx-light`
# is a metapackage (plus an echo module not needed here); its server binary is in `nginx`.
PACKAGES = ("docker-registry", "nginx")
BINARIES = {"registry": "usr/bin/docker-registry", "nginx": "usr/sbin/nginx"}
# Bump when the layout of an install changes, so older installs are redone.
LAYOUT = 1
ENV_VAR = "MODELPACK_REGISTRY"


def fingerprint() -> str:
    return hashlib.sha256(repr((PACKAGES, BINARIES, LAYOUT)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RegistryInstall:
    """The unpacked binaries, the library folders they need, and the package versions."""

    root: Path
    registry: Path
    nginx: Path
    versions: dict[str, str] = field(default_factory=dict)
    lib_dirs: tuple[Path, ...] = ()

    @classmethod
    def installed(cls, dirs: UserDirs) -> RegistryInstall:
        target = dirs.registry
        try:
            data = json.loads((target / INSTALL_MANIFEST).read_text())
        except FileNotFoundError:
            raise SetupError(
                f"the registry rig is not installed (no {target / INSTALL_MANIFEST})",
                hint="run: modelpack registry-rig install",
            ) from None
        return cls(
            root=target,
            registry=target / BINARIES["registry"],
            nginx=target / BINARIES["nginx"],
            versions=dict(data.get("versions", {})),
            lib_dirs=tuple(target / d for d in data.get("lib_dirs", [])),
        )

    def env(self) -> dict[str, str]:
        """The environment to run the binaries with (libraries unpacked beside them, if any)."""
        env = dict(os.environ)
        if self.lib_dirs:
            paths = [str(d) for d in self.lib_dirs]
            if env.get("LD_LIBRARY_PATH"):
                paths.append(env["LD_LIBRARY_PATH"])
            env["LD_LIBRARY_PATH"] = ":".join(paths)
        return env


# -- install ------------------------------------------------------------------------------------


def _run(
    cmd: list[str], what: str, *, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, check=False, cwd=cwd, timeout=timeout
        )
    except FileNotFoundError:
        raise InstallError(
            f"{cmd[0]} was not found: the registry rig needs Debian's apt-get and dpkg-deb",
            hint="run on Debian or Ubuntu: the rig unpacks their docker-registry and nginx",
        ) from None
    except subprocess.TimeoutExpired:
        raise InstallError(
            f"{what} took longer than {timeout:g} s",
            hint="check the network access to the Debian mirror",
        ) from None
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise InstallError(f"{what} failed (exit {result.returncode}): {last}")
    return result


def _has_candidate(package: str) -> bool:
    """Whether apt's package lists know `package` (a fresh container has no lists at all)."""
    result = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    )
    match = re.search(r"Candidate:\s*(\S+)", result.stdout)
    return match is not None and match.group(1) != "(none)"


def _ensure_package_lists(log: list[str]) -> None:
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise InstallError(
            "apt-get and dpkg-deb were not found: the registry rig unpacks Debian packages",
            hint="run on Debian or Ubuntu: the rig unpacks their docker-registry and nginx",
        )
    if all(_has_candidate(p) for p in PACKAGES):
        return
    if os.geteuid() != 0:
        raise InstallError(
            f"apt's package lists do not know {' and '.join(PACKAGES)}",
            hint="run `sudo apt-get update` once (nothing else is installed into the system)",
        )
    log.append("apt-get update (the package lists were missing)")
    _run(["apt-get", "update", "-qq"], "apt-get update", timeout=600)
    missing = [p for p in PACKAGES if not _has_candidate(p)]
    if missing:
        raise InstallError(
            f"apt knows no package {', '.join(missing)} even after apt-get update",
            hint="the rig needs Debian 12 (bookworm) or newer main archive in sources.list",
        )


def _download(packages: list[str], folder: Path) -> list[Path]:
    """`apt-get download` into `folder` (apt verifies each file against the signed lists)."""
    folder.mkdir(parents=True, exist_ok=True)
    _run(
        # As root apt drops to `_apt` for downloads, which cannot write into our folder.
        ["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", *packages],
        f"apt-get download {' '.join(packages)}",
        cwd=folder,
        timeout=600,
    )
    debs = []
    for package in packages:
        found = sorted(folder.glob(f"{package}_*.deb"))
        if not found:
            raise InstallError(f"apt-get download left no {package}_*.deb in {folder}")
        debs.append(found[-1])
    return debs


def _field(deb: Path, name: str) -> str:
    return _run(["dpkg-deb", "-f", str(deb), name], f"dpkg-deb -f {deb.name}").stdout.strip()


def _missing_lib_packages(debs: list[Path]) -> list[str]:
    """The shared-library packages the .debs depend on that this machine lacks (one level)."""
    missing = []
    for deb in debs:
        for alternatives in _field(deb, "Depends").split(","):
            name = alternatives.split("|")[0].split("(")[0].strip().split(":")[0]
            if not name.startswith("lib"):
                continue
            status = subprocess.run(
                ["dpkg-query", "-W", "-f=${Status}", name],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "install ok installed" not in status and name not in missing:
                missing.append(name)
    return missing


def _check_runs(install: RegistryInstall) -> None:
    for cmd in ([str(install.registry), "--version"], [str(install.nginx), "-v"]):
        result = subprocess.run(
            cmd, env=install.env(), capture_output=True, text=True, check=False, timeout=60
        )
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()
            raise InstallError(
                f"the unpacked {Path(cmd[0]).name} does not run "
                f"(exit {result.returncode}): {output[-1]}",
                hint="a shared library may be missing: check `ldd` on it",
            )


def install(dirs: UserDirs, *, say: Say = _quiet) -> RegistryInstall:
    """Unpack docker-registry and nginx under `<data dir>/registry/` (idempotent).

    A second call only reads install.json and checks the two binaries are there.
    """
    target = dirs.registry
    manifest = target / INSTALL_MANIFEST
    if manifest.exists():
        data = json.loads(manifest.read_text())
        if data.get("fingerprint") == fingerprint() and all(
            (target / b).exists() for b in BINARIES.values()
        ):
            return RegistryInstall.installed(dirs)

    began = time.monotonic()
    log: list[str] = []
    say(f"installing the registry rig ({', '.join(PACKAGES)}) into {target}")
    _ensure_package_lists(log)
    dirs.downloads.mkdir(parents=True, exist_ok=True)
    dirs.data.mkdir(parents=True, exist_ok=True)
    downloads = Path(tempfile.mkdtemp(prefix="debs-", dir=dirs.downloads))
    staging = Path(tempfile.mkdtemp(prefix=".registry.partial-", dir=dirs.data))
    try:
        _unpack(downloads, staging, log)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(downloads, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    for line in log:
        say(f"  {line}")
    say(f"  done in {time.monotonic() - began:.1f} s")
    return RegistryInstall.installed(dirs)


def _unpack(downloads: Path, staging: Path, log: list[str]) -> None:
    """Download the .debs (and libraries the machine lacks), unpack, write install.json and
    check that both binaries run from `staging`."""
    debs = _download(list(PACKAGES), downloads)
    extra = _missing_lib_packages(debs)
    if extra:
        log.append(f"libraries this machine lacks: {', '.join(extra)}")
        debs += _download(extra, downloads)
    versions = {}
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(staging)], f"dpkg-deb -x {deb.name}")
        versions[_field(deb, "Package")] = _field(deb, "Version")
        log.append(f"unpacked {deb.name} ({deb.stat().st_size / 1e6:.1f} MB)")
    lib_dirs = [
        d
        for d in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu")
        if extra and (staging / d).is_dir()
    ]
    # Only what the rig runs is kept: the two binaries (and any libraries) plus the manifest.
    for name in ("etc", "lib/systemd", "usr/share", "var"):
        shutil.rmtree(staging / name, ignore_errors=True)
    (staging / INSTALL_MANIFEST).write_text(
        json.dumps(
            {
                "packages": list(PACKAGES),
                "versions": versions,
                "lib_dirs": lib_dirs,
                "fingerprint": fingerprint(),
            },
            indent=2,
        )
        + "\n"
    )
    _check_runs(
        RegistryInstall(
            root=staging,
            registry=staging / BINARIES["registry"],
            nginx=staging / BINARIES["nginx"],
            lib_dirs=tuple(staging / d for d in lib_dirs),
        )
    )


# -- the running rig -----------------------------------------------------------------------------

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: {secret}
"""

# `$host` is the name the client used; the redirect names the other spelling of loopback,
# because Ollama follows a redirect to the same host name and then finds no Location header.
# A regex with `{64}` must be quoted, or nginx reads the braces as a block.
NGINX_CONFIG = """\
daemon off;
master_process off;
pid {work}/nginx.pid;
error_log {work}/error.log notice;
events {{ worker_connections 256; }}
http {{
    access_log {work}/access.log;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    map $host $other_loopback {{
        localhost 127.0.0.1;
        default localhost;
    }}
    server {{
        listen 127.0.0.1:{front_port};
        location ~ "^/v2/(.+)/blobs/(sha256:[0-9a-f]{{64}})$" {{
            if ($request_method = GET) {{
                return 307 http://$other_loopback:{front_port}/direct/v2/$1/blobs/$2;
            }}
            proxy_pass http://127.0.0.1:{registry_port};
            proxy_set_header Host $http_host;
        }}
        location /direct/ {{
            proxy_pass http://127.0.0.1:{registry_port}/;
            proxy_set_header Host $http_host;
        }}
        location / {{
            proxy_pass http://127.0.0.1:{registry_port};
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


class Registry:
    """docker-registry on one free loopback port and the redirecting nginx front on another.

    Clients (Ollama, RegistryClient) use `host`/`url`, the front; `direct_host`/`direct_url` is
    the bare registry, from which Ollama cannot pull. Both processes run in their own process
    groups; with `die_with_parent` (the default) Linux ends them if this process dies.
    """

    _START_ATTEMPTS = 3

    def __init__(
        self,
        install: RegistryInstall,
        workdir: Path,
        *,
        ready_timeout: float = 30.0,
        die_with_parent: bool = True,
    ) -> None:
        self.install = install
        self.workdir = workdir
        self.ready_timeout = ready_timeout
        self.die_with_parent = die_with_parent
        self.port: int | None = None
        self.front_port: int | None = None
        self._registry: subprocess.Popen[bytes] | None = None
        self._front: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    @property
    def registry_log(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def front_log(self) -> Path:
        return self.workdir / "nginx" / "error.log"

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT` of the front: what goes into Ollama model names."""
        return _loopback(self.front_port)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def direct_host(self) -> str:
        return _loopback(self.port)

    @property
    def direct_url(self) -> str:
        return f"http://{self.direct_host}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in (self._registry, self._front) if p is not None]

    @property
    def alive(self) -> bool:
        procs = (self._registry, self._front)
        return all(p is not None and p.poll() is None for p in procs)

    def start(self) -> Registry:
        for attempt in range(self._START_ATTEMPTS):
            try:
                self._start_registry(free_port())
                self._start_front(free_port())
                return self
            except PortInUseError:
                self.stop()
                if attempt == self._START_ATTEMPTS - 1:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _spawn(self, cmd: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        return spawn_in_group(cmd, self.install.env(), log_path, tie_to_parent=self.die_with_parent)

    def _start_registry(self, port: int) -> None:
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "registry.yml"
        config.write_text(
            REGISTRY_CONFIG.format(
                storage=self.storage, addr=f"{LOOPBACK}:{port}", secret=secrets.token_hex(16)
            )
        )
        self._registry = self._spawn(
            [str(self.install.registry), "serve", str(config)], self.registry_log
        )
        self.port = port
        self._wait_ready(self._registry, f"http://{LOOPBACK}:{port}/v2/", "docker-registry")

    def _start_front(self, port: int) -> None:
        work = self.workdir / "nginx"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        config = work / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(work=work, front_port=port, registry_port=self.port))
        # -e: the log nginx opens before reading its config (the compiled-in one is in /var/log).
        cmd = [
            str(self.install.nginx),
            "-p",
            f"{work}/",
            "-c",
            str(config),
            "-e",
            str(self.front_log),
        ]
        self._front = self._spawn(cmd, work / "stdout.log")
        self.front_port = port
        self._wait_ready(self._front, f"http://{LOOPBACK}:{port}/v2/", "nginx")

    def _wait_ready(self, process: subprocess.Popen[bytes], probe: str, name: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        log = self.registry_log if name == "docker-registry" else self.front_log
        while True:
            code = process.poll()
            if code is not None:
                tail = _log_tail(log)
                if "address already in use" in tail.lower():
                    raise PortInUseError(f"{name} lost a race for its port: {tail}")
                raise ServerStartError(
                    f"{name} exited with code {code} before answering on {probe}: "
                    f"{tail or 'no output'}",
                    hint=f"see its log: {log}",
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(probe, timeout=0.5).status_code == 200:
                    return
            if time.monotonic() >= deadline:
                raise ServerStartError(
                    f"{name} did not answer on {probe} within {self.ready_timeout:g} s",
                    hint=f"see its log: {log}",
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the front, then the registry (each whole process group); idempotent."""
        for attr in ("_front", "_registry"):
            process = getattr(self, attr)
            setattr(self, attr, None)
            if process is not None:
                stop_child_group(process, timeout)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.url} -> {self.direct_url}" if self.front_port else "not started"
        return f"<Registry {where}>"


def _loopback(port: int | None) -> str:
    if port is None:
        raise SetupError("the registry rig has not been started")
    return f"{LOOPBACK}:{port}"


def _log_tail(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return ""
    for line in reversed(lines):
        if "emerg" in line or "level=fatal" in line or "level=error" in line:
            return line
    return lines[-1] if lines else ""


# -- the rig `start` leaves running ---------------------------------------------------------------

STATE = "registry"


@dataclass(frozen=True)
class StartedRig:
    """What `start` recorded, and whether the front still answers."""

    host: str
    direct_host: str
    answering: bool


def start(dirs: UserDirs, *, timeout: float = 30.0, say: Say = _quiet) -> str:
    """Start the rig (or reuse the one a previous `start` left running); returns the front."""
    path = started.state_path(dirs.run, STATE)
    state = started.read_state(path)
    if state is not None:
        if started.probe_started(state, _answers):
            say(f"reusing the registry rig at {state['host']}")
            return str(state["host"])
        stop(dirs)
    dirs.run.mkdir(parents=True, exist_ok=True)
    rig = Registry(
        install(dirs, say=say),
        Path(tempfile.mkdtemp(prefix="registry-", dir=dirs.run)),
        ready_timeout=timeout,
        die_with_parent=False,
    ).start()
    started.write_state(
        path,
        {
            "pids": rig.pids,
            "host": rig.host,
            "direct_host": rig.direct_host,
            "workdir": str(rig.workdir),
        },
    )
    say(
        f"started the registry rig: front {rig.host}, registry {rig.direct_host}, "
        f"storage {rig.storage}"
    )
    return rig.host


def _answers(host: str) -> bool:
    try:
        return httpx.get(f"http://{host}/v2/", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(dirs: UserDirs, *, say: Say = _quiet) -> None:
    state = started.stop_started(started.state_path(dirs.run, STATE))
    if state is None:
        return
    shutil.rmtree(state.get("workdir", ""), ignore_errors=True)
    say(f"stopped the registry rig at {state['host']}")


def status(dirs: UserDirs) -> StartedRig | None:
    state = started.read_state(started.state_path(dirs.run, STATE))
    if state is None:
        return None
    return StartedRig(
        host=str(state["host"]),
        direct_host=str(state["direct_host"]),
        answering=bool(started.probe_started(state, _answers)),
    )


__all__ = [
    "ENV_VAR",
    "Registry",
    "RegistryInstall",
    "StartedRig",
    "install",
    "start",
    "status",
    "stop",
]
