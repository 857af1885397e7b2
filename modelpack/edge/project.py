"""Where a command works: the spec and its templates, the Ollama host, modelpack's home, the
target version and a managed server. Every command resolves these here, the same way.

- **Host**: `OLLAMA_HOST`, else the spec's `ollama.host`, else Ollama's default
  (`configured_host`); a command that needs a server asks `require_server`, whose error names
  `--serve` only for commands that offer it.
- **Home** (digest cache, `--serve` servers' models): `$MODELPACK_HOME`, else
  `<spec dir>/.modelpack`, else `./.modelpack` for commands without a spec (`home_dir`).
- **User dirs** (installed Ollama builds, the registry rig, servers `modelpack server start`
  left running, downloads): `$MODELPACK_HOME` for all of them, else the platform's per-user
  data and cache directories, `$XDG_DATA_HOME/modelpack` and `$XDG_CACHE_HOME/modelpack` on
  Linux (`user_dirs`).
- **Target version**: `--ollama-version`, else the spec's `ollama.version`, else the version of
  the server at the configured host if one answers within a second, else the newest version
  modelpack knows (`target_version`).
- **Managed server**: the `ollama` on PATH, else an installed CPU build, looked for in the
  project's home, then in the user data dir (`find_build`, `managed_server`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from modelpack.core.inputs import SPEC_LIMIT, read_text
from modelpack.core.modelfile.params import NEWEST
from modelpack.core.versions import OllamaVersion
from modelpack.errors import SetupError, UsageError

if TYPE_CHECKING:
    from modelpack.core.package.render import Rendered, Renderer
    from modelpack.core.package.spec import LoadedSpec
    from modelpack.edge.client import OllamaClient
    from modelpack.edge.server import OllamaBuild, OllamaServer

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_HOST",
    "DEFAULT_SPEC",
    "Project",
    "UserDirs",
    "configured_host",
    "explicit_host",
    "find_build",
    "home_dir",
    "managed_server",
    "no_server",
    "open_project",
    "require_server",
    "shown",
    "target_version",
    "user_dirs",
]

DEFAULT_SPEC = "modelpack.yaml"
DEFAULT_HOST = "127.0.0.1:11434"
"""Ollama's own default when OLLAMA_HOST is unset (`envconfig.Host`)."""


def _builtin_templates() -> Path:
    """The copy a wheel carries (modelpack/_templates, see pyproject.toml), else the
    templates/ folder of the source checkout an editable install runs from."""
    package = Path(__file__).resolve().parents[1]
    wheel = package / "_templates"
    return wheel if wheel.is_dir() else package.parent / "templates"


BUILTIN_TEMPLATES = _builtin_templates()


def explicit_host(spec_host: str | None = None) -> str | None:
    """OLLAMA_HOST, else the spec's host, when either is set; checked here, so a malformed one
    is one error line that names where it came from."""
    from modelpack.edge.server import base_url

    for source, host in (
        ("OLLAMA_HOST", os.environ.get("OLLAMA_HOST")),
        ("ollama.host", spec_host),
    ):
        if host:
            try:
                base_url(host)
            except UsageError as exc:
                raise UsageError(f"{source}: {exc.message}", hint=exc.hint) from None
            return host
    return None


def configured_host(spec_host: str | None = None) -> str:
    """The Ollama to work on: OLLAMA_HOST, else the spec's host, else Ollama's default."""
    return explicit_host(spec_host) or DEFAULT_HOST


def require_server(host: str, *, offers_serve: bool = False) -> str:
    """`host`, once an Ollama answers there; else a setup error that says how to get one."""
    from modelpack.edge.server import base_url, server_version  # httpx: only when asked

    if server_version(base_url(host)) is None:
        raise no_server(host, offers_serve=offers_serve)
    return host


def no_server(host: str, *, offers_serve: bool = False) -> SetupError:
    """The error of a command that needs an Ollama at `host` and finds none there (for a
    command that asks its own client first instead of calling `require_server`)."""
    from modelpack.edge.server import base_url

    hint = "start one and set OLLAMA_HOST, or " + (
        "pass --serve to let modelpack run one" if offers_serve else "the spec's ollama.host"
    )
    return SetupError(f"no Ollama answers at {base_url(host)}", hint=hint)


