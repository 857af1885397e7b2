"""Execute parsed Go `text/template` trees, to know what Ollama renders without a server.

The parity check and chat-format detection compare an Ollama TEMPLATE's output with a GGUF's
Jinja chat template. That needs the Go side evaluated exactly as Go's text/template does it:
its truthiness (empty string, list, map, zero and nil are false), its variable scoping, its
`and`/`or` that return an operand rather than a bool, `eq` that refuses mixed types, and the
`<no value>` that a missing map key prints under Ollama's `missingkey=zero` (an `any` zero is
nil, and Go prints a nil interface as `<no value>`).

The data model is plain Python: dicts are Go maps (`.Key` looks the key up), lists are slices,
`Struct` is a Go struct (an unknown field is an error, as it is for Ollama's `api.Message`).

A TEMPLATE is someone else's code, so a run is metered (`core.budget`): a step per node,
range iteration and function call, every character written, every value a function makes
weighed, nesting counted; past the budget is `BudgetExceeded`. Go's own limits are far looser
(`maxExecDepth` 100,000 template calls, no bound on output), so Ollama would spin on what
modelpack refuses; the budget is far above what a chat template needs.

Pure: no I/O. Every runtime failure is one `GoExecError`, or `BudgetExceeded`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from modelpack.core.budget import BudgetExceeded, Meter
from modelpack.core.gotmpl.parser import Node, Operand, Pipeline, go_char, go_number, go_quote

__all__ = [
    "NO_VALUE",
    "GoExecError",
    "Struct",
    "builtin_functions",
    "defined_templates",
    "execute",
    "go_quote",
    "go_unquote",
    "is_true",
]


class GoExecError(ValueError):
    """A template that parsed but fails when executed (Go's `template: :LINE: executing ...`)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        where = f"template: :{line}: " if line is not None else "template: "
        super().__init__(f"{where}{message}")
        self.message = message
        self.line = line


class _NoValue:
    """A missing map key: false, prints `<no value>` (what Go prints for a nil `any`)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()


class Struct(dict[str, object]):
    """A Go struct: fields by name, and an unknown field is an exec error, not `<no value>`."""


def is_true(value: object) -> bool:
    """Go's `truth`: false for the zero value of its type, nil and a missing key."""
    if value is None or value is NO_VALUE:
        return False
    if isinstance(value, Struct):
        return True  # a struct value is always true in Go
    if isinstance(value, bool | int | float | str | list | tuple | dict):
        return bool(value)
    return True


# -- printing ----------------------------------------------------------------------------------


def _fmt_v(value: object) -> str:
    """fmt's %v for the values a template meets."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).removesuffix(".0") if value.is_integer() else repr(value)
    if isinstance(value, complex):
        imag = _fmt_v(value.imag)
        return f"({_fmt_v(value.real)}{'' if imag.startswith('-') else '+'}{imag}i)"
    if isinstance(value, Struct):
        return "{" + " ".join(_fmt_v(v) for v in value.values()) + "}"
    if isinstance(value, dict):
        items = " ".join(f"{_fmt_v(k)}:{_fmt_v(value[k])}" for k in sorted(value, key=str))
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_fmt_v(v) for v in value) + "]"
    return str(value)


_VERB = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: object) -> str:
    """fmt.Sprintf for the common verbs (%s %v %d %q %t %x %%), flags and width included."""
    queue = list(args)
    out: list[str] = []
    pos = 0
    for match in _VERB.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, verb = match.groups()
        if verb == "%":
            out.append("%")
            continue
        if not queue:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = queue.pop(0)
        if verb in "sv":
            text = _fmt_v(arg)
            if precision is not None and verb == "s":
                text = text[: int(precision)]
        elif verb == "q":
            text = go_quote(arg) if isinstance(arg, str) else _fmt_v(arg)
        elif verb == "d" and isinstance(arg, int) and not isinstance(arg, bool):
            text = str(arg)
        elif verb == "t" and isinstance(arg, bool):
            text = _fmt_v(arg)
        elif verb == "x" and isinstance(arg, int | str) and not isinstance(arg, bool):
            text = format(arg, "x") if isinstance(arg, int) else arg.encode().hex()
        else:
            text = f"%!{verb}({type(arg).__name__}={_fmt_v(arg)})"
        if width:
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        out.append(text)
    out.append(fmt[pos:])
    if queue:
        out.append("%!(EXTRA " + ", ".join(_fmt_v(a) for a in queue) + ")")
    return "".join(out)


# -- builtin functions -------------------------------------------------------------------------


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if value is None or value is NO_VALUE:
        return "nil"
    return "other"


def _eq(first: object, *others: object) -> bool:
    """Go's eq: true if first equals any other; mixed basic kinds are an error, nil is not."""
    if not others:
        raise GoExecError("missing argument for comparison")
    k1 = _kind(first)
    for other in others:
        k2 = _kind(other)
        if k1 != k2:
            if "nil" in (k1, k2):
                continue  # an invalid value compares unequal to anything, without error
            raise GoExecError("incompatible types for comparison")
        if k1 == "other":
            raise GoExecError(f"non-comparable type {_fmt_v(first)}")
        if k1 == "nil" or first == other:
            return True
    return False


def _ordered(name: str, op: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    def compare(a: object, b: object) -> bool:
        ka, kb = _kind(a), _kind(b)
        if ka not in {"int", "float", "string"} or kb not in {"int", "float", "string"}:
            raise GoExecError("invalid type for comparison")
        if ka != kb:
            raise GoExecError("incompatible types for comparison")
        return op(a, b)

    return compare


def _len(value: object) -> int:
    if isinstance(value, str):
        return len(value.encode())  # Go's len of a string counts bytes
    if isinstance(value, list | tuple | dict):
        return len(value)
    raise GoExecError(f"len of type {type(value).__name__}")


def _index(value: object, *keys: object) -> object:
    for key in keys:
        if isinstance(value, Struct):
            raise GoExecError("can't index item of type struct")  # Go indexes maps, not structs
        if isinstance(value, dict):
            value = value.get(key, NO_VALUE)
        elif isinstance(value, list | tuple | str):
            if not isinstance(key, int) or isinstance(key, bool):
                raise GoExecError("cannot index slice/array with non-int")
            seq = value.encode() if isinstance(value, str) else value
            if not 0 <= key < len(seq):
                raise GoExecError(f"index out of range: {key}")
            value = seq[key]
        elif value is None or value is NO_VALUE:
            raise GoExecError("index of untyped nil")
        else:
            raise GoExecError(f"can't index item of type {type(value)}")
    return value


def _slice(value: object, *bounds: object) -> object:
    if not isinstance(value, list | tuple | str):
        raise GoExecError(f"can't slice item of type {type(value)}")
    if len(bounds) > 3 or (isinstance(value, str) and len(bounds) > 2):
        raise GoExecError("too many slice indexes")
    seq = value.encode() if isinstance(value, str) else value
    idx: list[int] = []
    for b in bounds:
        if not isinstance(b, int) or isinstance(b, bool):
            raise GoExecError("cannot index slice/array with non-int")
        idx.append(b)
    low = idx[0] if idx else 0
    high = idx[1] if len(idx) > 1 else len(seq)
    if not 0 <= low <= high <= len(seq):
        raise GoExecError(f"index out of range: {high}")
    part = seq[low:high]
    return part.decode(errors="replace") if isinstance(part, bytes) else list(part)


def _go_json(value: object) -> str:
    """Ollama's `json` (json.Marshal): compact, map keys sorted, HTML characters escaped."""

    def plain(v: object) -> object:
        if v is NO_VALUE:
            return None
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    text = json.dumps(
        plain(value), ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _allow_printf(meter: Meter, fmt: str) -> None:
    """A width or precision in the format is padding printf would build: refuse a huge one."""
    for match in _VERB.finditer(fmt):
        for number in match.group(2, 3):
            if number and (len(number) > 12 or int(number) > meter.budget.output_chars):
                raise BudgetExceeded(f"a printf width of {number} characters")


def _print(*args: object) -> str:
    """fmt.Sprint: a space between operands when neither side is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += _fmt_v(arg)
    return out


def _short_circuit_only(*args: object) -> object:
    """Placeholder: `and`/`or` are evaluated lazily by the executor, never called."""
    raise GoExecError("and/or must be evaluated by the executor")


def builtin_functions() -> dict[str, Callable[..., object]]:
    """text/template's builtins (those a chat template uses) plus Ollama's `json`."""
    return {
        "eq": _eq,
        "ne": lambda a, b: not _eq(a, b),
        "lt": _ordered("lt", lambda a, b: a < b),  # type: ignore[operator]
        "le": _ordered("le", lambda a, b: a <= b),  # type: ignore[operator]
        "gt": _ordered("gt", lambda a, b: a > b),  # type: ignore[operator]
        "ge": _ordered("ge", lambda a, b: a >= b),  # type: ignore[operator]
        "and": _short_circuit_only,
        "or": _short_circuit_only,
        "not": lambda value: not is_true(value),
        "len": _len,
        "index": _index,
        "slice": _slice,
        "printf": _printf,
        "print": _print,
        "println": lambda *args: " ".join(_fmt_v(a) for a in args) + "\n",
        "json": _go_json,
    }


# -- executing ---------------------------------------------------------------------------------


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


@dataclass
class _State:
    functions: Mapping[str, Callable[..., object]]
    templates: Mapping[str, Sequence[Node]]
    meter: Meter
    out: list[str] = field(default_factory=list)
    scopes: list[dict[str, object]] = field(default_factory=list)


def defined_templates(nodes: Sequence[Node]) -> dict[str, list[Node]]:
    """The `{{define}}`/`{{block}}` bodies of a tree, by name (Go keeps them apart)."""
    found: dict[str, list[Node]] = {}

    def visit(items: Sequence[Node]) -> None:
        for node in items:
            if node.kind in {"define", "block"}:
                found[node.name] = node.body
            visit(node.body)
            visit(node.else_body)

    visit(nodes)
    return found


def execute(
    nodes: Sequence[Node],
    data: object,
    *,
    functions: Mapping[str, Callable[..., object]] | None = None,
    templates: Mapping[str, Sequence[Node]] | None = None,
    meter: Meter | None = None,
) -> str:
    """Run a parsed template against `data` (dicts, lists, Struct, str, int, float, bool).

    `functions` defaults to `builtin_functions()`; `templates` (what `{{template "x"}}` can
    reach) defaults to the tree's own `define`/`block` bodies. `meter` counts the work (share
    one across the runs of one evaluation); by default a fresh one on the default budget.
    """
    state = _State(
        functions=builtin_functions() if functions is None else functions,
        templates=defined_templates(nodes) if templates is None else templates,
        meter=Meter() if meter is None else meter,
        scopes=[{"$": data}],
    )
    try:
        _walk(state, nodes, data)
    except (_Break, _Continue):  # the parser forbids these outside range
        raise GoExecError("break or continue outside range") from None
    except RecursionError:  # the budget's depth is meant to stop it first
        raise BudgetExceeded("blocks nested deeper than Python allows") from None
    return "".join(state.out)


def _walk(state: _State, nodes: Sequence[Node], dot: object) -> None:
    with state.meter.nested():
        for node in nodes:
            _node(state, node, dot)


def _node(state: _State, node: Node, dot: object) -> None:
    state.meter.step()
    kind = node.kind
    if kind == "text":
        state.out.append(state.meter.write(node.text))
    elif kind == "action":
        assert node.pipe is not None
        value = _pipeline(state, node.pipe, dot)
        if not node.pipe.decl:
            state.out.append(state.meter.write(_fmt_v(state.meter.check(value))))
    elif kind in {"if", "with"}:
        _if_or_with(state, node, dot)
    elif kind == "range":
        _range(state, node, dot)
    elif kind in {"template", "block"}:
        _call_template(state, node, dot)
    elif kind == "define":
        return
    elif kind == "break":
        raise _Break
    elif kind == "continue":
        raise _Continue
    else:
        raise GoExecError(f"unknown node {kind!r}", node.line)


def _if_or_with(state: _State, node: Node, dot: object) -> None:
    assert node.pipe is not None
    state.scopes.append({})
    try:
        value = _pipeline(state, node.pipe, dot)
        if is_true(value):
            _walk(state, node.body, value if node.kind == "with" else dot)
        else:
            _walk(state, node.else_body, dot)
    finally:
        state.scopes.pop()


def _range(state: _State, node: Node, dot: object) -> None:
    assert node.pipe is not None
    state.scopes.append({})
    try:
        decl = node.pipe.decl
        value = _pipeline(state, Pipeline((), node.pipe.commands, node.pipe.line), dot)
        items: Iterable[tuple[object, object]]
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, list | tuple):
            items = enumerate(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items = ((i, i) for i in range(value))  # lazily: `range 1e18` is a valid int
        elif value is None or value is NO_VALUE:
            items = []
        else:
            raise GoExecError(f"range can't iterate over {_fmt_v(value)}", node.line)
        empty = True
        for key, elem in items:
            state.meter.step()
            empty = False
            scope: dict[str, object] = {}
            if len(decl) == 1:
                scope[decl[0]] = elem
            elif len(decl) == 2:
                scope[decl[0]], scope[decl[1]] = key, elem
            state.scopes.append(scope)
            try:
                _walk(state, node.body, elem)
            except _Break:
                break
            except _Continue:
                continue
            finally:
                state.scopes.pop()
        if empty:
            _walk(state, node.else_body, dot)
    finally:
        state.scopes.pop()


def _call_template(state: _State, node: Node, dot: object) -> None:
    body = state.templates.get(node.name)
    if body is None:
        raise GoExecError(f'exec: no such template "{node.name}"', node.line)
    new_dot = _pipeline(state, node.pipe, dot) if node.pipe is not None else None
    saved = state.scopes
    state.scopes = [{"$": new_dot}]
    try:
        _walk(state, body, new_dot)
    finally:
        state.scopes = saved


def _pipeline(state: _State, pipe: Pipeline, dot: object) -> object:
    value: object = _UNSET
    for command in pipe.commands:
        value = _command(state, command, dot, value, pipe.line)
    for name in pipe.decl:
        _declare_or_assign(state, name, value, pipe)
    return value


def _declare_or_assign(state: _State, name: str, value: object, pipe: Pipeline) -> None:
    """`$x = v` rebinds the innermost visible $x (Go's setVar: an unknown one is an exec
    error); `$x := v` declares in the current scope, shadowing an outer $x."""
    if not pipe.is_assign:
        state.scopes[-1][name] = value
        return
    for scope in reversed(state.scopes):
        if name in scope:
            scope[name] = value
            return
    raise GoExecError(f"undefined variable: {name}", pipe.line)


class _Unset:
    pass


_UNSET = _Unset()


def _command(
    state: _State, command: list[Operand], dot: object, final: object, line: int
) -> object:
    """Go's evalCommand: the first operand decides; only a function or a method (a field
    that names one; plain data has none) takes the other operands and the piped value."""
    head = command[0]
    has_args = len(command) > 1 or final is not _UNSET
    if head.kind == "func" and not head.chain:
        name = str(head.value)
        function = state.functions.get(name)
        if function is None:
            raise GoExecError(f'"{name}" is not a defined function', line)
        if name in {"and", "or"}:
            return _and_or(state, name, command[1:], dot, final, line)
        args = [_operand(state, op, dot, line) for op in command[1:]]
        if final is not _UNSET:
            args.append(final)
        state.meter.step()
        if name == "printf" and args and isinstance(args[0], str):
            _allow_printf(state.meter, args[0])
        try:
            result = state.meter.check(function(*args))
        except GoExecError as exc:
            raise GoExecError(f"error calling {name}: {exc.message}", line) from None
        except TypeError as exc:
            raise GoExecError(f"wrong number of args for {name}: {exc}", line) from None
        return result
    if head.kind == "field":
        return _chain(dot, _field_names(head), line, has_args=has_args)
    if head.chain:  # `$x.F`, or Go's ChainNode `(pipe).F` / `fn.F`: the last field gets the args
        base = _operand(state, Operand(head.kind, head.value), dot, line)
        return _chain(base, head.chain, line, has_args=has_args)
    if head.kind == "variable":
        _variable(state, str(head.value), line)  # an undefined one is the first error in Go
    if has_args:
        raise GoExecError(f"can't give argument to non-function {_node_string(head)}", line)
    return _operand(state, head, dot, line)


def _and_or(
    state: _State, name: str, operands: list[Operand], dot: object, final: object, line: int
) -> object:
    """Go 1.18+: evaluate left to right, stop at the first false (and) / true (or) operand."""
    values: list[Callable[[], object]] = [
        partial(_operand, state, op, dot, line) for op in operands
    ]
    if final is not _UNSET:
        values.append(lambda: final)
    if not values:
        raise GoExecError(f"wrong number of args for {name}: want at least 1 got 0", line)
    result: object = None
    for get in values:
        result = get()
        if is_true(result) != (name == "and"):
            return result
    return result


def _field_names(operand: Operand) -> tuple[str, ...]:
    names = operand.value
    assert isinstance(names, tuple)
    return (*names, *operand.chain)


def _node_string(operand: Operand) -> str:
    """Go's Node.String() for an operand, as exec errors quote it."""
    kind, value = operand.kind, operand.value
    if kind == "field":
        return "." + ".".join(_field_names(operand))
    if kind == "dot":
        text = "."
    elif kind == "nil":
        text = "nil"
    elif kind == "bool":
        text = "true" if value else "false"
    elif kind == "pipe":
        assert isinstance(value, Pipeline)
        text = _pipe_string(value)
        if operand.chain:
            text = f"({text})"
    else:
        text = str(value)
    return text + "".join("." + name for name in operand.chain)


def _pipe_string(pipe: Pipeline) -> str:
    commands = " | ".join(
        " ".join(
            f"({_node_string(op)})" if op.kind == "pipe" and not op.chain else _node_string(op)
            for op in command
        )
        for command in pipe.commands
    )
    return f"{', '.join(pipe.decl)} := {commands}" if pipe.decl else commands


def _operand(state: _State, operand: Operand, dot: object, line: int) -> object:
    kind = operand.kind
    if kind == "field":
        return _chain(dot, _field_names(operand), line)
    if kind == "variable":
        return _chain(_variable(state, str(operand.value), line), operand.chain, line)
    if kind == "dot":
        return _chain(dot, operand.chain, line)
    if kind == "string":
        return go_unquote(str(operand.value), line)
    if kind == "rawstring":
        return str(operand.value)[1:-1]
    if kind in {"number", "complex"}:
        return _number(str(operand.value), kind, line)
    if kind == "char":
        try:
            return go_char(str(operand.value))
        except ValueError as exc:
            raise GoExecError(str(exc), line) from None
    if kind == "bool":
        return bool(operand.value)
    if kind == "nil":
        raise GoExecError("nil is not a command", line)
    if kind == "func":
        return _command(state, [operand], dot, _UNSET, line)
    if kind == "pipe":
        assert isinstance(operand.value, Pipeline)
        with state.meter.nested():
            value = _pipeline(state, operand.value, dot)
        return _chain(value, operand.chain, line)
    raise GoExecError(f"can't evaluate operand of kind {kind}", line)


def _variable(state: _State, name: str, line: int) -> object:
    for scope in reversed(state.scopes):
        if name in scope:
            return scope[name]
    raise GoExecError(f'undefined variable "{name}"', line)


def _chain(value: object, names: Sequence[str], line: int, *, has_args: bool = False) -> object:
    """Go's evalFieldChain: each field of the value in turn; with has_args the last one is
    given arguments, which only a method could take (the data here has none)."""
    for i, name in enumerate(names):
        with_args = has_args and i == len(names) - 1
        if isinstance(value, Struct):
            if name not in value:
                raise GoExecError(f"can't evaluate field {name} in type struct", line)
            if with_args:
                raise GoExecError(f"{name} has arguments but cannot be invoked as function", line)
            value = value[name]
        elif isinstance(value, dict):
            if with_args:
                raise GoExecError(f"{name} is not a method but has arguments", line)
            value = value.get(name, NO_VALUE)
        elif value is None or value is NO_VALUE:
            raise GoExecError(f"nil pointer evaluating interface {{}}.{name}", line)
        else:
            raise GoExecError(f"can't evaluate field {name} in type {_go_type(value)}", line)
    return value


def _go_type(value: object) -> str:
    return {"bool": "bool", "int": "int", "float": "float64", "string": "string"}.get(
        _kind(value), "[]interface {}" if isinstance(value, list | tuple) else "interface {}"
    )


def _number(text: str, kind: str, line: int) -> int | float | complex:
    """The value of a number literal (Go's idealConstant: an int must fit in int64)."""
    try:
        value = go_number(text, kind)
    except ValueError as exc:
        raise GoExecError(str(exc), line) from None
    if isinstance(value, int) and not -(1 << 63) <= value < 1 << 63:
        raise GoExecError(f"{text} overflows int", line)
    return value


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def go_unquote(literal: str, line: int | None = None) -> str:
    """strconv.Unquote of a double-quoted Go string (byte escapes decoded as UTF-8); the
    inverse of `go_quote`, e.g. for prompts Ollama logs with slog."""
    body = literal[1:-1]
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(body):
        raw += body[pos : match.start()].encode()
        pos = match.end()
        esc = match.group(1)
        if esc[0] == "x":
            raw.append(int(esc[1:], 16))
        elif esc[0] in "uU":
            raw += chr(int(esc[1:], 16)).encode()
        elif esc[0] in "01234567" and len(esc) == 3:
            raw.append(int(esc, 8))
        elif esc in _SIMPLE:
            raw += _SIMPLE[esc].encode()
        elif esc in "\\\"'":
            raw += esc.encode()
        else:
            raise GoExecError(f"invalid syntax: {literal}", line)
    raw += body[pos:].encode()
    return raw.decode(errors="replace")
