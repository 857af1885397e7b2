"""Options several commands share, declared once so they read and behave the same."""

from __future__ import annotations

from pathlib import Path

import click

spec_file_option = click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.Path(path_type=Path),
    default=None,
    help="The spec file (default: ./modelpack.yaml).",
)