def home_dir(spec_dir: Path | None = None) -> Path:
    """modelpack's state (digest cache, managed servers): $MODELPACK_HOME, else `.modelpack`
    beside the spec, else in the current folder."""
    configured = os.environ.get("MODELPACK_HOME")
    if configured:
        return Path(configured)
    return (spec_dir or Path.cwd()) / ".modelpack"


def target_version(
    flag: str | None, *, spec_version: OllamaVersion | None = None, host: str | None = None
) -> tuple[OllamaVersion, str]:
    """The Ollama version to render and lint for, and where that choice came from."""
    if flag:
        try:
            return OllamaVersion.parse(flag), "--ollama-version"
        except UsageError as exc:
            raise UsageError(f"--ollama-version: {exc.message}", hint=exc.hint) from None
    if spec_version is not None:
        return spec_version, "the spec"
    if host:
        from modelpack.edge.server import base_url, server_version

        found = server_version(base_url(host), timeout=1.0)
        if found:
            return OllamaVersion.parse(found), f"the server at {host}"
    return NEWEST, "newest known"


@dataclass(frozen=True)
class UserDirs:
    """Where modelpack keeps what belongs to the user rather than to a project.

    `data`: installed Ollama builds (`ollama/<name>/`), the registry rig (`registry/`) and the
    servers `modelpack server start` left running (`run/`). `cache`: downloads (`downloads/`),
    which can be deleted at any time. With `$MODELPACK_HOME` both are that one folder: the
    layout of a checkout's `.modelpack/`.
    """

    data: Path
    cache: Path

    @property
    def ollama(self) -> Path:
        return self.data / "ollama"

    @property
    def registry(self) -> Path:
        return self.data / "registry"

    @property
    def run(self) -> Path:
        return self.data / "run"

    @property
    def downloads(self) -> Path:
        return self.cache / "downloads"


def user_dirs(env: Mapping[str, str] | None = None) -> UserDirs:
    """`$MODELPACK_HOME` if set, else the platform's per-user data and cache directories:
    `$XDG_DATA_HOME` (default `~/.local/share`) and `$XDG_CACHE_HOME` (default `~/.cache`) on
    Linux and other Unix systems, `~/Library/Application Support` and `~/Library/Caches` on
    macOS; each with a `modelpack` folder. A relative XDG value is ignored, as the XDG Base
    Directory spec says."""
    env = os.environ if env is None else env
    configured = env.get("MODELPACK_HOME")
    if configured:
        root = Path(configured).expanduser().absolute()
        return UserDirs(data=root, cache=root)
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "darwin":
        data, cache = home / "Library" / "Application Support", home / "Library" / "Caches"
    else:
        data = _xdg(env, "XDG_DATA_HOME") or home / ".local" / "share"
        cache = _xdg(env, "XDG_CACHE_HOME") or home / ".cache"
    return UserDirs(data=data / "modelpack", cache=cache / "modelpack")


def _xdg(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name)
    return Path(value) if value and Path(value).is_absolute() else None


def find_build(home: Path | None = None, name: str = "current") -> OllamaBuild:
    """The Ollama a managed server runs (`build --serve`, `push --serve`, `verify-pull`): the
    `ollama` on PATH, else the installed CPU build `name`, from the project's home (`home`, a
    checkout's `.modelpack`) or else the user data dir (`modelpack server install`)."""
    from modelpack.edge.server import INSTALL_MANIFEST, OllamaBuild

    found = OllamaBuild.on_path()
    if found is not None:
        return found
    places = list(
        dict.fromkeys(p.absolute() for p in [*([home] if home else []), user_dirs().data])
    )
    for place in places:
        if (place / "ollama" / name / INSTALL_MANIFEST).is_file():
            return OllamaBuild.installed(place, name)
    where = " or ".join(str(place / "ollama" / name) for place in places)
    raise SetupError(
        f"no `ollama` on PATH and Ollama build '{name}' is not installed (looked in {where})",
        hint=f"run: modelpack server install {name} (or put Ollama's `ollama` on PATH)",
    )


