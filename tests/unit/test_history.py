"""The build history (`modelfiles/<package>/builds/`): ids, atomic copies, pruning, references."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelpack.core.results.record import BuildRecord, VariantResult
from modelpack.edge.history import (
    KEEP,
    build_id,
    history_dir,
    list_builds,
    record_path,
    recorded_modelfile,
    resolve_build,
    write_build,
)
from modelpack.edge.project import Project, open_project
from modelpack.errors import InputError, UsageError

SPEC = """\
packages:
  pkg:
    model: acme
    from: acme/base
    chat_template: chatml
    variants: [full]
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    return open_project(tmp_path / "modelpack.yaml")


def record(started: str, num_ctx: int = 2048) -> BuildRecord:
    return BuildRecord(
        package="pkg",
        spec_digest="sha256:" + "0" * 64,
        ollama_version="0.9.3",
        host="http://127.0.0.1:11434",
        started_at=started,
        finished_at=started,
        variants=[
            VariantResult(
                variant="full",
                tag="acme:pkg-full",
                verdict="passed",
                modelfile=f"FROM acme/base\nPARAMETER num_ctx {num_ctx}\n",
            )
        ],
        stable_tag="acme:pkg",
        stable_variant="full",
    )


def test_build_ids_are_utc_and_filename_safe() -> None:
    assert build_id("2025-01-02T03:04:05+00:00") == "20250102T030405Z"
    assert build_id("2025-01-02T05:04:05+02:00") == "20250102T030405Z"
    assert build_id("2025-01-02T03:04:05") == "20250102T030405Z"  # naive: taken as UTC
    assert build_id("yesterday at 5/6") == "yesterdayat56"


def test_each_build_keeps_an_immutable_copy(project: Project) -> None:
    first = write_build(project, "pkg", record("2025-01-01T10:00:00+00:00", 1024))
    second = write_build(project, "pkg", record("2025-01-02T10:00:00+00:00", 2048))
    assert first == history_dir(project, "pkg") / "20250101T100000Z.json"
    assert second.name == "20250102T100000Z.json"
    assert BuildRecord.model_validate_json(first.read_text()).variants[0].modelfile == (
        "FROM acme/base\nPARAMETER num_ctx 1024\n"
    )
    assert record_path(project, "pkg").read_text() == second.read_text()
    assert sorted(p.name for p in history_dir(project, "pkg").iterdir()) == [
        first.name,
        second.name,
    ]  # no temporary files left behind


def test_builds_in_the_same_second_get_a_suffix_and_sort_by_it(project: Project) -> None:
    for n in range(11):
        write_build(project, "pkg", record("2025-01-01T10:00:00+00:00", 1000 + n))
    ids = [b.id for b in list_builds(project, "pkg")]
    assert ids[:3] == ["20250101T100000Z", "20250101T100000Z-2", "20250101T100000Z-3"]
    assert ids[-2:] == ["20250101T100000Z-10", "20250101T100000Z-11"]
    latest = resolve_build(project, "pkg").read()
    assert latest.variants[0].modelfile == "FROM acme/base\nPARAMETER num_ctx 1010\n"


def test_builds_finishing_at_once_never_overwrite_each_other(project: Project) -> None:
    """Eight writers with the same start second race for ids: each gets its own file."""
    barrier = threading.Barrier(8)

    def write(n: int) -> Path:
        barrier.wait()
        return write_build(project, "pkg", record("2025-01-01T10:00:00+00:00", 1000 + n))

    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(write, range(8)))
    assert len(set(paths)) == 8
    kept = {BuildRecord.model_validate_json(p.read_text()).variants[0].modelfile for p in paths}
    assert kept == {f"FROM acme/base\nPARAMETER num_ctx {1000 + n}\n" for n in range(8)}
    assert len(list(history_dir(project, "pkg").iterdir())) == 8  # no temporary files left


def test_only_the_last_builds_are_kept(project: Project) -> None:
    for day in range(1, KEEP + 6):
        write_build(project, "pkg", record(f"2025-01-{day:02d}T10:00:00+00:00"))
    builds = list_builds(project, "pkg")
    assert len(builds) == KEEP == 20
    assert builds[0].id == "20250106T100000Z"
    assert builds[-1].id == f"202501{KEEP + 5:02d}T100000Z"
    assert len(list(history_dir(project, "pkg").iterdir())) == KEEP


def test_references(project: Project) -> None:
    for day in (1, 2, 3):
        write_build(project, "pkg", record(f"2025-01-0{day}T10:00:00+00:00"))
    assert resolve_build(project, "pkg").id == "20250103T100000Z"
    assert resolve_build(project, "pkg", "latest").id == "20250103T100000Z"
    assert resolve_build(project, "pkg", "~0").id == "20250103T100000Z"
    assert resolve_build(project, "pkg", "previous").id == "20250102T100000Z"
    assert resolve_build(project, "pkg", "~2").id == "20250101T100000Z"
    assert resolve_build(project, "pkg", "20250102T100000Z").id == "20250102T100000Z"
    assert resolve_build(project, "pkg", "20250101").id == "20250101T100000Z"
    with pytest.raises(UsageError, match="goes back too far"):
        resolve_build(project, "pkg", "~3")
    with pytest.raises(UsageError, match="names 3 builds"):
        resolve_build(project, "pkg", "2025")
    with pytest.raises(UsageError, match="not a build reference"):
        resolve_build(project, "pkg", "~-1")


