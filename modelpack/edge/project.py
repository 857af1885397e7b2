"""A project on disk: its spec file, its template folders, and the Ollama version it targets.

The core renders from text and paths it is given; this is where the paths are found and the
target version is chosen: `--ollama-version`, else the spec's `ollama.version`, else the
version of the server at OLLAMA_HOST (or the spec's host) if one answers, else the newest
version modelpack knows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelpack.core.inputs import SPEC_LIMIT, read_text
from modelpack.core.modelfile.params import NEWEST
from modelpack.core.package.render import Renderer
from modelpack.core.package.spec import LoadedSpec, load_spec
from modelpack.core.versions import OllamaVersion
from modelpack.errors import SetupError, UsageError

DEFAULT_SPEC = "modelpack.yaml"


def _builtin_templates() -> Path:
    """The copy a wheel carries (modelpack/_templates, see pyproject.toml), else the
    templates/ folder of the source checkout an editable install runs from."""
    package = Path(__file__).resolve().parents[1]
    wheel = package / "_templates"
    return wheel if wheel.is_dir() else package.parent / "templates"


BUILTIN_TEMPLATES = _builtin_templates()


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
        """Where modelpack keeps this project's state (digest cache, managed servers):
        $MODELPACK_HOME, else `<spec dir>/.modelpack`."""
        return Path(os.environ.get("MODELPACK_HOME") or self.spec_dir / ".modelpack")

    def renderer(self, version: OllamaVersion | None = None) -> Renderer:
        """A renderer for `version` (default: the project's target; build passes the server's)."""
        return Renderer(
            self.loaded,
            spec_dir=self.spec_dir,
            version=version or self.version,
            template_dirs=self.template_dirs,
        )


def ollama_host(project: Project) -> str:
    """The Ollama to work on: OLLAMA_HOST, else the spec's host, else Ollama's default; it
    must answer."""
    from modelpack.edge.server import base_url, server_version

    host = os.environ.get("OLLAMA_HOST") or project.loaded.spec.ollama.host or "127.0.0.1:11434"
    if server_version(base_url(host)) is None:
        raise SetupError(
            f"no Ollama answers at {base_url(host)}",
            hint="start one and set OLLAMA_HOST, or pass --serve to let modelpack run one",
        )
    return host


def open_project(spec_file: Path | None, *, version: str | None = None) -> Project:
    path = (spec_file or Path(DEFAULT_SPEC)).resolve()
    if not path.is_file():
        raise UsageError(
            f"no spec file at {path}",
            hint="create one with `modelpack init GGUF`, or point at it with -f",
        )
    source = str(shown(path))
    loaded = load_spec(read_text(path, limit=SPEC_LIMIT, what="spec", source=source), source=source)
    target, origin = _target(loaded, version)
    return Project(loaded, path, target, origin)


def _target(loaded: LoadedSpec, flag: str | None) -> tuple[OllamaVersion, str]:
    if flag:
        return OllamaVersion.parse(flag), "--ollama-version"
    if loaded.spec.ollama.version is not None:
        return loaded.spec.ollama.version, "the spec"
    host = os.environ.get("OLLAMA_HOST") or loaded.spec.ollama.host
    if host:
        from modelpack.edge.server import base_url, server_version

        found = server_version(base_url(host), timeout=1.0)
        if found:
            return OllamaVersion.parse(found), f"the server at {host}"
    return NEWEST, "newest known"


def shown(path: Path) -> Path:
    """The path as a user would type it: relative to the current folder when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