def managed_server(home: Path) -> OllamaServer:
    """Start the Ollama modelpack manages for `--serve` (`find_build`), with its models under
    `<home>/run/`. The caller stops it."""
    from modelpack.edge.server import OllamaServer

    build = find_build(home)
    return OllamaServer(build, home / "run" / f"serve-{build.name}", ready_timeout=60).start()


@dataclass(frozen=True)
class Project:
    loaded: LoadedSpec
    spec_path: Path
    version: OllamaVersion
    version_from: str

    @property
    def spec_dir(self) -> Path:
        return self.spec_path.parent

    @property
    def template_dirs(self) -> list[Path]:
        """The project's own templates first, then modelpack's built-in ones."""
        own = self.spec_dir / "templates"
        dirs = [own] if own.is_dir() else []
        if BUILTIN_TEMPLATES.is_dir() and BUILTIN_TEMPLATES.resolve() not in {
            d.resolve() for d in dirs
        }:
            dirs.append(BUILTIN_TEMPLATES)
        return dirs

    @property
    def home(self) -> Path:
        return home_dir(self.spec_dir)

    @property
    def host(self) -> str:
        """The configured host (not checked: see `server_host`)."""
        return configured_host(self.loaded.spec.ollama.host)

    def server_host(self, *, offers_serve: bool = False) -> str:
        """The configured host, once an Ollama answers there."""
        return require_server(self.host, offers_serve=offers_serve)

    def client(self, host: str) -> OllamaClient:
        """A client for `host` with the spec's timeouts (`ollama.timeouts`)."""
        from modelpack.edge.client import OllamaClient

        timeouts = self.loaded.spec.ollama.timeouts
        return OllamaClient(host, api_timeout=timeouts.api, create_timeout=timeouts.create)

    def local_files(self, package: str) -> list[Path]:
        """The files the package's FROM values name (its own and its variants'), resolved as
        the renderer resolves them; a value that names a model is left out."""
        from modelpack.core.modelfile.request import local_file

        spec = self.loaded.package(package)
        values = [spec.from_, *(v.from_ for v in spec.variants if v.from_)]
        found = (local_file(value, self.spec_dir) for value in values)
        return list(dict.fromkeys(path for path in found if path is not None))

    def rendered_variant(
        self, package: str, variant: str, version: OllamaVersion | None = None
    ) -> Rendered | None:
        """One variant as the spec renders it now for `version` (promote and verify-pull judge
        a built model against it); None when the spec no longer has that variant."""
        if variant not in {v.name for v in self.loaded.package(package).variants}:
            return None
        return self.renderer(version).render_package(package, [variant])[0]

    def renderer(self, version: OllamaVersion | None = None) -> Renderer:
        """A renderer for `version` (default: the project's target; build passes the server's)."""
        from modelpack.core.package.render import Renderer

        return Renderer(
            self.loaded,
            spec_dir=self.spec_dir,
            version=version or self.version,
            template_dirs=self.template_dirs,
        )


def open_project(spec_file: Path | None, *, version: str | None = None) -> Project:
    from modelpack.core.package.spec import load_spec

    path = (spec_file or Path(DEFAULT_SPEC)).resolve()
    if not path.is_file():
        raise UsageError(
            f"no spec file at {path}",
            hint="create one with `modelpack init GGUF`, or point at it with -f",
        )
    source = str(shown(path))
    loaded = load_spec(read_text(path, limit=SPEC_LIMIT, what="spec", source=source), source=source)
    spec = loaded.spec.ollama
    # Only an explicit host is asked for its version: never a guess at the default port.
    asked = explicit_host(spec.host) if spec.version is None and not version else None
    target, origin = target_version(version, spec_version=spec.version, host=asked)
    return Project(loaded, path, target, origin)


def shown(path: Path) -> Path:
    """The path as a user would type it: relative to the current folder when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
