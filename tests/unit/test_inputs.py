"""Reading files whole within a limit (core.inputs), and the readers that use it: a file that is
not a regular file is refused without reading or waiting, a large one without reading it, and
bad UTF-8 names its line and byte."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.budget import deadline, peak_of, tracing
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.inputs import (
    MIB,
    RECORD_LIMIT,
    TEMPLATE_LIMIT,
    read_bytes,
    read_text,
    size_text,
)
from modelpack.core.package.render import Renderer
from modelpack.core.package.spec import load_spec
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

BUILTIN = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def traced() -> Iterator[None]:
    with tracing():
        yield


def refused(path: Path, limit: int = MIB, what: str = "report") -> InputError:
    """The error, raised within 5 s and without allocating what the file holds."""
    errors: list[InputError] = []

    def attempt() -> None:
        with pytest.raises(InputError) as error:
            read_bytes(path, limit=limit, what=what)
        errors.append(error.value)

    with deadline(5):
        peak = peak_of(attempt)
    assert peak < 256 << 10, f"{peak} bytes allocated to refuse {path}"
    return errors[0]


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"\xef\xbb\xbf{}\n")
    assert read_bytes(path, limit=6, what="report") == b"\xef\xbb\xbf{}\n"
    assert read_text(path, limit=6, what="report") == "{}\n"  # the BOM is dropped


def test_dev_zero_is_refused_as_a_device(traced: None) -> None:
    error = refused(Path("/dev/zero"))
    assert str(error) == (
        "/dev/zero: is a device, not a file: modelpack reads a report only from a regular file "
        "(give the path of the report file)"
    )


def test_a_fifo_is_refused_without_waiting_for_a_writer(traced: None, tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    assert "is a FIFO, not a file" in str(refused(fifo, what="spec"))


def test_a_directory_is_refused(traced: None, tmp_path: Path) -> None:
    error = refused(tmp_path, what="build record")
    assert str(error).startswith(f"{tmp_path}: is a directory, not a file")


def test_a_file_over_the_limit_is_refused_before_it_is_read(traced: None, tmp_path: Path) -> None:
    big = tmp_path / "build.json"
    with big.open("wb") as handle:
        handle.truncate(RECORD_LIMIT + 1)  # sparse
    error = refused(big, limit=RECORD_LIMIT, what="build record")
    assert "the build record is larger than 64 MiB, the most modelpack reads" in str(error)


def test_a_file_that_claims_less_than_it_holds_is_read_only_to_the_limit() -> None:
    """Files under /proc say they are empty and are not: the limit counts what is read."""
    status = Path("/proc/self/status")
    assert status.stat().st_size == 0
    with pytest.raises(InputError, match="larger than 16 bytes"):
        read_bytes(status, limit=16, what="report")
    assert b"Name:" in read_bytes(status, limit=MIB, what="report")


def test_a_missing_file_stays_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "nothing.json", limit=MIB, what="report")


def test_bad_utf8_names_the_line_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "modelpack.yaml"
    path.write_bytes(b"packages:\n  p:\n    system: caf\xe9\n")
    with pytest.raises(InputError) as error:
        read_text(path, limit=MIB, what="spec", source="modelpack.yaml")
    assert str(error.value) == (
        "modelpack.yaml:3: the spec is not UTF-8 text: byte 30 is 0xe9 (invalid continuation "
        "byte) (save the spec as UTF-8)"
    )


def test_sizes_read_as_written() -> None:
    assert [size_text(n) for n in (MIB, 256 * MIB, 64 << 10, 1000)] == [
        "1 MiB",
        "256 MiB",
        "64 KiB",
        "1000 bytes",
    ]


# -- template files the spec names --------------------------------------------------------------

SPEC = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: {file: chat.gotmpl}
    variants:
      - name: full
        template: own
"""


def renderer(folder: Path) -> Renderer:
    write_tiny_gguf(folder / "m.gguf")
    loaded = load_spec(SPEC, source="modelpack.yaml")
    own = folder / "templates"
    return Renderer(
        loaded,
        spec_dir=folder,
        version=OllamaVersion.parse("0.9.3"),
        template_dirs=[own, BUILTIN],
    )


def own_template(folder: Path) -> Path:
    (folder / "templates" / "variants").mkdir(parents=True)
    return folder / "templates" / "variants" / "own.Modelfile.j2"


def test_an_oversized_chat_template_file_names_the_spec_line(tmp_path: Path) -> None:
    with (tmp_path / "chat.gotmpl").open("wb") as handle:
        handle.truncate(TEMPLATE_LIMIT + 1)
    own_template(tmp_path).write_text("{{ header() }}\n")
    with pytest.raises(InputError) as error:
        renderer(tmp_path).render_package("pkg")
    assert str(error.value).startswith(
        "modelpack.yaml:5: packages.pkg.chat_template.file: chat.gotmpl: the chat template is "
        "larger than 1 MiB"
    )


def test_a_variant_template_that_is_a_fifo_is_refused(tmp_path: Path) -> None:
    (tmp_path / "chat.gotmpl").write_text("{{ .Prompt }}")
    fifo = own_template(tmp_path)
    os.mkfifo(fifo)
    with deadline(5), pytest.raises(InputError) as error:
        renderer(tmp_path).render_package("pkg")
    assert str(error.value).startswith(f"{fifo}: is a FIFO, not a file")
