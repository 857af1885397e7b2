"""Lint a Modelfile against what one Ollama version accepts, and fix what can be fixed.

Ollama itself reports problems late and one at a time: the CLI stops at the first unknown
parameter, the structured API stores wrong names and types silently (and every generate then
fails with HTTP 500), a bad TEMPLATE is refused only after the upload, and some TEMPLATEs crash
the server. `lint` reports everything it can find, at once, before anything is sent:

- syntax, exactly as Ollama's parser reads it (one error: parsing stops there, as in Ollama);
- a missing FROM; instructions the target version does not know yet;
- every PARAMETER against the version-aware schema (names, Go types, ranges, duplicates);
- the TEMPLATE as Go's text/template parses it, with the target version's functions, and the
  `{{template "x"}}` call that crashes Ollama 0.2.2 to 0.12.3;
- as warnings, TEMPLATEs the servers accept and then answer nothing useful with: fields the
  target version never sets, a user message that never reaches the model, a prompt that ends
  the assistant's turn (`modelpack.core.modelfile.template_check`);
- REQUIRES as Ollama's semver check reads it; more than one ADAPTER;
- when FROM is a local GGUF (`with_trained_context`, given its trained context), a num_ctx above
  it, with the value the target version will really run.

`fix` removes removed and deprecated parameters and rewrites each remaining instruction in the
writer's normal form, editing only the lines of the instructions themselves: comments and blank
lines stay where they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from modelpack.core.gotmpl import parser as gotemplate
from modelpack.core.modelfile.diagnostics import Diagnostic, Findings
from modelpack.core.modelfile.params import ParamValue, check_parameters
from modelpack.core.modelfile.syntax import Command, Modelfile, decode, format_command, parse
from modelpack.core.modelfile.template_check import template_findings
from modelpack.core.versions import OllamaVersion
from modelpack.errors import ModelfileError, UsageError

__all__ = [
    "FIXABLE",
    "INSTRUCTION_SINCE",
    "FixResult",
    "LintReport",
    "fix",
    "lint",
    "with_trained_context",
]

# The release that first accepted each instruction (Ollama's parser/parser.go history); before
# it, the instruction fails with `command must be one of ...`.
INSTRUCTION_SINCE: dict[str, OllamaVersion] = {
    "message": OllamaVersion(0, 1, 21),
    "renderer": OllamaVersion(0, 12, 0),
    "parser": OllamaVersion(0, 12, 0),
    "requires": OllamaVersion(0, 14, 0),
    "draft": OllamaVersion(0, 23, 1),
}

# Codes `fix` resolves by deleting the PARAMETER line.
FIXABLE = frozenset({"removed-parameter", "deprecated-parameter"})

# golang.org/x/mod/semver.IsValid, applied by the CLI to "v" + REQUIRES: shorthand v1 and v1.2
# are valid; a pre-release or build suffix needs all three numbers; no leading zeros.
_NUM = r"(?:0|[1-9][0-9]*)"
_IDENT = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"v{_NUM}(?:\.{_NUM}(?:\.{_NUM}"
    rf"(?:-(?:{_NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:{_NUM}|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?"
    rf"(?:\+{_IDENT}(?:\.{_IDENT})*)?)?)?"
)


@dataclass(frozen=True)
class LintReport(Findings):
    """The findings for one Modelfile, and the typed parameters a create would send."""

    source: str
    version: OllamaVersion
    diagnostics: list[Diagnostic]
    modelfile: Modelfile | None = None
    parameters: dict[str, ParamValue] = field(default_factory=dict)


def lint(text: str | bytes, *, source: str, version: OllamaVersion) -> LintReport:
    """Every finding for one Modelfile's text, for the given target Ollama version."""
    try:
        modelfile = parse(text, source=source)
    except ModelfileError as exc:
        return LintReport(
            source, version, [Diagnostic.error("syntax", exc.message, exc.line, exc.hint)]
        )
    return lint_modelfile(modelfile, source=source, version=version)


def with_trained_context(report: LintReport, trained: int | None) -> LintReport:
    """`report` with a warning when its num_ctx is above `trained`, the FROM GGUF's trained
    context, naming the value the target version really runs (`context_cap`)."""
    from modelpack.core.gguf.memory import context_cap

    message = context_cap(report.version, report.parameters.get("num_ctx"), trained)
    if message is None or report.modelfile is None:
        return report
    lines = [p.line for p in report.modelfile.parameters if p.name == "num_ctx"]
    warning = Diagnostic.warning(
        "num-ctx-above-trained",
        message,
        lines[-1] if lines else None,
        f"set num_ctx to {trained} or less",
    )
    diagnostics = sorted(
        [*report.diagnostics, warning], key=lambda d: (d.line or 0, not d.is_error)
    )
    return replace(report, diagnostics=diagnostics)


