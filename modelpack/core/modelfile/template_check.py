"""TEMPLATEs that Ollama accepts and that then answer nothing useful: what lint warns about.

Ollama parses a TEMPLATE at create and never checks what it refers to. Its data is a map run
with `missingkey=zero`, so a field Ollama does not set prints `<no value>` and the model never
sees what the author meant to put there (`.Instruction`, `.Query`, `.Document`, `.User`,
`.Output` are all seen in public Modelfiles). And for the reply, Ollama cuts the TEMPLATE at
its first `.Response` (or, with no `.Response` and no `.Messages`, after the end, where it
appends one): whatever the template writes before that point is where the model starts, so a
template that closes the assistant turn there (`{{ .Output }}<|im_end|>`) tells the model its
turn is over and the reply is empty.

What Ollama sets, by release (`template/template.go` `Execute` and `server/routes.go`
`GenerateHandler`/`ChatHandler` at the tags named; `Prompt` before 0.2.2 is in
`server/images.go`/`server/prompt.go`). A TEMPLATE that mentions `messages` anywhere
(`Template.Vars`, case-insensitive) takes the messages path; any other the legacy path, run once
per exchange. `/api/generate` with a `suffix` takes the suffix path whatever the template:

| since | messages path | legacy path | suffix path (generate only) |
|---|---|---|---|
| 0.1.14 | - | System Prompt Response First | - |
| 0.1.25 | - | System Prompt Response | - |
| 0.2.2 | System Messages | System Prompt Response | - |
| 0.2.6 | System Messages Tools Response | System Prompt Response | Prompt Suffix Response |
| 0.9.0 | + Think IsThinkSet on every path | | |
| 0.11.0 | + ThinkLevel on every path | | |

Before 0.1.14 the data was a Go struct, whose unknown fields fail at generate; no table is kept
for those versions. `Tools` is a key on generate's messages path too (always empty there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from modelpack.core.gotmpl.parser import Node, Operand, Pipeline, walk
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

__all__ = ["END_OF_TURN", "TEMPLATE_FIELDS", "TemplateFinding", "template_findings"]

_LEGACY, _MESSAGES, _SUFFIX = "legacy", "messages", "suffix"
_THINK = ("Think", "IsThinkSet")
_LEVEL = (*_THINK, "ThinkLevel")

TEMPLATE_FIELDS: tuple[tuple[OllamaVersion, dict[str, frozenset[str]]], ...] = (
    (OllamaVersion(0, 1, 14), {_LEGACY: frozenset({"System", "Prompt", "Response", "First"})}),
    (OllamaVersion(0, 1, 25), {_LEGACY: frozenset({"System", "Prompt", "Response"})}),
    (
        OllamaVersion(0, 2, 2),
        {
            _MESSAGES: frozenset({"System", "Messages"}),
            _LEGACY: frozenset({"System", "Prompt", "Response"}),
        },
    ),
    (
        OllamaVersion(0, 2, 6),
        {
            _MESSAGES: frozenset({"System", "Messages", "Tools", "Response"}),
            _LEGACY: frozenset({"System", "Prompt", "Response"}),
            _SUFFIX: frozenset({"Prompt", "Suffix", "Response"}),
        },
    ),
    (
        OllamaVersion(0, 9, 0),
        {
            _MESSAGES: frozenset({"System", "Messages", "Tools", "Response", *_THINK}),
            _LEGACY: frozenset({"System", "Prompt", "Response", *_THINK}),
            _SUFFIX: frozenset({"Prompt", "Suffix", "Response", *_THINK}),
        },
    ),
    (
        OllamaVersion(0, 11, 0),
        {
            _MESSAGES: frozenset(
                {"System", "Messages", "Tools", "Response", *_THINK, "ThinkLevel"}
            ),
            _LEGACY: frozenset({"System", "Prompt", "Response", *_THINK, "ThinkLevel"}),
            _SUFFIX: frozenset({"Prompt", "Suffix", "Response", *_THINK, "ThinkLevel"}),
        },
    ),
)
"""Each release where the fields changed, with the fields each path sets (see the table)."""

_ENDPOINT_PATHS = {"/api/generate": (_SUFFIX,), "/api/chat": ()}
"""Paths an endpoint takes besides the template's own (messages or legacy)."""

_RENDERED_SINCE = OllamaVersion(0, 2, 6)
"""From here `template.Execute` builds prompts the way `chat.render_go` does."""

END_OF_TURN = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<end_of_turn>",
    "<|end|>",
    "<|endoftext|>",
    "<|END_OF_TURN_TOKEN|>",
    "</s>",
)
"""Tokens that close a turn in the common chat formats (templates/chat/). The Modelfile's stop
list is no guide: it usually holds the assistant's opener too (`[/INST]`, `ASSISTANT:`), which
is exactly where a right prompt ends."""

_PROBE_USER = "MODELPACK-PROBE-QUESTION"


@dataclass(frozen=True)
class TemplateFinding:
    """One warning about a TEMPLATE; `line` counts from the TEMPLATE's first line (1)."""

    code: str
    message: str
    hint: str
    line: int = 1


def _fields_at(version: OllamaVersion) -> dict[str, frozenset[str]] | None:
    found = None
    for since, paths in TEMPLATE_FIELDS:
        if since <= version.release:
            found = paths
    return found


