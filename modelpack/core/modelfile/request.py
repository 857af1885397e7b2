"""Turn a Modelfile into a typed `POST /api/create` request for a given Ollama version.

Ollama >= 0.5.5 takes structured fields and its CLI does the Modelfile parsing on the client
(`parser/parser.go`, `Modelfile.CreateRequest`): FROM files become `files` {name: digest}, a
FROM model name becomes `from`, PARAMETERs become typed `parameters`. Older servers take the
Modelfile text itself, with local files replaced by `@sha256:...` (as their CLI did). The edge
supplies the digests of local files; this module only reads its inputs.

Which FROM and ADAPTER values name local files is decided here and nowhere else
(`local_file`), the way Ollama's CLI decides it: by whether the file exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from modelpack.core.modelfile.params import ParamValue, check_parameters
from modelpack.core.modelfile.syntax import Command, Modelfile, format_command
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

__all__ = [
    "STRUCTURED_CREATE_SINCE",
    "CreateRequest",
    "LegacyCreate",
    "StructuredCreate",
    "local_file",
    "local_file_refs",
    "looks_like_path",
    "plan_create",
    "takes_structured_create",
]

STRUCTURED_CREATE_SINCE = OllamaVersion(0, 5, 5)
"""The first Ollama whose create takes structured fields (`server/create.go`, v0.5.5)."""


def takes_structured_create(version: OllamaVersion) -> bool:
    return version.release >= STRUCTURED_CREATE_SINCE


@dataclass(frozen=True)
class StructuredCreate:
    """A create for Ollama >= 0.5.5, with the fields of the official client's `CreateRequest`.
    `body` is the JSON that model sends (a test holds the two equal); the edge sends it with
    httpx, since importing the official package costs a build about 100 ms."""

    model: str
    from_: str | None = None
    files: dict[str, str] | None = None
    adapters: dict[str, str] | None = None
    template: str | None = None
    system: str | None = None
    parameters: dict[str, ParamValue] | None = None
    messages: list[dict[str, str]] | None = None
    license: list[str] | None = None

    def body(self) -> dict[str, object]:
        """The request's JSON: the fields that are set, with `from_` sent as `from`."""
        fields = {
            "model": self.model,
            "from": self.from_,
            "files": self.files,
            "adapters": self.adapters,
            "template": self.template,
            "license": self.license,
            "system": self.system,
            "parameters": self.parameters,
            "messages": self.messages,
        }
        return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True)
class LegacyCreate:
    """A create for Ollama < 0.5.5: the Modelfile text, local files as `@sha256:` digests."""

    model: str
    modelfile: str

    def body(self) -> dict[str, object]:
        """The request's JSON."""
        return {"model": self.model, "modelfile": self.modelfile}


CreateRequest = StructuredCreate | LegacyCreate


def local_file(value: str, base: Path) -> Path | None:
    """The file a FROM or ADAPTER value names, or None for a model name. As Ollama's CLI
    decides: a value that exists as a file (relative to the Modelfile's folder `base`, `~`
    expanded) is a file; anything else is a model name."""
    path = (base / os.path.expanduser(value)).resolve()
    return path if path.is_file() else None


def looks_like_path(value: str) -> bool:
    """Whether a value reads as a file path (`*.gguf`, `./`, `../`, `/`, `~`). Ollama would take
    such a value that names no file as a model name; modelpack reports it as a missing file."""
    return value.endswith(".gguf") or value.startswith(("./", "../", "/", "~"))


def local_file_refs(modelfile: Modelfile, base: Path) -> dict[str, Path]:
    """Each FROM and ADAPTER value that names a local file, as written -> the file."""
    refs: dict[str, Path] = {}
    for command in modelfile.commands:
        if command.name in {"from", "adapter"}:
            path = local_file(command.args, base)
            if path is not None:
                refs[command.args] = path
    return refs


def plan_create(
    modelfile: Modelfile,
    *,
    name: str,
    files: Mapping[str, Path],
    digests: Mapping[Path, str],
    version: OllamaVersion,
) -> CreateRequest:
    """The create request for `modelfile`. `files` maps each FROM/ADAPTER value that names a
    local file to that file (from `local_file_refs`, or the render's declared files) and
    `digests` each file to its digest."""
    check = check_parameters(
        [(p.name, p.value, p.line) for p in modelfile.parameters], version=version
    )
    if check.errors:
        first = check.errors[0]
        raise InputError(first.message, source=name, line=first.line, hint=first.hint)
    blobs = {value: _digest(digests, path) for value, path in files.items()}
    if takes_structured_create(version):
        return _structured(modelfile, name, files, blobs, check.parameters)
    return LegacyCreate(model=name, modelfile=_legacy_text(modelfile, blobs))


def _structured(
    modelfile: Modelfile,
    name: str,
    files: Mapping[str, Path],
    blobs: Mapping[str, str],
    parameters: dict[str, ParamValue],
) -> StructuredCreate:
    source = modelfile.from_
    if source is None:
        raise InputError("no FROM line", hint="add FROM with a GGUF path or a model name")
    adapters = {files[a].name: blobs[a] for a in modelfile.adapters if a in files}
    return StructuredCreate(
        model=name,
        from_=None if source in files else source,
        files={files[source].name: blobs[source]} if source in files else None,
        adapters=adapters or None,
        template=modelfile.template,
        system=modelfile.system,
        parameters=parameters or None,
        messages=[{"role": m.role, "content": m.content} for m in modelfile.messages] or None,
        license=list(modelfile.license) or None,
    )


def _legacy_text(modelfile: Modelfile, blobs: Mapping[str, str]) -> str:
    lines = []
    for command in modelfile.commands:
        if command.name in {"from", "adapter"} and command.args in blobs:
            command = Command(command.name, f"@{blobs[command.args]}")
        lines.append(format_command(command))
    return "\n".join(lines) + "\n"


def _digest(digests: Mapping[Path, str], path: Path) -> str:
    try:
        return digests[path]
    except KeyError:
        raise InputError(f"no digest for {path}", hint="hash local files before planning") from None
