"""`modelpack status [PACKAGE]`: drift between the spec and the server, for CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from modelpack.cli.options import spec_file_option


@click.command("status", short_help="Report drift between the spec and the server.")
@click.argument("package", required=False)
@spec_file_option
@click.option("--json", "as_json", is_flag=True, help="Print each package's status as JSON.")
@click.option(
    "--openai",
    "openai_url",
    metavar="URL",
    help="Compare PACKAGE's serve block with the llama-server or vLLM running at URL.",
)
def status_command(
    package: str | None, spec_file: Path | None, openai_url: str | None, *, as_json: bool
) -> None:
    """Compare what PACKAGE declares (every package when omitted) with what the Ollama server
    has: each variant tag's parameters, template, system prompt and GGUF, whether a tag was
    replaced since the last build, and where the stable tag points. Nothing is changed.

    With --openai URL, compare PACKAGE's serve block for the engine found at URL with what
    that server reports (llama-server's /props and /slots; vLLM's /v1/models, /version and
    /metrics) and, for a server on this machine, with its real command line.

    Exit status: 0 no drift, 1 drift, 2 usage or setup error.
    """
    if openai_url is not None:
        _openai_status(package, spec_file, openai_url, as_json=as_json)
        return
    from modelpack.edge.blobs import DigestCache
    from modelpack.edge.project import open_project
    from modelpack.errors import ServerError, SetupError
    from modelpack.jobs.status import package_status

    project = open_project(spec_file)
    names = [package] if package else list(project.loaded.spec.packages)
    for name in names:
        project.loaded.package(name)  # an unknown name fails before the server is asked
    host = project.server_host()
    cache = DigestCache.in_home(project.home)
    try:
        with project.client(host) as client:
            statuses = [package_status(project, client, name, cache=cache) for name in names]
    except ServerError as exc:
        # Exit 1 means drift here; a server that fails to answer is a setup problem.
        raise SetupError(exc.message, hint=exc.hint or "check the server and its log") from None
    if as_json:
        click.echo(json.dumps([s.to_json() for s in statuses], indent=2))
    else:
        for status in statuses:
            _print(status)
    drifted = [s for s in statuses if s.drift]
    if drifted:
        count = sum(len(s.differences) + (s.unfinished is not None) for s in drifted)
        packages = " ".join(s.package for s in drifted)
        click.echo(
            f"drift: {count} difference{'s' if count != 1 else ''} in {packages}; "
            f"`modelpack build {drifted[0].package}` puts back what the spec declares",
            err=True,
        )
        raise click.exceptions.Exit(1)
    click.echo("no drift", err=True)


def _openai_status(package: str | None, spec_file: Path | None, url: str, *, as_json: bool) -> None:
    from modelpack.cli.output import sanitize
    from modelpack.edge.openai_target import OpenAITarget
    from modelpack.edge.project import open_project
    from modelpack.errors import ServerError, SetupError
    from modelpack.jobs.serve_status import serve_status

    project = open_project(spec_file)
    if package is None:
        raise click.UsageError("--openai needs PACKAGE: the package whose serve block to compare")
    project.loaded.package(package)
    try:
        with OpenAITarget(url, timeout=30.0) as target:
            status = serve_status(project, target, package)
    except ServerError as exc:
        raise SetupError(exc.message, hint=exc.hint or "check the URL and the server") from None
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2))
    else:
        version = status.version or "build not reported"
        click.echo(f"{status.package} on {status.engine} ({version}) at {status.url}")
        if status.process:
            click.echo(f"  process: {sanitize(status.process)}")
        click.echo(f"  serve block  {'drift' if status.drift else 'ok'}")
        for difference in status.differences:
            click.echo(f"    - {sanitize(difference.message())}")
        for note in status.notes:
            click.echo(f"  note: {sanitize(note)}")
    if status.drift:
        count = len(status.differences)
        click.echo(
            f"drift: {count} difference{'s' if count != 1 else ''} between {status.package}'s "
            f"serve block and the {status.engine} at {status.url}; `modelpack render "
            f"{status.package}` writes the launch script the spec declares: restart the server "
            "with it",
            err=True,
        )
        raise click.exceptions.Exit(1)
    click.echo("no drift", err=True)


def _print(status: Any) -> None:
    from modelpack.cli.output import sanitize

    recorded = "" if status.recorded else " (no build record)"
    click.echo(
        f"{status.package} ({status.model}) on Ollama {status.ollama_version} at "
        f"{status.host}{recorded}"
    )
    rows = [(v.tag, v.differences) for v in status.variants]
    stable = status.stable
    points = f" -> {stable.variant}" if stable.variant else ""
    rows.append((f"{stable.tag} (stable{points})", stable.differences))
    width = max(len(label) for label, _ in rows)
    for label, differences in rows:
        click.echo(f"  {label:<{width}}  {'drift' if differences else 'ok'}")
        for difference in differences:
            click.echo(f"    - {sanitize(difference.message())}")
    if status.unfinished:
        click.echo(f"  unfinished: {status.unfinished}")
