"""Reading a file whole, within a size limit: the one way modelpack reads specs, templates,
build records, reports and its digest cache.

These files come from many hands (a spec written by anyone in CI, a report passed around, a
record in a shared checkout), and a path can name anything: `/dev/zero` never ends, a FIFO
blocks until someone writes, a directory has no text. So a file is opened without waiting
(O_NONBLOCK), must be a regular file, and is read up to its kind's limit and not a byte more;
each refusal is one InputError line naming the file. A missing file stays FileNotFoundError,
which each caller turns into its own message ("run build first", "the record is gone").

Each limit is far above what an honest file of that kind reaches, and far below what would
hurt a CI runner (every limit here, read and parsed, fits in a few hundred MiB of memory).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from modelpack.errors import InputError

KIB: Final = 1 << 10
MIB: Final = 1 << 20

SPEC_LIMIT: Final = 1 * MIB
"""modelpack.yaml. A package takes 0.3 to 2 KiB (this repository's spec is about 1 KiB), so
1 MiB holds hundreds of packages; past it, YAML parsing itself takes seconds."""

TEMPLATE_LIMIT: Final = 1 * MIB
"""A chat template file, a chat format (and its stop list), a variant template. The largest
published chat templates (tool-calling ones) are 10 to 30 KiB; the shipped ones are under 1."""

MODELFILE_LIMIT: Final = 16 * MIB
"""A Modelfile that `lint` or `diff` reads. Its bulk is TEMPLATE, SYSTEM, LICENSE and MESSAGE
text: a long license is 50 KiB, a few-shot conversation a few hundred."""

RECORD_LIMIT: Final = 64 * MIB
"""`modelfiles/<pkg>/build.json` and `builds/<id>.json`: each variant's Modelfile text (with
its template and messages), metrics and stable-tag history. A build of 20 variants with 1 MiB
Modelfiles stays under 32 MiB."""

REPORT_LIMIT: Final = 256 * MIB
"""A saved matrix (`matrix --json`, `--baseline`, `report`): every answer of every run. 10,000
cells of 10 runs with 2 KiB answers is 200 MiB; larger matrices belong in several files."""

DIGEST_CACHE_LIMIT: Final = 16 * MIB
"""`.modelpack/cache/digests.json`: about 200 bytes for each of at most a few thousand files.
An oversized cache is read as an empty one and rewritten."""

ANSWER_LIMIT: Final = 256 * KIB
"""A model's answer given to `modelpack judge`: a smoke answer is a few KiB, and 256 KiB is
about 60,000 tokens, which the classifier reads in about two seconds."""


def read_bytes(path: Path, *, limit: int, what: str, hint: str | None = None) -> bytes:
    """The whole of `path`, a regular file of at most `limit` bytes (`what` names its kind in
    errors: "spec", "build record"; `hint` replaces the fix a refusal suggests).
    FileNotFoundError when it does not exist; InputError for anything else that stops it
    being read whole."""
    source = str(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise _not_regular(source, what, "a directory", hint) from None
    except OSError as exc:
        raise InputError(
            f"cannot read the {what}: {exc.strerror or exc}",
            source=source,
            hint="check the path and its permissions",
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(source, what, _kind(info.st_mode), hint)
        if info.st_size > limit:
            raise _too_large(source, what, limit, hint)
        chunks: list[bytes] = []
        size = 0
        # Read to the limit, not to st_size: a file can grow while it is read, and files
        # under /proc claim a size of 0.
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise _too_large(source, what, limit, hint)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(
            f"cannot read the {what}: {exc.strerror or exc}",
            source=source,
            hint="check the path and its permissions",
        ) from None
    finally:
        os.close(fd)


def read_text(path: Path, *, limit: int, what: str, source: str | None = None) -> str:
    """`read_bytes`, decoded as UTF-8 (a BOM is dropped); `source` names the file in errors
    (default: the path as given)."""
    data = read_bytes(path, limit=limit, what=what)
    return decode_utf8(data, source=source or str(path), what=what)


def decode_utf8(data: bytes, *, source: str, what: str) -> str:
    """Strict UTF-8; a bad byte is one InputError with its line and byte offset."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"the {what} is not UTF-8 text: byte {exc.start} is 0x{data[exc.start]:02x} "
            f"({exc.reason})",
            source=source,
            line=line,
            hint=f"save the {what} as UTF-8",
        ) from None


def size_text(size: int) -> str:
    """1048576 -> "1 MiB"; the limits are whole KiB or MiB."""
    if size >= MIB and size % MIB == 0:
        return f"{size // MIB} MiB"
    if size >= KIB and size % KIB == 0:
        return f"{size // KIB} KiB"
    return f"{size} bytes"


def _too_large(source: str, what: str, limit: int, hint: str | None) -> InputError:
    return InputError(
        f"the {what} is larger than {size_text(limit)}, the most modelpack reads",
        source=source,
        hint=hint or f"check that this is the {what} you meant",
    )


def _not_regular(source: str, what: str, kind: str, hint: str | None) -> InputError:
    return InputError(
        f"is {kind}, not a file: modelpack reads a {what} only from a regular file",
        source=source,
        hint=hint or f"give the path of the {what} file",
    )


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"
