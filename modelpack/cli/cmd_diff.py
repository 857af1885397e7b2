"""`modelpack diff A B`: parameter and template differences between two models.

Each side is one of (tried in this order):

- `live:TAG`: a model on the Ollama server, read with `/api/show`;
- `build:PACKAGE[:VARIANT][@REF]`: the Modelfile a recorded build created the variant from
  (kept in `modelfiles/<package>/builds/`, see `modelpack.edge.history`). REF is `latest` (the
  default), `previous`, `~N` (N builds back) or a build id; VARIANT defaults to the variant
  that build made stable, and says which on stderr. Its weights compare by the digests
  recorded at build time. A build made by a modelpack that did not record Modelfiles is an
  error that says to rebuild;
- a path to a Modelfile (its FROM and ADAPTER files are hashed, relative to its folder);
- `PACKAGE:VARIANT`, or `PACKAGE`, rendered from the spec. `PACKAGE` alone means the variant
  the last build made stable, else the first of the chain, and says which on stderr.

Everything is rendered and compared for the server's version when a side is live, else for
the project's target.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from modelpack.cli.options import spec_file_option

LIVE = "live:"
BUILD = "build:"


@dataclass(frozen=True)
class _Side:
    text: str
    kind: str  # live | build | file | spec
    label: str
    variant: str | None = None
    ref: str = ""


@click.command("diff", short_help="Compare two models: variants, builds, files, live.")
@click.argument("a")
@click.argument("b")
@spec_file_option
def diff_command(a: str, b: str, spec_file: Path | None) -> None:
    """Show the differences between models A and B: parameters, template (as a unified
    diff), system prompt, messages, license and GGUF. Each of A and B is PACKAGE:VARIANT or
    PACKAGE (rendered from the spec), a Modelfile path, live:TAG (a model on the server), or
    build:PACKAGE[:VARIANT][@REF] (a recorded build; REF is latest, previous, ~N or an id).

    Exit status: 0 the same, 1 different, 2 usage or setup error.
    """
    from modelpack.core.modelfile.drift import compare
    from modelpack.core.modelfile.params import NEWEST
    from modelpack.errors import ServerError, SetupError

    sides = [_classify(a), _classify(b)]
    context = _Context(spec_file, needs_spec=any(s.kind in ("spec", "build") for s in sides))
    try:
        if any(s.kind == "live" for s in sides):
            version = context.client().ollama_version()
        else:
            version = context.project.version if context.project else NEWEST
        states = [context.state(side, version) for side in sides]
    except ServerError as exc:
        raise SetupError(exc.message, hint=exc.hint or "check the server and its log") from None
    finally:
        context.close()
    differences = compare(states[0], states[1], version=version)
    labels = [_label(side, context) for side in sides]
    if not differences:
        click.echo(f"no differences between {labels[0]} and {labels[1]}")
        return
    _print(differences, labels)
    raise click.exceptions.Exit(1)


def _classify(text: str) -> _Side:
    from modelpack.errors import UsageError

    if text.startswith(LIVE):
        if not text[len(LIVE) :]:
            raise UsageError(f"{text!r} names no model", hint="write live:TAG, e.g. live:smol:pkg")
        return _Side(text[len(LIVE) :], "live", text)
    if text.startswith(BUILD):
        from modelpack.edge.history import LATEST

        body, at, ref = text[len(BUILD) :].partition("@")
        package, _, variant = body.partition(":")
        if not package or (at and not ref):
            raise UsageError(
                f"{text!r} names no build",
                hint="write build:PACKAGE[:VARIANT][@REF], e.g. build:pkg@previous",
            )
        return _Side(body, "build", text, variant or None, ref or LATEST)
    if Path(text).is_file():
        return _Side(text, "file", text)
    return _Side(text, "spec", text)


class _Context:
    """What the sides need, opened on first use: the project, the server, the digest cache."""

    def __init__(self, spec_file: Path | None, *, needs_spec: bool) -> None:
        from modelpack.edge.project import open_project
        from modelpack.errors import UsageError

        self.project: Any = None
        self.chosen: dict[str, str] = {}
        self._client: Any = None
        try:
            self.project = open_project(spec_file)
        except UsageError:
            if needs_spec or spec_file is not None:
                raise

    def client(self) -> Any:
        from modelpack.edge.client import OllamaClient
        from modelpack.edge.project import configured_host, require_server

        if self._client is None:
            if self.project is not None:
                host = self.project.server_host()
            else:
                host = require_server(configured_host())
            self._client = self.project.client(host) if self.project else OllamaClient(host)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def cache(self) -> Any:
        from modelpack.edge.blobs import DigestCache
        from modelpack.edge.project import home_dir

        return DigestCache.in_home(self.project.home if self.project else home_dir())

    def state(self, side: _Side, version: Any) -> Any:
        from modelpack.core.inputs import MODELFILE_LIMIT, read_bytes
        from modelpack.core.modelfile.syntax import decode
        from modelpack.errors import UsageError
        from modelpack.jobs.status import declared_state, live_state, rendered_state

        if side.kind == "live":
            state = live_state(self.client(), side.text, version)
            if state is None:
                raise UsageError(
                    f"the server has no model {side.text!r}",
                    hint="see `ollama list`, or build it with `modelpack build PACKAGE`",
                )
            return state
        if side.kind == "build":
            from modelpack.edge.history import recorded_modelfile

            package = side.text.partition(":")[0]
            recorded = recorded_modelfile(self.project, package, side.variant, side.ref)
            if recorded.chosen is not None:
                click.echo(f"{side.label} means {recorded.label} ({recorded.chosen})", err=True)
            self.chosen[side.label] = recorded.label
            return recorded.state(version)
        if side.kind == "file":
            path = Path(side.text)
            data = read_bytes(path, limit=MODELFILE_LIMIT, what="Modelfile")
            text = decode(data, source=side.text)
            return declared_state(text, path.resolve().parent, version, self.cache())
        return rendered_state(self._render(side, version), version, self.cache())

    def _render(self, side: _Side, version: Any) -> Any:
        from modelpack.edge.history import last_record
        from modelpack.errors import UsageError

        package, _, variant = side.text.partition(":")
        spec = self.project.loaded.spec
        if package not in spec.packages:
            known = ", ".join(spec.packages)
            raise UsageError(
                f"{side.text!r} is neither a Modelfile, live:TAG nor a package of "
                f"{self.project.loaded.source}",
                hint=f"packages here: {known}; for a model on the server write live:{side.text}",
            )
        if not variant:
            record = last_record(self.project, package)
            if record is not None and record.stable_variant is not None:
                variant, why = record.stable_variant, "the variant the last build made stable"
            else:
                variant, why = spec.packages[package].variants[0].name, "the first variant"
            click.echo(f"{package} means {package}:{variant} ({why})", err=True)
            self.chosen[side.text] = f"{package}:{variant}"
        renderer = self.project.renderer(version)
        return renderer.render_package(package, [variant])[0]


def _label(side: _Side, context: _Context) -> str:
    return context.chosen.get(side.label, side.label)


def _print(differences: list[Any], labels: list[str]) -> None:
    """The differences as a table, and the template as a unified diff; every value is escaped
    (a live model's TEMPLATE or SYSTEM is whatever its creator wrote)."""
    from modelpack.cli.output import sanitize
    from modelpack.core.modelfile.drift import TEMPLATE

    labels = [sanitize(label) for label in labels]
    rows = [
        (d.field, sanitize(d.show_value(d.declared)), sanitize(d.show_value(d.live)))
        for d in differences
        if d.field != TEMPLATE
    ]
    if rows:
        table = [("", labels[0], labels[1]), *rows]
        widths = [max(len(row[i]) for row in table) for i in range(2)]
        for name, left, right in table:
            click.echo(f"{name:<{widths[0]}}  {left:<{widths[1]}}  {right}".rstrip())
    for difference in differences:
        if difference.field == TEMPLATE:
            if rows:
                click.echo()
            click.echo("template:")
            lines = difflib.unified_diff(
                str(difference.declared).splitlines(keepends=True),
                str(difference.live).splitlines(keepends=True),
                fromfile=labels[0],
                tofile=labels[1],
            )
            for line in lines:
                body = sanitize(line.rstrip("\n"), keep_newlines=True)
                click.echo(body)
