"""Past builds of a package, so that `modelpack diff` can compare two of them.

`modelfiles/<package>/build.json` is the last build, and `promote`, `rollback` and `push`
rewrite it. Each finished build also leaves an immutable copy of its record in
`modelfiles/<package>/builds/<id>.json`, which nothing rewrites. The id is the build's start
time in UTC, made filename-safe (`20250102T030405Z`), with `-2`, `-3`, ... when two builds
started within the same second, so ids sort by time. Only the last :data:`KEEP` (20) copies
are kept; writing a new one deletes the older ones. Every file is written atomically.

A build is named by a reference (:func:`resolve_build`): `latest` (the default), `previous`,
`~N` (N builds before the latest) or an id (or a prefix of one that matches a single build).
Since build records store the exact Modelfile text each variant was created from (with the
digests of the files its FROM and ADAPTER named), a past build's variant can be compared with
anything `diff` compares, without the files it was built from.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from modelpack.core.inputs import RECORD_LIMIT, read_bytes
from modelpack.core.modelfile.drift import ModelState
from modelpack.core.modelfile.syntax import parse
from modelpack.core.results.record import BuildRecord
from modelpack.core.versions import OllamaVersion
from modelpack.edge.files import atomic_write_text, create_new_text
from modelpack.edge.project import Project
from modelpack.errors import UsageError

__all__ = [
    "KEEP",
    "LATEST",
    "BuildSummary",
    "PastBuild",
    "RecordedModelfile",
    "build_id",
    "build_summaries",
    "check_writable",
    "history_dir",
    "last_record",
    "list_builds",
    "lock_path",
    "package_dir",
    "read_record_file",
    "record_path",
    "recorded_modelfile",
    "require_record",
    "resolve_build",
    "save_record",
    "write_build",
]

KEEP = 20
"""How many past builds each package keeps in `modelfiles/<package>/builds/`."""

LATEST = "latest"
_PREVIOUS = "previous"
_REF_HINT = "write latest, previous, ~N (N builds back) or a build id"


def package_dir(project: Project, package: str) -> Path:
    """`modelfiles/<package>/`, for a package the spec declares: a name from the command line
    never reaches the filesystem unchecked (`rollback ../../x` is an unknown package)."""
    project.loaded.package(package)
    return project.spec_dir / "modelfiles" / package


def record_path(project: Project, package: str) -> Path:
    """The last build's record, `modelfiles/<package>/build.json`."""
    return package_dir(project, package) / "build.json"


def history_dir(project: Project, package: str) -> Path:
    """Where the package's past builds are kept, `modelfiles/<package>/builds/`."""
    return package_dir(project, package) / "builds"


def lock_path(project: Project, package: str) -> Path:
    """The package's lock (`modelpack.edge.lock`), `modelfiles/<package>/.lock`."""
    return package_dir(project, package) / ".lock"


def check_writable(project: Project, package: str) -> None:
    """Fail now, before the server is touched, if the record could not be written later: the
    package's folder and its history folder must take a new file."""
    for folder in (package_dir(project, package), history_dir(project, package)):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-check-{os.getpid()}"
            probe.write_bytes(b"x")
            probe.unlink()
        except OSError as exc:
            raise UsageError(
                f"{folder}: cannot write the build record there ({exc.strerror or exc})",
                hint="make the folder writable and free some space, then run it again",
            ) from None


def build_id(started_at: str) -> str:
    """`2025-01-02T03:04:05+00:00` -> `20250102T030405Z` (UTC; a naive time is taken as UTC).
    A time that does not parse keeps its letters and digits only."""
    try:
        moment = datetime.fromisoformat(started_at)
    except ValueError:
        return "".join(c for c in started_at if c.isascii() and c.isalnum()) or "build"
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _dump(record: BuildRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=2) + "\n"


def read_record_file(path: Path, *, recover: str) -> BuildRecord | None:
    """The record in `path` (read within RECORD_LIMIT), or None when there is no such file. A
    file that is there but cannot be read is an error that names it and `recover`: never
    silently "no record", which would make the next build act like a first one and lose the
    stable tag's history."""
    try:
        data = read_bytes(path, limit=RECORD_LIMIT, what="build record", hint=recover)
    except FileNotFoundError:
        return None
    try:
        return BuildRecord.model_validate_json(data)
    except ValueError as exc:
        raise UsageError(
            f"{path}: not a readable build record ({str(exc).splitlines()[0]})", hint=recover
        ) from None