def _root_fields(nodes: Iterable[Node]) -> list[tuple[str, int]]:
    """(field, line) for every field of the template's own data it reads: `.X` where dot is
    still the data, and `$.X` anywhere; not inside `range`/`with` bodies (dot moves there) or
    `define`/`block` bodies (their dot is whatever the caller passes). Iterative: Go accepts
    any depth of blocks and parentheses, and so must this."""
    found: list[tuple[str, int]] = []
    pipes: list[tuple[Pipeline, bool]] = []
    pending: list[tuple[Node, bool]] = [(node, True) for node in reversed(list(nodes))]
    while pending:
        node, at_root = pending.pop()
        if node.pipe is not None:
            pipes.append((node.pipe, at_root))
        while pipes:
            pipe, pipe_at_root = pipes.pop()
            for command in pipe.commands:
                for operand in command:
                    found += _read(operand, pipe.line, at_root=pipe_at_root)
                    if operand.kind == "pipe" and isinstance(operand.value, Pipeline):
                        pipes.append((operand.value, pipe_at_root))
        if node.kind == "define":
            continue
        moves = node.kind in ("range", "with", "block")
        children = [(child, at_root and not moves) for child in node.body]
        children += [(child, at_root) for child in node.else_body]
        pending += reversed(children)
    return found


def _read(operand: Operand, line: int, *, at_root: bool) -> list[tuple[str, int]]:
    """The data field one operand reads, if it reads one."""
    if operand.kind == "field" and at_root and isinstance(operand.value, tuple):
        return [(str(operand.value[0]), line)]
    if operand.kind == "variable" and operand.value == "$" and operand.chain:
        return [(operand.chain[0], line)]
    return []


def _mentions_messages(nodes: Iterable[Node]) -> bool:
    """Ollama's `slices.Contains(t.Vars(), "messages")`: any field or variable name, any case."""

    def names(pipe: Pipeline | None) -> Iterable[str]:
        stack = [pipe] if pipe is not None else []
        while stack:
            current = stack.pop()
            for command in current.commands:
                for operand in command:
                    if operand.kind == "field":
                        yield from operand.value  # type: ignore[misc]
                    elif operand.kind == "variable":  # Go's VariableNode.Ident: "$m", "A", ...
                        yield str(operand.value)
                        yield from operand.chain
                    elif isinstance(operand.value, Pipeline):
                        stack.append(operand.value)  # a chain on it is Go's ChainNode: not read

    return any(name.lower() == "messages" for node in walk(nodes) for name in names(node.pipe))


def template_findings(
    nodes: Sequence[Node],
    *,
    version: OllamaVersion,
    system: str | None = None,
) -> list[TemplateFinding]:
    """What in a parsed TEMPLATE (`nodes`, parsed for `version`) makes `version` answer nothing
    useful: fields it never sets, a user message that never reaches the model, and a prompt
    that ends the assistant's turn before it starts. `system` is the Modelfile's SYSTEM."""
    paths = _fields_at(version)
    if paths is None:
        return []
    own = _MESSAGES if _MESSAGES in paths and _mentions_messages(nodes) else _LEGACY
    set_by = {
        endpoint: frozenset().union(*(paths.get(p, frozenset()) for p in (own, *extra)))
        for endpoint, extra in _ENDPOINT_PATHS.items()
    }
    everything = frozenset().union(*set_by.values())
    findings: list[TemplateFinding] = []
    reported: set[str] = set()
    for name, line in _root_fields(nodes):
        if name in everything or name in reported:
            continue
        reported.add(name)
        listed = ", ".join(f".{f}" for f in sorted(set_by["/api/generate"]))
        chat = ", ".join(f".{f}" for f in sorted(set_by["/api/chat"]))
        findings.append(
            TemplateFinding(
                "template-field-unset",
                f"TEMPLATE uses .{name}, which Ollama {version} never sets: neither /api/generate "
                "nor /api/chat fills it in (it is empty, and prints as <no value>)",
                f"with this TEMPLATE /api/generate sets {listed} and /api/chat {chat}",
                line,
            )
        )
    if version.release >= _RENDERED_SINCE:
        findings += _rendered(nodes, version, system)
    return findings


def _rendered(
    nodes: Sequence[Node], version: OllamaVersion, system: str | None
) -> list[TemplateFinding]:
    """Findings from the prompt Ollama builds for one user message (`chat.render_go_parsed`
    on the tree lint already parsed)."""
    # Imported here: chat brings Jinja, which `modelpack lint` on files without a TEMPLATE
    # need not load.
    from modelpack.core.chat import Message, render_go_parsed

    conversation = [Message("system", system)] if system else []
    conversation.append(Message("user", _PROBE_USER))
    try:
        prompt = render_go_parsed(list(nodes), conversation, version=version)
    except InputError:
        return []  # what does not run is lint's or the server's to report, not a warning here
    findings = []
    if _PROBE_USER not in prompt:
        findings.append(
            TemplateFinding(
                "template-drops-prompt",
                "the user's message never reaches the model: the prompt Ollama builds from "
                "this TEMPLATE does not contain it",
                "write it with {{ .Prompt }} (or range over .Messages and write .Content)",
            )
        )
    ending = prompt.rstrip()
    closing = next((token for token in END_OF_TURN if ending.endswith(token)), None)
    if closing is not None:
        findings.append(
            TemplateFinding(
                "template-ends-turn",
                f"the prompt Ollama builds for the reply ends with {closing!r}: Ollama cuts the "
                "TEMPLATE at its first .Response (or at its end when it has none), so the "
                "model is told its turn is over before it starts, and the reply is empty",
                "end the TEMPLATE with the assistant's opening, then {{ .Response }} and the "
                "end-of-turn token after it",
            )
        )
    return findings
