"""`modelpack promote PACKAGE VARIANT` and `modelpack rollback PACKAGE`: move the stable tag."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from modelpack.cli.options import spec_file_option

if TYPE_CHECKING:
    from modelpack.core.results.record import BuildRecord
    from modelpack.jobs.lifecycle import Lifecycle


@click.command("promote", short_help="Point the stable tag at a variant, after a test.")
@click.argument("package")
@click.argument("variant")
@spec_file_option
@click.option(
    "--no-verify", "no_verify", is_flag=True, help="Move the tag without a smoke test first."
)
@click.option("--json", "as_json", is_flag=True, help="Print the updated build record as JSON.")
def promote_command(
    package: str, variant: str, spec_file: Path | None, *, no_verify: bool, as_json: bool
) -> None:
    """Point PACKAGE's stable tag at VARIANT, after its smoke test passes.

    Exit status: 0 moved, 1 the smoke test failed (the tag did not move), 2 usage error.
    """
    with _lifecycle(spec_file, package) as lifecycle:
        record = lifecycle.promote(package, variant, verify=not no_verify)
    _report(record, as_json=as_json)


@click.command("rollback", short_help="Point the stable tag back at its previous target.")
@click.argument("package")
@spec_file_option
@click.option("--json", "as_json", is_flag=True, help="Print the updated build record as JSON.")
def rollback_command(package: str, spec_file: Path | None, *, as_json: bool) -> None:
    """Point PACKAGE's stable tag back at its previous target, without rebuilding.

    Rolling back twice returns to where you were. Exit status: 0 moved, 2 nothing to roll
    back to (or usage error).
    """
    with _lifecycle(spec_file, package) as lifecycle:
        record = lifecycle.rollback(package)
    _report(record, as_json=as_json)


@contextlib.contextmanager
def _lifecycle(spec_file: Path | None, package: str) -> Iterator[Lifecycle]:
    """The project's Lifecycle on a client for OLLAMA_HOST (or the spec's host), once
    `package` is known to be one of the spec's (before any server or file is touched)."""
    from modelpack.edge.project import open_project
    from modelpack.jobs.lifecycle import Lifecycle

    project = open_project(spec_file)
    project.loaded.package(package)
    with project.client(project.server_host()) as client:
        yield Lifecycle(project, client, on_event=lambda message: click.echo(message, err=True))


def _report(record: BuildRecord, *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(record.model_dump(mode="json"), indent=2))
        return
    last = record.history[-1]
    click.echo(f"{record.stable_tag} -> {last.variant} ({last.digest[:12]}, {last.reason})")