def _recover_hint(project: Project, package: str) -> str:
    builds = history_dir(project, package)
    return (
        f"restore the last good copy from {builds}/ over it, or move it aside to start a new "
        "history (the stable tag's past targets are then forgotten)"
    )


def last_record(project: Project, package: str) -> BuildRecord | None:
    """The last build's record, or None when the package was never built here."""
    return read_record_file(record_path(project, package), recover=_recover_hint(project, package))


def require_record(project: Project, package: str) -> BuildRecord:
    """The last build's record, for commands that act on a build (promote, push, ...)."""
    record = last_record(project, package)
    if record is None:
        raise UsageError(
            f"{record_path(project, package)}: no build record for {package}",
            hint=f"run `modelpack build {package}` first",
        )
    return record


def save_record(project: Project, package: str, record: BuildRecord) -> None:
    """Rewrite `build.json` only (promote, rollback and push update the last build; they
    are not builds, so the history is not touched)."""
    atomic_write_text(record_path(project, package), _dump(record))


def write_build(project: Project, package: str, record: BuildRecord) -> Path:
    """Write a finished build: `build.json`, and its immutable copy in the history (returned).

    The copy gets the first free id for its start time, claimed without overwriting (two
    builds finishing at once get two ids); then all but the last :data:`KEEP` copies are
    deleted. Each file is written atomically.
    """
    text = _dump(record)
    folder = history_dir(project, package)
    stem = build_id(record.started_at)
    save_record(project, package, record)
    copy, number = folder / f"{stem}.json", 1
    while not create_new_text(copy, text):
        number += 1
        copy = folder / f"{stem}-{number}.json"
    for old in _history(folder)[:-KEEP]:
        old.path.unlink(missing_ok=True)
    return copy


@dataclass(frozen=True)
class PastBuild:
    id: str
    path: Path

    def read(self) -> BuildRecord:
        record = read_record_file(self.path, recover="name another build, or delete the file")
        if record is None:
            raise UsageError(f"{self.path}: the build record is gone", hint="run the command again")
        return record


def _sort_key(stem: str) -> tuple[str, int]:
    base, _, number = stem.rpartition("-")
    if base and number.isdigit():
        return base, int(number)
    return stem, 1


def _history(folder: Path) -> list[PastBuild]:
    if not folder.is_dir():
        return []
    stems = [p.stem for p in folder.glob("*.json") if not p.name.startswith(".")]
    return [PastBuild(s, folder / f"{s}.json") for s in sorted(stems, key=_sort_key)]


def list_builds(project: Project, package: str) -> list[PastBuild]:
    """The package's recorded builds, oldest first.

    With no history yet (builds made before modelpack kept one), the last build's
    `build.json` stands for the only build, named by its start time.
    """
    builds = _history(history_dir(project, package))
    if builds:
        return builds
    last = record_path(project, package)
    if not last.is_file():
        return []
    return [PastBuild(build_id(PastBuild("", last).read().started_at), last)]