def test_temporary_files_are_not_builds(project: Project) -> None:
    write_build(project, "pkg", record("2025-01-01T10:00:00+00:00"))
    (history_dir(project, "pkg") / ".20250102T100000Z.json.abc.tmp").write_text("{")
    assert [b.id for b in list_builds(project, "pkg")] == ["20250101T100000Z"]


def test_a_build_json_without_history_stands_for_the_only_build(project: Project) -> None:
    old = record("2024-06-01T08:00:00+00:00").model_dump(mode="json")
    del old["variants"][0]["modelfile"], old["variants"][0]["file_digests"]
    path = record_path(project, "pkg")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(old))
    loaded = BuildRecord.model_validate_json(path.read_text())  # old records still load
    assert loaded.variants[0].modelfile is None and loaded.variants[0].file_digests == {}
    assert [(b.id, b.path) for b in list_builds(project, "pkg")] == [("20240601T080000Z", path)]
    with pytest.raises(UsageError, match="built by an older modelpack") as raised:
        recorded_modelfile(project, "pkg")
    assert raised.value.hint == "rebuild to record it: `modelpack build pkg`"


def test_the_recorded_modelfile(project: Project) -> None:
    write_build(project, "pkg", record("2025-01-01T10:00:00+00:00", 1024))
    recorded = recorded_modelfile(project, "pkg", "full")
    assert recorded.label == "build:pkg:full@20250101T100000Z"
    assert recorded.chosen is None
    state = recorded.state(project.version)
    assert state.parameters == {"num_ctx": 1024}
    assert state.source == "acme/base"
    assert recorded_modelfile(project, "pkg").chosen == "the variant that build made stable"


@pytest.mark.parametrize("content", ["{not json", '{"record_version": 2}', b"\xff\xfe\x00"])
def test_an_unreadable_record_is_an_error_never_a_first_build(
    project: Project, content: str | bytes
) -> None:
    """One policy for every reader: a build.json that is there but cannot be read names the
    file and how to recover; only a missing one means "never built"."""
    from modelpack.edge.history import last_record, require_record

    assert last_record(project, "pkg") is None
    path = record_path(project, "pkg")
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    for read in (last_record, require_record):
        with pytest.raises(UsageError) as error:
            read(project, "pkg")
        assert str(path) in error.value.message
        assert error.value.hint is not None and "builds" in error.value.hint


def test_a_version_1_record_reads_as_version_2(project: Project) -> None:
    """Records written before prompts kept their runs: flat prompt fields, joined digests."""
    old = record("2025-01-02T03:04:05+00:00").model_dump(mode="json")
    old["record_version"] = 1
    variant = old["variants"][0]
    del variant["gguf_digests"]
    variant["gguf_digest"] = "sha256:b,sha256:a"
    variant["prompts"] = [
        {"prompt": "hi", "passed": True, "answer": "Paris.", "ttft_cold_ms": 12.5, "load_s": 1.0}
    ]
    read = BuildRecord.model_validate_json(json.dumps(old))
    assert read.record_version == 2
    assert read.variants[0].gguf_digests == ["sha256:b", "sha256:a"]
    (prompt,) = read.variants[0].prompts
    assert (prompt.prompt, prompt.passed, prompt.runs[0].ttft_ms) == ("hi", True, 12.5)
    assert prompt.runs[0].answer == "Paris."


def test_a_record_path_that_is_not_a_file_is_one_error_everywhere(project: Project) -> None:
    """A directory where build.json belongs: every reader says so in one line (a first build
    would otherwise run to the end and fail to write its record there)."""
    from modelpack.edge.history import last_record, require_record

    record_path(project, "pkg").mkdir(parents=True)
    for read in (last_record, require_record):
        with pytest.raises(InputError) as error:
            read(project, "pkg")
        assert str(error.value).startswith(
            f"{record_path(project, 'pkg')}: is a directory, not a file: modelpack reads a build "
            "record only from a regular file"
        )


@pytest.mark.parametrize("junk", [b"[" * 100_000, b"{}"])
def test_deeply_nested_or_empty_json_is_an_error_too(project: Project, junk: bytes) -> None:
    from modelpack.edge.history import last_record

    record_path(project, "pkg").parent.mkdir(parents=True)
    record_path(project, "pkg").write_bytes(junk)
    with pytest.raises(UsageError, match="not a readable build record"):
        last_record(project, "pkg")
