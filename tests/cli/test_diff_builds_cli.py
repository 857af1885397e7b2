"""`modelpack diff build:PACKAGE[:VARIANT][@REF]`: two recorded builds, or a build and the spec.

The records are written on disk the way the runner writes them (`write_build`), from the texts
the project's renderer makes; no server is needed. tests/integration/test_lifecycle_real.py
diffs two real builds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli
from modelpack.core.results.record import BuildRecord, VariantResult
from modelpack.edge.history import history_dir, record_path, write_build
from modelpack.edge.project import Project, open_project


@pytest.fixture
def project(offline_project: Path) -> Project:
    return open_project(offline_project / "modelpack.yaml")


def diff(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["diff", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def texts(project: Project) -> dict[str, str]:
    rendered = project.renderer(project.version).render_package("pkg")
    return {item.variant: item.text for item in rendered}


def record(
    project: Project,
    started: str,
    modelfiles: dict[str, str | None],
    *,
    stable: str | None = "full",
) -> BuildRecord:
    gguf = sha(project.spec_dir / "m.gguf")
    variants = [
        VariantResult(
            variant=name,
            tag=f"acme:pkg-{name}",
            verdict="passed" if text is not None else "skipped",
            reason=None if text is not None else "does not fit: 9 GiB over the budget",
            modelfile=text,
            file_digests={"../../m.gguf": gguf} if text is not None else {},
        )
        for name, text in modelfiles.items()
    ]
    return BuildRecord(
        package="pkg",
        spec_digest="sha256:" + "0" * 64,
        ollama_version="0.9.3",
        host="http://127.0.0.1:11434",
        started_at=started,
        finished_at=started,
        variants=variants,
        stable_tag="acme:pkg",
        stable_variant=stable,
    )


def build_twice(project: Project, second: dict[str, str | None]) -> None:
    write_build(project, "pkg", record(project, "2025-01-01T10:00:00+00:00", texts(project)))
    write_build(project, "pkg", record(project, "2025-01-02T10:00:00+00:00", second))


FIRST = "build:pkg:full@20250101T100000Z"
SECOND = "build:pkg:full@20250102T100000Z"


def test_the_previous_build_against_the_latest(project: Project) -> None:
    changed = texts(project)
    changed["full"] = changed["full"].replace("num_ctx 8192", "num_ctx 4096")
    changed["full"] = changed["full"].replace("<|im_start|>assistant", "<|im_start|>bot")
    build_twice(project, changed)
    code, out, err = diff("build:pkg@previous", "build:pkg")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == [FIRST, SECOND]
    assert lines[1].split() == ["num_ctx", "8192", "4096"]
    assert len([line for line in lines if line.startswith("num_")]) == 1
    assert lines[3:6] == ["template:", f"--- {FIRST}", f"+++ {SECOND}"]
    assert "-{{ end }}<|im_start|>assistant" in lines
    assert "+{{ end }}<|im_start|>bot" in lines
    assert err.splitlines() == [
        f"build:pkg@previous means {FIRST} (the variant that build made stable)",
        f"build:pkg means {SECOND} (the variant that build made stable)",
    ]


def test_equal_builds_have_no_differences(project: Project) -> None:
    build_twice(project, texts(project))
    code, out, _ = diff("build:pkg:lightweight@~1", "build:pkg:lightweight@latest")
    assert code == 0
    assert out == (
        "no differences between build:pkg:lightweight@20250101T100000Z and "
        "build:pkg:lightweight@20250102T100000Z\n"
    )


def test_a_build_by_id_against_the_spec(project: Project) -> None:
    changed = texts(project)
    changed["lightweight"] = changed["lightweight"].replace("num_ctx 2048", "num_ctx 1024")
    build_twice(project, changed)
    # The recorded GGUF digest is the spec's file's: no gguf row.
    assert diff("build:pkg:lightweight@20250101", "pkg:lightweight")[0] == 0
    code, out, _ = diff("pkg:lightweight", "build:pkg:lightweight")
    assert code == 1
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        ["pkg:lightweight", "build:pkg:lightweight@20250102T100000Z"],
        ["num_ctx", "2048", "1024"],
    ]


def test_weights_compare_by_the_digest_recorded_at_build_time(project: Project) -> None:
    build_twice(project, texts(project))
    write_tiny_gguf(project.spec_dir / "m.gguf", n_layer=1)  # the GGUF changed since
    code, out, _ = diff("build:pkg:full", "pkg:full")
    assert code == 1
    assert [line.split()[0] for line in out.splitlines()] == [SECOND, "gguf"]
    assert diff("build:pkg:full@previous", "build:pkg:full")[0] == 0


def test_with_no_stable_variant_the_first_is_used(project: Project) -> None:
    write_build(
        project, "pkg", record(project, "2025-01-01T10:00:00+00:00", texts(project), stable=None)
    )
    code, _, err = diff("build:pkg", "pkg:full")
    assert code == 0
    assert err == (
        "build:pkg means build:pkg:full@20250101T100000Z (no variant passed in that build: "
        "its first)\n"
    )


def one_error(*args: str) -> str:
    code, out, err = diff(*args)
    assert code == 2, out + err
    assert out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("error: ")
    return err.removeprefix("error: ").rstrip("\n")


def test_errors_are_one_line(project: Project) -> None:
    assert one_error("build:nope", "pkg:full") == (
        "modelpack.yaml:2: no package 'nope' (packages here: pkg)"
    )
    assert one_error("build:pkg", "pkg:full") == (
        "no recorded build of pkg (run `modelpack build pkg` first)"
    )
    assert one_error("build:", "pkg:full").startswith("'build:' names no build")
    assert one_error("build:pkg@", "pkg:full").startswith("'build:pkg@' names no build")

    skipped = {"full": texts(project)["full"], "lightweight": None}
    build_twice(project, skipped)
    assert one_error("build:pkg@~2", "pkg:full") == (
        f"pkg has 2 recorded build(s), so '~2' goes back too far (the last 20 builds are kept "
        f"in {history_dir(project, 'pkg')})"
    )
    assert one_error("build:pkg@~x", "pkg:full").startswith("'~x' is not a build reference")
    assert one_error("build:pkg@1999", "pkg:full").startswith("pkg has no build '1999' (")
    assert one_error("build:pkg@2025", "pkg:full").startswith("'2025' names 2 builds of pkg (")
    assert one_error("build:pkg:huge", "pkg:full") == (
        "build 20250102T100000Z of pkg has no variant 'huge' (it built: full, lightweight)"
    )
    assert one_error("build:pkg:lightweight", "pkg:full") == (
        "build 20250102T100000Z of pkg created no lightweight (skipped: does not fit: 9 GiB "
        "over the budget) (name another variant or build)"
    )


def test_a_record_from_an_older_modelpack_says_to_rebuild(project: Project) -> None:
    """build.json without Modelfile texts and no history: what older versions left."""
    old = record(project, "2024-06-01T08:00:00+00:00", texts(project)).model_dump(mode="json")
    for variant in old["variants"]:
        del variant["modelfile"], variant["file_digests"]
    record_path(project, "pkg").parent.mkdir(parents=True)
    record_path(project, "pkg").write_text(json.dumps(old))
    assert one_error("build:pkg", "pkg:full") == (
        "build 20240601T080000Z of pkg did not record the Modelfile of full: it was built by an "
        "older modelpack (rebuild to record it: `modelpack build pkg`)"
    )


def test_an_unreadable_build_is_one_line(project: Project) -> None:
    build_twice(project, texts(project))
    (history_dir(project, "pkg") / "20250102T100000Z.json").write_text("{not json")
    message = one_error("build:pkg", "pkg:full")
    assert message.startswith(f"{history_dir(project, 'pkg') / '20250102T100000Z.json'}: not a")


def test_builds_lists_newest_first_with_the_refs_diff_takes(project: Project) -> None:
    build_twice(project, {"full": None, "lightweight": texts(project)["lightweight"]})
    write_build(
        project,
        "pkg",
        record(project, "2025-01-03T10:00:00+00:00", texts(project), stable="lightweight"),
    )
    result = CliRunner().invoke(cli, ["builds", "pkg"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "latest    20250103T100000Z  Ollama 0.9.3  stable lightweight  "
        "(full passed, lightweight passed)",
        "previous  20250102T100000Z  Ollama 0.9.3  stable full  (full skipped, lightweight passed)",
        "~2        20250101T100000Z  Ollama 0.9.3  stable full  (full passed, lightweight passed)",
    ]
    listed = json.loads(CliRunner().invoke(cli, ["builds", "pkg", "--json"]).stdout)
    assert [b["ref"] for b in listed] == ["latest", "previous", "~2"]
    # Each listed reference names that build for diff.
    code, out, _ = diff("build:pkg:lightweight@~2", f"build:pkg:lightweight@{listed[0]['id']}")
    assert code == 0, out


def test_builds_of_a_package_never_built_is_one_line(project: Project) -> None:
    result = CliRunner().invoke(cli, ["builds", "pkg"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "no recorded build of pkg" in result.output
    result = CliRunner().invoke(cli, ["builds", "nope"])
    assert result.exit_code == 2 and "no package 'nope'" in result.output
