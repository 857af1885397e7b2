"""Render a conversation the way the model's tokenizer and Ollama's TEMPLATE would, and compare.

An imported GGUF "talks gibberish" when the Modelfile's Go TEMPLATE lays the conversation out
differently from the Jinja `tokenizer.chat_template` the model was trained with. This module
renders probe conversations (`PROBES`: with and without a system message, one turn and
several, ending on the assistant, tool turns where a TEMPLATE has them) both ways, exactly as
transformers/llama.cpp (Jinja) and Ollama (Go, `template.Execute` with its `collate` and legacy
`.Prompt`/`.Response` path) do, after adding what Ollama's /api/chat adds to a client's
messages (the Modelfile's MESSAGEs and SYSTEM, `as_sent`), and says whether they agree and
where they first differ. `detect` picks the shipped chat format that reproduces a GGUF's
template; `parity` checks one TEMPLATE against one Jinja template; `fit` also finds the model
template's default system prompt when a TEMPLATE matches only with it as SYSTEM.

Normalisation, the only one: a leading BOS that the Jinja template writes through its
`bos_token` variable is removed from the Jinja rendering. Jinja templates write BOS as text,
but Ollama and llama.cpp add BOS when they tokenize (the GGUF's `tokenizer.ggml.add_bos_token`),
so an Ollama TEMPLATE must not write it; comparing with it left in would fail every template
that is right. A BOS written literally stays (SmolLM2's BOS *is* `<|im_start|>`). Nothing
else is normalised: whitespace becomes tokens, so one extra newline is a real difference.

Both kinds of template come from outside (a GGUF, a spec, a server), so each runs within a
`TemplateBudget` (`core.budget`): the Jinja one in modelpack's sandbox (`core.sandbox`), the Go
one in modelpack's executor with a meter. Running past it is a TemplateBudgetError naming the
template's source.

Pure: no network, no clock (`strftime_now` renders a fixed date unless `now` is given); the
only files it reads are the format folders `chat_formats` is handed.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2.ext

from modelpack.core.budget import (
    DEFAULT_BUDGET,
    BudgetExceeded,
    Meter,
    TemplateBudget,
    TemplateBudgetError,
    budget_error,
)
from modelpack.core.gotmpl import execute as goexec
from modelpack.core.gotmpl import parser as gotemplate
from modelpack.core.gotmpl.parser import Node, Operand, Pipeline
from modelpack.core.inputs import TEMPLATE_LIMIT, read_text
from modelpack.core.sandbox import Compiled, Sandbox, one_line
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

__all__ = [
    "PROBE",
    "PROBES",
    "ChatFormat",
    "ChatReference",
    "Conversation",
    "ConversationParity",
    "Detection",
    "Fit",
    "Message",
    "Parity",
    "as_sent",
    "chat_formats",
    "detect",
    "fit",
    "parity",
    "probes",
    "render_go",
    "render_jinja",
]


@dataclass(frozen=True)
class ChatFormat:
    """A chat format modelpack ships: Ollama's Go TEMPLATE and the stop list that goes with it."""

    name: str
    template: str
    stop: list[str]


def chat_formats(template_dirs: Sequence[Path]) -> dict[str, ChatFormat]:
    """The named chat formats in `<dir>/chat/`, earlier folders winning."""
    found: dict[str, ChatFormat] = {}
    for folder in reversed(template_dirs):
        for path in sorted((folder / "chat").glob("*.gotmpl")):
            meta_path = path.with_suffix(".json")
            stop = _stop_list(meta_path) if meta_path.exists() else []
            text = read_text(path, limit=TEMPLATE_LIMIT, what="chat format")
            found[path.stem] = ChatFormat(path.stem, text, stop)
    return found


def _stop_list(meta_path: Path) -> list[str]:
    """The `stop` list of a chat format's `<name>.json`: `{"stop": ["<|im_end|>"]}`."""
    text = read_text(meta_path, limit=TEMPLATE_LIMIT, what="chat format's settings")
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):
        meta = None
    stop = meta.get("stop", []) if isinstance(meta, dict) else None
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise InputError(
            'not a chat format\'s settings: expected {"stop": [strings]}',
            source=str(meta_path),
            hint="fix the file, or delete it for a format without stop strings",
        )
    return stop


ROLES = ("system", "user", "assistant")

# The version render_go emulates when none is given: the project's current target.
DEFAULT_VERSION = OllamaVersion(0, 9, 3)
# template.Values gained Think and IsThinkSet in v0.9.0 (template/template.go).
THINK_SINCE = OllamaVersion(0, 9, 0)
# A fixed "now" for strftime_now, so renderings (and detection) are reproducible.
PROBE_DATE = datetime(2024, 7, 26)
# What errors name when the caller does not say where a template came from.
JINJA_SOURCE = "tokenizer.chat_template"
GO_SOURCE = "TEMPLATE"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