def resolve_build(project: Project, package: str, ref: str = LATEST) -> PastBuild:
    """The build `ref` names: `latest`, `previous`, `~N`, or an id (or a unique prefix)."""
    builds = list_builds(project, package)
    if not builds:
        raise UsageError(
            f"no recorded build of {package}", hint=f"run `modelpack build {package}` first"
        )
    if ref in (LATEST, _PREVIOUS) or ref.startswith("~"):
        back = {LATEST: 0, _PREVIOUS: 1}.get(ref)
        if back is None:
            if not ref[1:].isdigit():
                raise UsageError(f"{ref!r} is not a build reference", hint=_REF_HINT)
            back = int(ref[1:])
        if back >= len(builds):
            raise UsageError(
                f"{package} has {len(builds)} recorded build(s), so {ref!r} goes back too far",
                hint=f"the last {KEEP} builds are kept in {history_dir(project, package)}",
            )
        return builds[-1 - back]
    exact = [b for b in builds if b.id == ref]
    matches = exact or [b for b in builds if b.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    recent = ", ".join(b.id for b in builds[-5:])
    if not matches:
        raise UsageError(
            f"{package} has no build {ref!r}",
            hint=f"{_REF_HINT}; the most recent: {recent} (newest last)",
        )
    raise UsageError(
        f"{ref!r} names {len(matches)} builds of {package}",
        hint=f"give more of the id: {', '.join(b.id for b in matches[-5:])}",
    )


@dataclass(frozen=True)
class BuildSummary:
    """One past build as `modelpack builds` lists it, with the reference `diff` takes."""

    ref: str
    """`latest`, `previous` or `~N`."""
    id: str
    started_at: str
    ollama_version: str
    stable_variant: str | None
    verdicts: dict[str, str]
    """Variant -> passed, failed or skipped, in chain order."""

    def to_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "id": self.id,
            "started_at": self.started_at,
            "ollama_version": self.ollama_version,
            "stable_variant": self.stable_variant,
            "verdicts": self.verdicts,
        }


def build_summaries(project: Project, package: str) -> list[BuildSummary]:
    """The package's recorded builds, newest first, each with its `diff` reference."""
    builds = list(reversed(list_builds(project, package)))
    if not builds:
        resolve_build(project, package)  # raises the one-line error that says why
    summaries = []
    for back, past in enumerate(builds):
        record = past.read()
        summaries.append(
            BuildSummary(
                ref={0: LATEST, 1: _PREVIOUS}.get(back, f"~{back}"),
                id=past.id,
                started_at=record.started_at,
                ollama_version=record.ollama_version,
                stable_variant=record.stable_variant,
                verdicts={v.variant: v.verdict for v in record.variants},
            )
        )
    return summaries


@dataclass(frozen=True)
class RecordedModelfile:
    """One variant's Modelfile as a past build created it."""

    package: str
    variant: str
    build: str
    """The build's id."""
    text: str
    digests: dict[str, str] = field(default_factory=dict)
    """FROM and ADAPTER values as written -> the digest of the file each named then."""
    chosen: str | None = None
    """Why this variant, when none was asked for (the build's stable variant, or its first)."""

    @property
    def label(self) -> str:
        return f"build:{self.package}:{self.variant}@{self.build}"

    def state(self, version: OllamaVersion) -> ModelState:
        """What the model was, for `diff`. Weights compare by the digests recorded at build
        time (the files may have changed since); without them, by FROM's text."""
        modelfile = parse(self.text, source=self.label)
        return ModelState.from_modelfile(modelfile, digests=self.digests, version=version)


def recorded_modelfile(
    project: Project, package: str, variant: str | None = None, ref: str = LATEST
) -> RecordedModelfile:
    """The Modelfile of `variant` (default: the stable variant of that build) in build `ref`."""
    past = resolve_build(project, package, ref)
    record = past.read()
    chosen = None
    if variant is None:
        if record.stable_variant is not None:
            variant, chosen = record.stable_variant, "the variant that build made stable"
        elif record.variants:
            variant = record.variants[0].variant
            chosen = "no variant passed in that build: its first"
        else:
            raise UsageError(f"build {past.id} of {package} built no variant", hint=_REF_HINT)
    result = record.variant(variant)
    if result is None:
        built = ", ".join(v.variant for v in record.variants) or "none"
        raise UsageError(
            f"build {past.id} of {package} has no variant {variant!r}", hint=f"it built: {built}"
        )
    if result.modelfile is None and any(v.modelfile is not None for v in record.variants):
        raise UsageError(
            f"build {past.id} of {package} created no {variant} "
            f"({result.verdict}: {result.reason or 'no reason recorded'})",
            hint="name another variant or build",
        )
    if result.modelfile is None:
        raise UsageError(
            f"build {past.id} of {package} did not record the Modelfile of {variant}: "
            "it was built by an older modelpack",
            hint=f"rebuild to record it: `modelpack build {package}`",
        )
    return RecordedModelfile(
        package, variant, past.id, result.modelfile, dict(result.file_digests), chosen
    )
