"""Hostile files given to the command line: each is one `error:` line and exit 2, never a
traceback, a hang or unbounded memory.

Every command runs as a real `python -m modelpack` process under a memory cap and a timeout,
so a regression (reading /dev/zero to the end, blocking on a FIFO, expanding an alias bomb)
fails here instead of taking the machine down.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.inputs import REPORT_LIMIT, SPEC_LIMIT
from modelpack.edge.history import history_dir, record_path
from modelpack.edge.project import open_project

MEMORY_CAP = 1 << 30
"""Address space for one command. modelpack itself needs about 200 MiB (Python, pydantic,
rich); reading /dev/zero to its end or a 9-level alias bomb would need several GiB."""

TIMEOUT = 60


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def modelpack(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": "127.0.0.1:9"}
    env.pop("MODELPACK_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "modelpack", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_cap_memory,
        check=False,
    )


def one_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The command's only stderr line, an `error:` line, and its exit code."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("error: "), lines[0]
    assert result.returncode == code, (result.returncode, lines[0])
    return lines[0]


# -- modelpack report FILE ---------------------------------------------------------------------


def test_report_of_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    line = one_error(modelpack("report", "/dev/zero", cwd=tmp_path))
    assert line.startswith("error: /dev/zero: is a device, not a file")


def test_report_of_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "m.json"
    os.mkfifo(fifo)
    line = one_error(modelpack("report", str(fifo), cwd=tmp_path))
    assert "is a FIFO, not a file" in line


def test_report_of_a_gguf_says_it_is_not_text(tmp_path: Path) -> None:
    gguf = write_tiny_gguf(tmp_path / "m.gguf")
    line = one_error(modelpack("report", str(gguf), cwd=tmp_path))
    assert line.startswith(f"error: {gguf}:")
    assert "not UTF-8" in line or "not valid JSON" in line


def test_report_of_binary_junk(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_bytes(random.Random(13).randbytes(64 << 10))
    line = one_error(modelpack("report", str(junk), cwd=tmp_path))
    assert "is not UTF-8 text: byte" in line


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[" * 100_000, id="100000 nested arrays"),
        pytest.param('{"a":' * 100_000, id="100000 nested objects"),
        pytest.param(
            '{"format": "modelpack-matrix", "version": 1, "cells": '
            + "[" * 5_000
            + "]" * 5_000
            + "}",
            id="nested where the cells belong",
        ),
    ],
)
def test_report_of_deeply_nested_json(tmp_path: Path, text: str) -> None:
    nested = tmp_path / "nested.json"
    nested.write_text(text)
    line = one_error(modelpack("report", str(nested), cwd=tmp_path))
    assert line.startswith(f"error: {nested}:")


def test_report_larger_than_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as handle:
        handle.truncate(REPORT_LIMIT + 1)  # sparse: nothing is really written
    line = one_error(modelpack("report", str(big), cwd=tmp_path))
    assert "larger than 256 MiB" in line


# -- the spec ----------------------------------------------------------------------------------


def test_a_spec_that_is_not_utf8_names_the_line_and_byte(offline_project: Path) -> None:
    spec = offline_project / "modelpack.yaml"
    text = spec.read_bytes().replace(b"Be brief.", b"Be br\xe9f.")
    spec.write_bytes(text)
    line = one_error(modelpack("render", "pkg", cwd=offline_project))
    at = text.index(b"\xe9")
    assert line.startswith(
        f"error: modelpack.yaml:7: the spec is not UTF-8 text: byte {at} is 0xe9"
    ), line


def test_a_spec_larger_than_the_limit(offline_project: Path) -> None:
    spec = offline_project / "modelpack.yaml"
    spec.write_text(spec.read_text() + "#" * SPEC_LIMIT + "\n")
    line = one_error(modelpack("render", "pkg", cwd=offline_project))
    assert "modelpack.yaml: the spec is larger than 1 MiB" in line


def test_an_alias_bomb_in_the_spec(offline_project: Path) -> None:
    """The issue's 335-byte spec: 7 levels of 9-way aliases (4.8 million values expanded)."""
    levels = ["x0: &a0 [lol]"] + [
        f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 8)
    ]
    spec = offline_project / "modelpack.yaml"
    spec.write_text("\n".join(levels) + "\n" + spec.read_text())
    line = one_error(modelpack("render", "pkg", cwd=offline_project))
    assert line.startswith("error: modelpack.yaml:"), line
    assert "alias" in line


def test_a_nul_in_system_names_the_spec_line_once(offline_project: Path) -> None:
    spec = offline_project / "modelpack.yaml"
    spec.write_text(spec.read_text().replace("system: Be brief.", 'system: "Be\\0 brief."'))
    line = one_error(modelpack("render", "pkg", cwd=offline_project))
    assert line.startswith("error: modelpack.yaml:7: packages.pkg.system: ")
    assert "U+0000" in line
    assert line.count("cannot write") <= 1
    assert "<input>" not in line


# -- build records -----------------------------------------------------------------------------


def test_a_build_json_that_is_a_directory(offline_project: Path) -> None:
    project = open_project(offline_project / "modelpack.yaml")
    record_path(project, "pkg").mkdir(parents=True)
    line = one_error(modelpack("diff", "pkg", "pkg:lightweight", cwd=offline_project))
    assert "build.json: is a directory, not a file" in line


def test_a_past_build_that_is_a_directory(offline_project: Path) -> None:
    project = open_project(offline_project / "modelpack.yaml")
    (history_dir(project, "pkg") / "20250101T000000Z.json").mkdir(parents=True)
    line = one_error(modelpack("builds", "pkg", cwd=offline_project))
    assert "20250101T000000Z.json: is a directory, not a file" in line