def lint_modelfile(modelfile: Modelfile, *, source: str, version: OllamaVersion) -> LintReport:
    diagnostics: list[Diagnostic] = []
    if modelfile.from_ is None:
        diagnostics.append(
            Diagnostic.error(
                "missing-from", "no FROM line", 1, "add FROM with a GGUF path or a model name"
            )
        )
    diagnostics += _instruction_versions(modelfile.commands, version)
    named = [p for p in modelfile.parameters if p.name]
    for unnamed in (p for p in modelfile.parameters if not p.name):
        diagnostics.append(
            Diagnostic.error(
                "empty-parameter-name",
                f"PARAMETER has an empty name and the value {unnamed.value!r}",
                unnamed.line,
                "write one space between PARAMETER and the name",
            )
        )
    params = check_parameters([(p.name, p.value, p.line) for p in named], version=version)
    diagnostics += params.diagnostics
    diagnostics += _template(modelfile, version)
    diagnostics += _requires(modelfile.commands, version)
    adapters = [c for c in modelfile.commands if c.name == "adapter"]
    for extra in adapters[:-1]:
        diagnostics.append(
            Diagnostic.warning(
                "multiple-adapters",
                f"only the last ADAPTER (line {adapters[-1].line}) is used",
                extra.line,
                "keep one ADAPTER line",
            )
        )
    diagnostics.sort(key=lambda d: (d.line or 0, not d.is_error))
    return LintReport(source, version, diagnostics, modelfile, params.parameters)


def _instruction_versions(commands: list[Command], version: OllamaVersion) -> list[Diagnostic]:
    found = []
    for command in commands:
        since = INSTRUCTION_SINCE.get(command.name)
        if since is not None and version.release < since:
            found.append(
                Diagnostic.error(
                    "too-new-instruction",
                    f"{command.name.upper()} needs Ollama >= {since} (target {version})",
                    command.line,
                    f"remove it, or target Ollama {since} or newer",
                )
            )
    return found


def _template(modelfile: Modelfile, version: OllamaVersion) -> list[Diagnostic]:
    templates = [c for c in modelfile.commands if c.name == "template"]
    if not templates:
        return []
    command = templates[-1]  # last one wins, as in Ollama
    first_line = command.line or 1
    try:
        nodes = gotemplate.parse(
            command.args,
            functions=gotemplate.ollama_functions(version),
            max_paren_depth=gotemplate.max_paren_depth(version),
        )
    except gotemplate.TemplateSyntaxError as exc:
        return [
            Diagnostic.error(
                "template-syntax",
                f"TEMPLATE does not parse: {exc.message} (template line {exc.line})",
                first_line + exc.line - 1,
                exc.detail or "Ollama refuses it at create with 400 template error",
            )
        ]
    crashes = [
        Diagnostic.error(
            "template-crash",
            f'{{{{template "{node.name}"}}}} without an argument crashes Ollama {version} '
            "at create",
            first_line + node.line - 1,
            f'pass the data along: {{{{template "{node.name}" .}}}}',
        )
        for node in gotemplate.crashing_template_calls(nodes, version)
    ]
    if crashes:
        return crashes
    systems = [c for c in modelfile.commands if c.name == "system"]
    findings = template_findings(
        nodes,
        version=version,
        system=systems[-1].args if systems else None,
    )
    return [
        Diagnostic.warning(f.code, f.message, first_line + f.line - 1, f.hint) for f in findings
    ]


def _requires(commands: list[Command], version: OllamaVersion) -> list[Diagnostic]:
    requires = [c for c in commands if c.name == "requires"]
    if not requires:
        return []
    command = requires[-1]
    if not _SEMVER.fullmatch("v" + command.args):
        return [
            Diagnostic.error(
                "invalid-requires",
                f"REQUIRES {command.args!r} is not a valid semver",
                command.line,
                "write a version such as 0.14.0",
            )
        ]
    try:
        wanted = OllamaVersion.parse(command.args)
    except UsageError:  # shorthand such as "1.2" is valid semver but not a full version
        return []
    if version.release < wanted.release:
        return [
            Diagnostic.warning(
                "requires-newer",
                f"the Modelfile requires Ollama {wanted}, newer than the target {version}",
                command.line,
                f"target Ollama {wanted} or newer",
            )
        ]
    return []


@dataclass(frozen=True)
class FixResult:
    text: str
    removed: list[Command]
    rewritten: list[Command]

    @property
    def changed(self) -> bool:
        return bool(self.removed or self.rewritten)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def fix(text: str | bytes, *, source: str, version: OllamaVersion) -> FixResult:
    """Remove removed/deprecated parameters and normalise every instruction's form.

    Raises ModelfileError when the text does not parse: there is nothing safe to rewrite.
    """
    if isinstance(text, bytes | bytearray):
        text = decode(bytes(text), source)
    modelfile = parse(text, source=source)
    report = lint_modelfile(modelfile, source=source, version=version)
    drop = {d.line for d in report.diagnostics if d.code in FIXABLE}
    lines = _LINE.findall(text)
    newline = next((ln[len(ln.rstrip("\r\n")) :] for ln in lines if ln.endswith("\n")), "\n")
    out: list[str] = []
    removed: list[Command] = []
    rewritten: list[Command] = []
    cursor = 0
    for command in modelfile.commands:
        assert command.line is not None and command.end_line is not None
        start, end = command.line - 1, command.end_line - 1
        out += lines[cursor:start]
        original = "".join(lines[start : end + 1])
        cursor = end + 1
        if command.name == "parameter" and command.line in drop:
            removed.append(command)
            continue
        try:
            normal = format_command(command)
        except ModelfileError:  # e.g. an empty parameter name: leave it for a person to fix
            out.append(original)
            continue
        ending = original[len(original.rstrip("\r\n")) :] or (
            newline if cursor < len(lines) else ""
        )
        if normal != original.rstrip("\r\n"):
            rewritten.append(command)
        out.append(normal + ending)
    out += lines[cursor:]
    return FixResult("".join(out), removed, rewritten)
