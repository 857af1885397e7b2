"""Turn a Modelfile into the body of `POST /api/create` for a given Ollama version.

Ollama >= 0.5.5 takes structured fields and its CLI does the Modelfile parsing on the client
(`parser.Modelfile.CreateRequest`): FROM files become `files` {name: digest}, a FROM model name
becomes `from`, PARAMETERs become typed `parameters`. Older servers take the Modelfile text
itself, with local files replaced by `@sha256:...` (as their CLI did). The edge supplies the
digests of local files; this module only reads its inputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack.core.modelfile.params import check_parameters
from modelpack.core.modelfile.syntax import Command, Modelfile, format_command, parse
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

STRUCTURED_SINCE = OllamaVersion(0, 5, 5)

__all__ = ["STRUCTURED_SINCE", "CreatePlan", "local_file_refs", "local_files", "plan_create"]


@dataclass(frozen=True)
class CreatePlan:
    """What to send, and which local files must be uploaded as blobs first."""

    body: dict[str, Any]
    files: dict[Path, str]
    """Local file -> digest, for every file the request refers to."""


def local_file_refs(modelfile: Modelfile, base: Path) -> list[tuple[str, Path]]:
    """Each FROM and ADAPTER that names a local file: its value as written, and the file
    (paths are relative to the Modelfile's folder)."""
    out = []
    for command in modelfile.commands:
        if command.name in {"from", "adapter"} and _is_path(command.args, base):
            out.append((command.args, _resolve(command.args, base)))
    return out


def local_files(modelfile: Modelfile, base: Path) -> list[Path]:
    """The local files FROM and ADAPTER name."""
    return [path for _, path in local_file_refs(modelfile, base)]


def plan_create(
    text: str,
    *,
    name: str,
    base: Path,
    digests: Mapping[Path, str],
    version: OllamaVersion,
) -> CreatePlan:
    """The create request for Modelfile `text` (whose paths are relative to `base`)."""
    modelfile = parse(text, source=name)
    check = check_parameters(
        [(p.name, p.value, p.line) for p in modelfile.parameters], version=version
    )
    if check.errors:
        first = check.errors[0]
        raise InputError(first.message, source=name, line=first.line, hint=first.hint)
    files = {path: _digest(digests, path) for path in local_files(modelfile, base)}
    if version.release >= STRUCTURED_SINCE:
        body = _structured(modelfile, base, files, check.parameters)
    else:
        body = {"modelfile": _legacy_text(modelfile, base, files)}
    return CreatePlan({"model": name, **body}, files)


def _structured(
    modelfile: Modelfile, base: Path, files: Mapping[Path, str], parameters: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    source = modelfile.from_
    if source is None:
        raise InputError("no FROM line", hint="add FROM with a GGUF path or a model name")
    if _is_path(source, base):
        path = _resolve(source, base)
        body["files"] = {path.name: files[path]}
    else:
        body["from"] = source
    adapters = [_resolve(a, base) for a in modelfile.adapters if _is_path(a, base)]
    if adapters:
        body["adapters"] = {p.name: files[p] for p in adapters}
    if modelfile.template is not None:
        body["template"] = modelfile.template
    if modelfile.system is not None:
        body["system"] = modelfile.system
    if parameters:
        body["parameters"] = parameters
    if modelfile.messages:
        body["messages"] = [{"role": m.role, "content": m.content} for m in modelfile.messages]
    if modelfile.license:
        body["license"] = list(modelfile.license)
    return body


def _legacy_text(modelfile: Modelfile, base: Path, files: Mapping[Path, str]) -> str:
    lines = []
    for command in modelfile.commands:
        if command.name in {"from", "adapter"} and _is_path(command.args, base):
            command = Command(command.name, f"@{files[_resolve(command.args, base)]}")
        lines.append(format_command(command))
    return "\n".join(lines) + "\n"


def _is_path(value: str, base: Path) -> bool:
    """As Ollama's CLI decides: a FROM that exists as a file (relative to the Modelfile) is a
    file; anything else is a model name."""
    return _resolve(value, base).is_file()


def _resolve(value: str, base: Path) -> Path:
    return (base / os.path.expanduser(value)).resolve()


def _digest(digests: Mapping[Path, str], path: Path) -> str:
    try:
        return digests[path]
    except KeyError:
        raise InputError(f"no digest for {path}", hint="hash local files before planning") from None