# Distinctive, untrimmed-safe contents: no leading or trailing whitespace, because many
# reference templates `| trim` contents and Go templates cannot; every turn is tagged so a
# misplaced or dropped turn shows in the first difference.
_SYSTEM = Message("system", "SYSTEM-PROBE: answer in one line.")
_USER_1 = Message("user", "USER-PROBE-1: what is 1+1?")
_ASSISTANT_1 = Message("assistant", "ASSISTANT-PROBE-1: 2.")
_USER_2 = Message("user", "USER-PROBE-2: and 2+2?")

PROBE: tuple[Message, ...] = (_SYSTEM, _USER_1, _ASSISTANT_1, _USER_2)
"""The conversation with every role, compared first (and shown when formats are detected)."""


@dataclass(frozen=True)
class Conversation:
    """One probe conversation: what a client sends to /api/chat, before Ollama adds anything."""

    name: str
    messages: tuple[Message, ...]
    optional: bool = False
    """The model's own template may refuse it (raise_exception): it is then not compared, since
    no client could have used it with that model either."""


PROBES: tuple[Conversation, ...] = (
    Conversation("multi-turn with a system message", PROBE),
    Conversation("a single user turn, no system message", (_USER_1,)),
    Conversation("multi-turn, no system message", (_USER_1, _ASSISTANT_1, _USER_2)),
    Conversation("ending on an assistant message", (_USER_1, _ASSISTANT_1), optional=True),
)
"""What real clients send: with and without a system message, one turn and several, and a
conversation that ends on the assistant (a prefill). `probes` adds a tool turn for templates
that have them."""

TOOL_PROBE = Conversation(
    "with a tool result",
    (
        _SYSTEM,
        _USER_1,
        Message("assistant", "ASSISTANT-PROBE-1: calling the calculator."),
        Message("tool", "TOOL-PROBE: 2"),
        _USER_2,
    ),
    optional=True,
)


def probes(go_template: str) -> tuple[Conversation, ...]:
    """The conversations a TEMPLATE is compared on: `PROBES`, plus a tool-result turn when the
    TEMPLATE handles tools (it mentions them). Image turns are not compared: Ollama replaces an
    image by `[img-N]` text and its embedding, a Jinja template by the model's image token, and
    no text comparison of the two means anything."""
    if "tool" in go_template.lower():
        return (*PROBES, TOOL_PROBE)
    return PROBES


def as_sent(
    messages: Sequence[Message],
    *,
    system: str | None = None,
    preset: Sequence[Message] = (),
) -> tuple[Message, ...]:
    """The messages Ollama's /api/chat renders for a client's `messages`: the Modelfile's
    MESSAGEs (`preset`) first, and the Modelfile's SYSTEM in front of everything when the
    client's first message is not a system message (server/routes.go, ChatHandler)."""
    out = (*preset, *messages)
    if system and (not messages or messages[0].role != "system"):
        out = (Message("system", system), *out)
    return tuple(out)


def _as_dicts(messages: Sequence[Message | Mapping[str, str]]) -> list[dict[str, str]]:
    out = []
    for message in messages:
        if isinstance(message, Message):
            out.append({"role": message.role, "content": message.content})
        else:
            out.append({"role": str(message["role"]), "content": str(message["content"])})
    return out


# -- Jinja (transformers / llama.cpp) ----------------------------------------------------------


class _TemplateRaised(Exception):
    """`raise_exception(...)` was called by the template."""


def _raise_exception(message: str) -> None:
    raise _TemplateRaised(message)


def _tojson(
    value: Any,
    *,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    """transformers' tojson: json.dumps without HTML escaping (jinja's own would escape)."""
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _compile_jinja(
    chat_template: str, *, source: str, budget: TemplateBudget, now: datetime
) -> Compiled:
    """The chat template compiled in transformers' environment, within `budget`:
    ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks, the loopcontrols extension,
    `raise_exception`, `strftime_now` and a tojson that does not HTML-escape."""
    sandbox = Sandbox(
        budget,
        immutable=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[jinja2.ext.loopcontrols],
        filters={"tojson": _tojson},
        globals={"raise_exception": _raise_exception, "strftime_now": now.strftime},
    )
    return sandbox.load(chat_template, what="the chat template", source=source)


def _render_compiled(
    compiled: Compiled,
    messages: Sequence[Message | Mapping[str, str]],
    *,
    bos_token: str,
    eos_token: str,
    add_generation_prompt: bool = True,
) -> str:
    context = {
        "messages": _as_dicts(messages),
        "tools": None,
        "documents": None,
        "add_generation_prompt": add_generation_prompt,
        "bos_token": bos_token,
        "eos_token": eos_token,
    }
    try:
        return compiled.render(context, passthrough=(_TemplateRaised,))
    except _TemplateRaised as exc:
        raise InputError(
            f"the chat template refused the conversation: {one_line(exc)}",
            source=compiled.source,
            hint="the template's raise_exception() fired",
        ) from None


def render_jinja(
    chat_template: str,
    messages: Sequence[Message | Mapping[str, str]],
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    now: datetime = PROBE_DATE,
    source: str = JINJA_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
) -> str:
    """Render a `tokenizer.chat_template` as transformers' `apply_chat_template` does.

    The template runs in modelpack's sandbox (`core.sandbox`) within `budget`. A template
    error, `raise_exception` or running past the budget is an InputError naming `source`
    (where the template came from, e.g. `m.gguf:tokenizer.chat_template`).
    """
    compiled = _compile_jinja(chat_template, source=source, budget=budget, now=now)
    return _render_compiled(
        compiled,
        messages,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
    )


# -- Go (Ollama's template.Execute) ------------------------------------------------------------


def _identifiers(nodes: Sequence[Node]) -> set[str]:
    """Ollama's Template.Vars: lowercased field and variable names anywhere in the tree.

    Like Go's `Identifiers`, a field chained on a parenthesised pipeline (a ChainNode) is not
    counted, but `$.Messages` is (a VariableNode's identifiers include its fields).
    """
    names: set[str] = set()

    def pipeline(pipe: Pipeline | None) -> None:
        if pipe is None:
            return
        for command in pipe.commands:
            for operand in command:
                visit_operand(operand)

    def visit_operand(operand: Operand) -> None:
        if operand.kind == "field":
            names.update(str(n).lower() for n in operand.value)  # type: ignore[attr-defined]
            names.update(n.lower() for n in operand.chain)
        elif operand.kind == "variable":
            names.add(str(operand.value).lower())
            names.update(n.lower() for n in operand.chain)
        elif operand.kind == "pipe":
            assert isinstance(operand.value, Pipeline)
            pipeline(operand.value)

    for node in gotemplate.walk(nodes):
        pipeline(node.pipe)
    return names


_RESPONSE = Node("action", 0, pipe=Pipeline((), [[Operand("field", ("Response",))]], 0))


class _GoPanic(Exception):
    """A nil-interface conversion in Ollama's deleteNode: the server would answer 500."""


def _cut_after_response(nodes: list[Node]) -> list[Node]:
    """Ollama's deleteNode(root, fn): keep everything up to the first `.Response` field.

    A faithful port of its walk: the predicate runs on each node before it is descended into;
    it marks the first FieldNode naming Response and then deletes every node it meets after.
    If/with/range pipelines are not walked; text, template and variable nodes are not descended;
    a command whose arguments all go deletes the whole pipeline (and its action). An else
    branch met after the cut makes Go panic (nil *ListNode conversion), raised as _GoPanic.
    """
    cut = False

    def walk_list(items: list[Node]) -> list[Node]:
        kept = []
        for node in items:
            new = walk_node(node)
            if new is not None:
                kept.append(new)
        return kept

    def walk_node(node: Node) -> Node | None:
        nonlocal cut
        if cut:
            return None
        if node.kind in {"if", "with", "range"}:
            body = walk_list(node.body)
            else_body = node.else_body
            if node.else_body:
                if cut:
                    raise _GoPanic("interface conversion: parse.Node is nil, not *parse.ListNode")
                else_body = walk_list(node.else_body)
            return Node(node.kind, node.line, node.text, node.pipe, node.name, body, else_body)
        if node.kind == "action":
            assert node.pipe is not None
            pipe = walk_pipe(node.pipe)
            return None if pipe is None else Node("action", node.line, pipe=pipe)
        return node

    def walk_pipe(pipe: Pipeline) -> Pipeline | None:
        nonlocal cut
        if cut:
            return None
        commands = []
        for command in pipe.commands:
            args = []
            for operand in command:
                if cut:
                    continue
                if operand.kind == "field" and "Response" in operand.value:  # type: ignore[operator]
                    cut = True
                    args.append(operand)
                elif operand.kind == "pipe":
                    assert isinstance(operand.value, Pipeline)
                    inner = walk_pipe(operand.value)
                    if inner is not None:
                        args.append(Operand("pipe", inner, operand.chain))
                else:
                    args.append(operand)
            if not args:
                return None
            commands.append(args)
        return Pipeline(pipe.decl, commands, pipe.line, pipe.is_assign) if commands else None

    return walk_list(nodes)


def _collate(messages: list[dict[str, str]]) -> tuple[str, list[dict[str, str]]]:
    """Ollama's collate: merge consecutive same-role messages with a blank line; system
    messages stay in the list and are also joined (blank line) into .System."""
    system: list[str] = []
    collated: list[dict[str, str]] = []
    for message in messages:
        if message["role"] == "system":
            system.append(message["content"])
        if collated and collated[-1]["role"] == message["role"]:
            collated[-1] = {
                **collated[-1],
                "content": collated[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            collated.append(dict(message))
    return "\n\n".join(system), collated


def parse_go(
    template: str, *, version: OllamaVersion | None = None, source: str = GO_SOURCE
) -> list[Node]:
    """Parse a TEMPLATE as `version`'s Ollama would (its functions and nesting limit), once, for
    any number of `render_go_parsed` calls; a syntax error is an InputError naming `source`."""
    version = version or DEFAULT_VERSION
    try:
        return gotemplate.parse(
            template,
            functions=gotemplate.ollama_functions(version),
            max_paren_depth=gotemplate.max_paren_depth(version),
        )
    except gotemplate.TemplateSyntaxError as exc:
        raise InputError(f"template error: {exc}", source=source, line=exc.line) from None


def render_go(
    template: str,
    messages: Sequence[Message | Mapping[str, str]],
    *,
    version: OllamaVersion | None = None,
    source: str = GO_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
    think: bool | None = None,
) -> str:
    """The prompt Ollama's /api/chat builds from `messages` with this TEMPLATE
    (`parse_go`, then `render_go_parsed`)."""
    nodes = parse_go(template, version=version, source=source)
    return render_go_parsed(
        nodes, messages, version=version, source=source, budget=budget, think=think
    )


def render_go_parsed(
    nodes: list[Node],
    messages: Sequence[Message | Mapping[str, str]],
    *,
    version: OllamaVersion | None = None,
    source: str = GO_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
    think: bool | None = None,
) -> str:
    """The prompt Ollama's /api/chat builds from `messages` with a TEMPLATE parsed by
    `parse_go` for the same `version`.

    `think` is the request's `think` (from 0.9.0 the template sees `.Think` and `.IsThinkSet`,
    as routes.go sets them; earlier versions have neither).

    Follows template.Execute of the given version (default 0.9.3; read at v0.5.4 and v0.9.3):
    a template that mentions `.Messages` runs once with System (all system messages), the
    collated Messages, Tools and an empty Response. Any other template runs once per
    system/user/assistant exchange with .System/.Prompt/.Response, and the last exchange runs
    on a copy of the tree cut just after its `.Response`, so the prompt ends at the assistant
    opener; that copy is executed with no defined templates and no `json` (Go's AddParseTree
    onto a fresh template), as on the server. A template that mentions neither `.Messages` nor
    `.Response` gets `{{ .Response }}` appended first, as template.Parse does.
    Assumes the conversation fits the context (chatPrompt would drop old messages otherwise).
    All of it runs within `budget`; errors name `source` (where the TEMPLATE came from).
    """
    version = version or DEFAULT_VERSION
    functions = gotemplate.ollama_functions(version)
    meter = Meter(budget)
    try:
        # Everything below walks the tree recursively: refuse a deep one before it does.
        depth = gotemplate.nesting_depth(nodes)
        if depth > budget.depth:
            raise BudgetExceeded(f"blocks and parentheses nested {depth} deep")
        names = _identifiers(nodes)
        if "messages" not in names and "response" not in names:
            nodes = [*nodes, _RESPONSE]
        calls = {k: v for k, v in goexec.builtin_functions().items() if k in functions}
        thinking: dict[str, object] = {}
        if version.release >= THINK_SINCE:
            thinking = {"Think": bool(think), "IsThinkSet": think is not None}
        system, collated = _collate(_as_dicts(messages))
        if "messages" in names:
            message_fields: dict[str, object] = {"Images": None, "ToolCalls": None}
            if version.release >= THINK_SINCE:
                message_fields["Thinking"] = ""
            data = {
                "System": system,
                "Messages": [
                    goexec.Struct(Role=m["role"], Content=m["content"], **message_fields)
                    for m in collated
                ],
                "Tools": None,
                "Response": "",
                **thinking,
            }
            return goexec.execute(nodes, data, functions=calls, meter=meter)
        return _render_legacy(nodes, collated, calls, thinking, meter)
    except BudgetExceeded as exc:
        raise budget_error(exc, what="the TEMPLATE", source=source) from None
    except goexec.GoExecError as exc:
        raise InputError(f"template error: {exc}", source=source, line=exc.line) from None
    except _GoPanic as exc:
        raise InputError(
            f"Ollama would panic rendering this template: {exc}",
            source=source,
            hint="an {{else}} after {{ .Response }} breaks Ollama's legacy (no .Messages) path",
        ) from None


def _render_legacy(
    nodes: list[Node],
    collated: list[dict[str, str]],
    functions: Mapping[str, Any],
    think: Mapping[str, object],
    meter: Meter,
) -> str:
    out: list[str] = []
    turn = {"System": "", "Prompt": "", "Response": ""}

    def flush() -> None:
        out.append(goexec.execute(nodes, {**turn, **think}, functions=functions, meter=meter))
        turn.update(System="", Prompt="", Response="")

    for message in collated:
        role, content = message["role"], message["content"]
        if role == "system":
            if turn["Prompt"] or turn["Response"]:
                flush()
            turn["System"] = content
        elif role == "user":
            if turn["Response"]:
                flush()
            turn["Prompt"] = content
        elif role == "assistant":
            turn["Response"] = content
    last = _cut_after_response(nodes)
    no_json = {k: v for k, v in functions.items() if k != "json"}
    out.append(
        goexec.execute(last, {**turn, **think}, functions=no_json, templates={}, meter=meter)
    )
    return "".join(out)


# -- comparing ---------------------------------------------------------------------------------


def _escape(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _first_difference(expected: str, actual: str, width: int = 24) -> tuple[int | None, str, str]:
    """(index of the first differing character or None, escaped snippets of both from there)."""
    if expected == actual:
        return None, "", ""
    pos = 0
    limit = min(len(expected), len(actual))
    while pos < limit and expected[pos] == actual[pos]:
        pos += 1
    start = max(0, pos - 8)

    def snippet(text: str) -> str:
        part = text[start : pos + width]
        lead = "…" if start else ""
        tail = "…" if pos + width < len(text) else ""
        return lead + _escape(part) + tail if part else "<end>"

    return pos, snippet(expected), snippet(actual)


def _render_without_bos(
    compiled: Compiled,
    messages: Sequence[Message],
    bos_token: str,
    eos_token: str,
    *,
    add_generation_prompt: bool = True,
) -> str:
    """The Jinja rendering minus a leading BOS that the template wrote through `bos_token`.

    Only a BOS that came from the variable is dropped (rendered with bos_token="", the text
    no longer starts with it): SmolLM2's BOS is `<|im_start|>`, which its template writes
    literally as part of ChatML and which must stay. BOS tokens later in the text (Llama 2's
    `</s><s>` between turns) stay too: they are real tokens of the prompt.
    """
    text = _render_compiled(
        compiled,
        messages,
        bos_token=bos_token,
        eos_token=eos_token,
        add_generation_prompt=add_generation_prompt,
    )
    if bos_token and text.startswith(bos_token):
        without = _render_compiled(
            compiled,
            messages,
            bos_token="",
            eos_token=eos_token,
            add_generation_prompt=add_generation_prompt,
        )
        if not without.startswith(bos_token):
            return text[len(bos_token) :]
    return text


def _renderings(
    compiled: Compiled, messages: Sequence[Message], bos_token: str, eos_token: str
) -> tuple[str, ...]:
    """The renderings of `messages` a TEMPLATE may reproduce, the usual one first.

    A conversation that ends on an assistant message has two honest renderings: the turn
    closed and a new assistant turn opened (transformers' add_generation_prompt, what Ollama's
    `.Messages` templates usually do), or the turn left open to be continued (transformers'
    continue_final_message: cut just after the final message, what llama-server does and
    what Ollama's legacy `.Prompt`/`.Response` path does). Either is what some client expects.
    """
    first = _render_without_bos(compiled, messages, bos_token, eos_token)
    if not messages or messages[-1].role != "assistant" or not messages[-1].content:
        return (first,)
    closed = _render_without_bos(
        compiled, messages, bos_token, eos_token, add_generation_prompt=False
    )
    final = messages[-1].content
    if final not in closed:
        return (first,)
    cont = closed[: closed.rindex(final) + len(final)]
    return (first,) if cont == first else (first, cont)


def _fold_system(messages: Sequence[Message]) -> tuple[Message, ...]:
    """The probe for a template that refuses system messages: the system text goes in front of
    the first user message followed by one newline, the convention llama.cpp applies to such
    templates (Mistral v0.1/v0.2: "[INST] SYSTEM\\nUSER [/INST]") and Ollama's gemma-instruct."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    for i, message in enumerate(rest):
        if message.role == "user":
            rest[i] = Message("user", f"{system}\n{message.content}")
            break
    return tuple(rest)


@dataclass(frozen=True)
class _Reference:
    texts: tuple[str, ...]
    """The renderings a TEMPLATE may reproduce, the one shown in messages first."""
    folded: bool
    refused: str | None = None
    """Why the model's template refused an optional conversation (then `texts` is empty)."""


class _Jinja:
    """A GGUF's chat template compiled once, with its renderings of each conversation kept:
    `detect` compares many formats on the same conversations. Each rendering has its own
    budget, and one that runs past it ends the comparison (a template that loops forever is
    not tried again with the system folded)."""

    def __init__(
        self,
        chat_template: str,
        bos_token: str,
        eos_token: str,
        *,
        source: str,
        budget: TemplateBudget,
    ) -> None:
        self.compiled = _compile_jinja(chat_template, source=source, budget=budget, now=PROBE_DATE)
        self.bos_token = bos_token
        self.eos_token = eos_token
        self._done: dict[tuple[tuple[Message, ...], bool], _Reference] = {}

    def reference(self, messages: tuple[Message, ...], *, optional: bool = False) -> _Reference:
        key = (messages, optional)
        if key not in self._done:
            self._done[key] = self._reference(messages, optional=optional)
        return self._done[key]

    def _reference(self, messages: tuple[Message, ...], *, optional: bool) -> _Reference:
        try:
            return _Reference(self._render(messages), folded=False)
        except TemplateBudgetError:
            raise
        except InputError as exc:
            error = exc
        if any(m.role == "system" for m in messages):
            try:
                return _Reference(self._render(_fold_system(messages)), folded=True)
            except TemplateBudgetError:
                raise
            except InputError as exc:
                error = exc
        if optional:
            return _Reference((), folded=False, refused=error.message)
        raise error

    def _render(self, messages: Sequence[Message]) -> tuple[str, ...]:
        return _renderings(self.compiled, messages, self.bos_token, self.eos_token)


@dataclass(frozen=True)
class ConversationParity:
    """One probe conversation rendered by the TEMPLATE and by the model's chat template."""

    conversation: str
    identical: bool
    go_prompt: str
    jinja_prompt: str
    """The Jinja rendering after normalisation (leading bos_token removed)."""
    position: int | None
    jinja_snippet: str
    go_snippet: str
    system_folded: bool
    skipped: str | None = None
    """Why it was not compared: the model's own template refused it (then `identical`)."""

    def message(self) -> str:
        return (
            f"the TEMPLATE renders the conversation '{self.conversation}' differently from the "
            f"model's chat template, first at character {self.position}: the chat template "
            f"renders '{self.jinja_snippet}', the TEMPLATE '{self.go_snippet}'"
        )


@dataclass(frozen=True)
class Parity:
    """Whether an Ollama TEMPLATE builds the same prompts as the model's own chat template, on
    every probe conversation, as a client of the server sees them (SYSTEM filled in)."""

    conversations: tuple[ConversationParity, ...]

    @property
    def identical(self) -> bool:
        return all(c.identical for c in self.conversations)

    @property
    def first(self) -> ConversationParity:
        """The first conversation that differs, else the first one."""
        return next((c for c in self.conversations if not c.identical), self.conversations[0])

    @property
    def position(self) -> int | None:
        return self.first.position

    @property
    def go_prompt(self) -> str:
        return self.first.go_prompt

    @property
    def jinja_prompt(self) -> str:
        return self.first.jinja_prompt

    @property
    def jinja_snippet(self) -> str:
        return self.first.jinja_snippet

    @property
    def go_snippet(self) -> str:
        return self.first.go_snippet

    @property
    def system_folded(self) -> bool:
        return any(c.system_folded for c in self.conversations)

    @property
    def skipped(self) -> list[str]:
        """`conversation: why` for each conversation the model's template refused."""
        return [f"{c.conversation}: {c.skipped}" for c in self.conversations if c.skipped]

    def message(self) -> str:
        if self.identical:
            return (
                f"the TEMPLATE renders exactly what the model's chat template renders "
                f"({len(self.conversations) - len(self.skipped)} conversations)"
            )
        return self.first.message()


class _Go:
    """A TEMPLATE parsed once, on its first rendering, for every conversation a comparison
    renders with it (`detect` tries each format on several probes, twice when it fits only
    with a default system prompt)."""

    def __init__(
        self,
        template: str,
        *,
        version: OllamaVersion | None,
        source: str,
        budget: TemplateBudget,
    ) -> None:
        self.template = template
        self.version = version
        self.source = source
        self.budget = budget
        self._nodes: list[Node] | None = None

    def render(self, messages: Sequence[Message]) -> str:
        if self._nodes is None:
            self._nodes = parse_go(self.template, version=self.version, source=self.source)
        return render_go_parsed(
            self._nodes, messages, version=self.version, source=self.source, budget=self.budget
        )


def _compare(
    go: _Go,
    jinja: _Jinja,
    conversations: Sequence[Conversation],
    *,
    system: str | None,
    preset: Sequence[Message],
) -> Parity:
    results = []
    for conversation in conversations:
        sent = as_sent(conversation.messages, system=system, preset=preset)
        reference = jinja.reference(sent, optional=conversation.optional)
        if reference.refused is not None:
            results.append(
                ConversationParity(
                    conversation.name,
                    identical=True,
                    go_prompt="",
                    jinja_prompt="",
                    position=None,
                    jinja_snippet="",
                    go_snippet="",
                    system_folded=False,
                    skipped=reference.refused,
                )
            )
            continue
        rendered = go.render(sent)
        shown = reference.texts[0]
        if rendered in reference.texts:
            position, jinja_snippet, go_snippet = None, "", ""
            shown = rendered
        else:
            position, jinja_snippet, go_snippet = _first_difference(shown, rendered)
        results.append(
            ConversationParity(
                conversation.name,
                position is None,
                rendered,
                shown,
                position,
                jinja_snippet,
                go_snippet,
                reference.folded,
            )
        )
    return Parity(tuple(results))


DEFAULT_SYSTEM_MARK = "SYSTEM-DEFAULT-PROBE"


def _default_system(go: _Go, jinja: _Jinja, *, preset: Sequence[Message]) -> str | None:
    """The system prompt the model's template writes when a conversation has none, read off
    where the TEMPLATE would put a SYSTEM: None when there is no such text. The caller checks
    that SYSTEM set to it makes every conversation identical."""
    single = PROBES[1].messages
    reference = jinja.reference(as_sent(single, preset=preset)).texts[0]
    marked = go.render(as_sent(single, system=DEFAULT_SYSTEM_MARK, preset=preset))
    if marked.count(DEFAULT_SYSTEM_MARK) != 1:
        return None
    before, after = marked.split(DEFAULT_SYSTEM_MARK)
    if len(reference) <= len(before) + len(after):
        return None
    if not (reference.startswith(before) and reference.endswith(after)):
        return None
    found = reference[len(before) : len(reference) - len(after)]
    return found if found.strip() else None


@dataclass(frozen=True)
class Fit:
    """How a TEMPLATE fits a model's chat template: exactly as written, once SYSTEM carries the
    model's default system prompt, or not at all."""

    parity: Parity
    """With the SYSTEM given (or, when it fits only so, with `default_system`)."""
    default_system: str | None = None
    """The model template's default system prompt, when the TEMPLATE fits only with it as the
    Modelfile's SYSTEM (no SYSTEM was given)."""

    @property
    def fits(self) -> bool:
        return self.parity.identical


def _fit(go: _Go, jinja: _Jinja, *, system: str | None, preset: Sequence[Message]) -> Fit:
    conversations = probes(go.template)
    plain = _compare(go, jinja, conversations, system=system, preset=preset)
    if plain.identical or system:
        return Fit(plain)
    default = _default_system(go, jinja, preset=preset)
    if default is None:
        return Fit(plain)
    with_default = _compare(go, jinja, conversations, system=default, preset=preset)
    return Fit(with_default, default) if with_default.identical else Fit(plain)


@dataclass(frozen=True)
class Detection:
    """Which shipped chat format reproduces a Jinja chat template, or the nearest and why not."""

    format: ChatFormat | None
    """The format whose renderings equal the reference exactly; None when none does."""
    nearest: str
    similarity: float
    """difflib ratio of the nearest format's renderings to the reference (1.0 = identical)."""
    position: int | None
    """Index of the first differing character (None on an exact match)."""
    expected: str
    """Escaped snippet of the reference (Jinja) rendering from just before `position`."""
    actual: str
    """Escaped snippet of the nearest format's rendering from the same place."""
    reference: str
    rendered: str
    system_folded: bool
    """The Jinja template refused the probe's system message, so it was folded (see module)."""
    conversation: str = ""
    """The probe conversation the difference is in (the first one on a match)."""
    default_system: str | None = None
    """The model template's default system prompt, when the format matches only with it as
    SYSTEM (the renderer then writes it, unless the spec sets its own)."""

    def message(self) -> str:
        if self.format is not None:
            extra = " once SYSTEM is its default system prompt" if self.default_system else ""
            return f"the chat template matches the {self.format.name} format exactly{extra}"
        return (
            f"no chat format reproduces the model's chat template; nearest is {self.nearest} "
            f"({self.similarity:.0%} similar), first difference in the conversation "
            f"'{self.conversation}' at character {self.position}: the model's template renders "
            f"'{self.expected}' where {self.nearest} renders '{self.actual}'"
        )

    def warning(self) -> str | None:
        """The text to show a user when there is no exact match (None when there is one)."""
        return None if self.format is not None else self.message()


def detect(
    chat_template: str,
    formats: Mapping[str, ChatFormat],
    *,
    bos_token: str = "",
    eos_token: str = "",
    system: str | None = None,
    preset: Sequence[Message] = (),
    version: OllamaVersion | None = None,
    source: str = JINJA_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
) -> Detection:
    """Render every probe conversation with the Jinja template and with every format, as
    Ollama would send it with this `system` (the Modelfile's SYSTEM) and `preset` (its
    MESSAGEs); a format that renders all of them exactly wins. Without a `system`, a format
    also wins when it does so once SYSTEM is the model template's default system prompt
    (Detection.default_system): a model whose template inserts one (SmolLM2, Qwen2.5) is
    reproduced by writing that prompt as SYSTEM.

    Never falls back silently: with no exact match the Detection has format None and a warning
    naming the nearest format, the conversation and the first differing characters. If the
    template refuses a system message (Gemma 1/2, Mistral v0.1/v0.2), the reference is rendered
    with the system text folded into the first user message, while each format still gets the
    real system message: a format for such a family must put it in that same place.

    The Jinja template is untrusted: it runs within `budget`, and any error it raises names
    `source` (e.g. `m.gguf:tokenizer.chat_template`).
    """
    if not formats:
        raise InputError("no chat formats to compare with", hint="ship templates/chat/*.gotmpl")
    jinja = _Jinja(chat_template, bos_token, eos_token, source=source, budget=budget)
    gos = {
        name: _Go(fmt.template, version=version, source=f"{name}.gotmpl", budget=budget)
        for name, fmt in sorted(formats.items())
    }
    plain: dict[str, Parity] = {}
    for name, go in gos.items():
        plain[name] = _compare(go, jinja, probes(go.template), system=system, preset=preset)
        if plain[name].identical:
            return _detection(formats[name], plain[name])
    if not system:
        for name, go in gos.items():
            fit = _fit(go, jinja, system=None, preset=preset)
            if fit.fits:
                return _detection(formats[name], fit.parity, fit.default_system)
    best: tuple[float, str] | None = None
    for name, check in plain.items():
        compared = [c for c in check.conversations if not c.skipped]
        ratio = difflib.SequenceMatcher(
            None,
            "\0".join(c.jinja_prompt for c in compared),
            "\0".join(c.go_prompt for c in compared),
            autojunk=False,
        ).ratio()
        if best is None or ratio > best[0]:
            best = (ratio, name)
    assert best is not None
    ratio, name = best
    first = plain[name].first
    return Detection(
        None,
        name,
        ratio,
        first.position,
        first.jinja_snippet,
        first.go_snippet,
        first.jinja_prompt,
        first.go_prompt,
        plain[name].system_folded,
        first.conversation,
    )


def _detection(fmt: ChatFormat, check: Parity, default_system: str | None = None) -> Detection:
    first = check.conversations[0]
    return Detection(
        fmt,
        fmt.name,
        1.0,
        None,
        "",
        "",
        first.jinja_prompt,
        first.go_prompt,
        check.system_folded,
        first.conversation,
        default_system,
    )


@dataclass(frozen=True)
class ChatReference:
    """A GGUF's own chat template and the BOS/EOS texts it renders with: what a created
    model's TEMPLATE is checked against (`parity`)."""

    template: str
    bos_token: str = ""
    eos_token: str = ""


def parity(
    go_template: str,
    jinja_template: str,
    *,
    system: str | None = None,
    preset: Sequence[Message] = (),
    bos_token: str = "",
    eos_token: str = "",
    version: OllamaVersion | None = None,
    jinja_source: str = JINJA_SOURCE,
    go_source: str = GO_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
) -> Parity:
    """Render every probe conversation (`probes`) with both templates, as Ollama sends it
    with this SYSTEM and these MESSAGEs (`as_sent`), and compare (same normalisation as
    `detect`). A conversation differs only when a client of the server would see it differ:
    with a SYSTEM set, the model template's default system prompt is never used. Both run
    within `budget`; an error names the template's source."""
    jinja = _Jinja(jinja_template, bos_token, eos_token, source=jinja_source, budget=budget)
    go = _Go(go_template, version=version, source=go_source, budget=budget)
    return _compare(go, jinja, probes(go_template), system=system, preset=preset)


def fit(
    go_template: str,
    jinja_template: str,
    *,
    system: str | None = None,
    preset: Sequence[Message] = (),
    bos_token: str = "",
    eos_token: str = "",
    version: OllamaVersion | None = None,
    jinja_source: str = JINJA_SOURCE,
    go_source: str = GO_SOURCE,
    budget: TemplateBudget = DEFAULT_BUDGET,
) -> Fit:
    """`parity`, and when it fails without a SYSTEM, again with SYSTEM set to the model
    template's default system prompt (what rendering a named format may write)."""
    jinja = _Jinja(jinja_template, bos_token, eos_token, source=jinja_source, budget=budget)
    go = _Go(go_template, version=version, source=go_source, budget=budget)
    return _fit(go, jinja, system=system, preset=preset)
