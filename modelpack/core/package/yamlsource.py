"""YAML loading that remembers where every value came from.

A spec error must name the file, the line and the field ("modelpack.yaml:14:
packages.main-gpu.parameters.numa: ..."), but plain YAML loading forgets lines. This composes
PyYAML's node tree (which has marks), builds plain Python values from it and records the line
of every mapping key and sequence item by its path. It also refuses what PyYAML would accept
silently and users would regret: duplicate keys (the last one would win without a word) and
non-string keys.

Specs come from many hands, so loading is bounded. YAML aliases share one node, and building
plain values copies it at every use: 9 aliases of 9 aliases, seven levels deep, is 335 bytes
that expand to 4.8 million values (a "billion laughs"). An anchor can even contain its own
alias, which expands forever. So aliases are counted as they are expanded, and so are the
values built and the depth; past a budget (MAX_ALIASES, MAX_NODES, MAX_DEPTH) loading stops
with one error at the alias or value that crossed it. A recursive alias is found before it
is expanded. Scalars that PyYAML would construct by calling Python (a `!!timestamp` with
month 13, an integer of 5,000 digits, an unknown tag) are one error with their line too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import yaml

from modelpack.errors import InputError

Path = tuple[str | int, ...]

MAX_ALIASES: Final = 10_000
"""Alias uses while building, counting the uses inside every copy of an anchor. Sharing one
parameter set among 800 variants (200 packages of 4) is 800; an alias bomb passes 10,000 in
a few hundred bytes."""

MAX_NODES: Final = 100_000
"""Values (keys included) in the spec once its aliases are expanded. A package with four
variants, its parameters and smoke prompts is 50 to 150; 100,000 is several hundred such
packages, and building them stays under a few seconds and a few dozen MiB."""

MAX_DEPTH: Final = 64
"""Nesting of mappings and lists. The deepest field of a spec is six levels down
(packages.<name>.variants[i].parameters.stop[j]); Python's recursion limit would stop a
few hundred levels down with a RecursionError instead of an error line."""

_HINT = "write the values out, or share fewer levels of aliases"


@dataclass(frozen=True)
class Located:
    """Plain data (dicts, lists, scalars) plus the line of each path in it."""

    data: Any
    lines: dict[Path, int]
    source: str

    def line_of(self, path: Path) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def dotted(path: Path) -> str:
    """('packages', 'main-gpu', 'variants', 0, 'name') -> packages.main-gpu.variants[0].name"""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load(text: str, *, source: str) -> Located:
    loader = None
    try:
        loader = _Loader(text, source)
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if "maximum nesting depth" in str(exc.problem):  # libyaml's own limit, at 1,000
            raise _too_deep(source, mark.line + 1 if mark else 1, "") from None
        problem = exc.problem or exc.context
        hint = "check the indentation and quoting on that line"
        if str(exc.context).startswith("found duplicate anchor"):  # problem: "second occurrence"
            first = exc.context_mark.line + 1 if exc.context_mark else "?"
            problem = f"{str(exc.context).partition(';')[0]} (first on line {first})"
            hint = "give each anchor its own name"
        raise InputError(
            f"not valid YAML: {problem}",
            source=source,
            line=mark.line + 1 if mark else None,
            hint=hint,
        ) from None
    except yaml.reader.ReaderError as exc:
        raise InputError(
            f"not valid YAML: character #x{exc.character:04x} is not allowed",
            source=source,
            line=_reader_line(text, exc.position),
            hint="remove it, or write it as an escape (such as \\x7f) in a double-quoted string",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {' '.join(str(exc).split())}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[Path, int] = {}
    if root is None:
        return Located({}, lines, source)
    lines[()] = root.start_mark.line + 1
    ctx = _Context(source, lines, yaml.constructor.SafeConstructor())
    return Located(_build(root, (), ctx), lines, source)


class _Alias(yaml.Node):
    """Where an alias was used: the anchored node it stands for, at the alias's own place (a
    plain composer returns the shared node and forgets where the alias was)."""

    id = "alias"

    def __init__(self, target: yaml.Node, anchor: str, mark: Any) -> None:
        super().__init__(target.tag, target.value, mark, mark)
        self.target = target
        self.anchor = anchor


class _Composer(yaml.composer.Composer, yaml.resolver.Resolver):
    """PyYAML's composer (in Python, with the safe resolver) over a parser's events; keeps
    each alias's place, and counts nodes and depth as it composes, so that a huge or deeply
    nested file stops early."""

    byte_positions = False
    """Whether the parser's ReaderError positions count bytes (libyaml) or characters."""

    def __init__(self, text: str, source: str) -> None:
        """Subclasses start their parser on `text` first."""
        yaml.composer.Composer.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.source = source
        self.composed = 0
        self.depth = 0

    if TYPE_CHECKING:  # provided by the parser each subclass adds

        def check_event(self, *choices: Any) -> bool: ...
        def peek_event(self) -> Any: ...
        def dispose(self) -> None: ...

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = super().compose_node(parent, index)  # type: ignore[arg-type]
            assert target is not None  # an undefined alias raises
            return _Alias(target, str(event.anchor), event.start_mark)
        line = self.peek_event().start_mark.line + 1
        self.composed += 1
        if self.composed > MAX_NODES:
            raise _too_many_nodes(self.source, line, "")
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _too_deep(self.source, line, "")
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
            assert node is not None
            return node
        finally:
            self.depth -= 1


class _PureLoader(_Composer, yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's own parser, for an install without libyaml."""

    def __init__(self, text: str, source: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Composer.__init__(self, text, source)


_Loader: type[_Composer] = _PureLoader
try:
    from yaml._yaml import CParser

    class _FastLoader(_Composer, CParser):
        """libyaml's parser: six times faster, and it stops at 1,000 nested flow collections
        by itself, where PyYAML's own scanner slows down with each (3,000 take 0.5 s)."""

        byte_positions = True

        def __init__(self, text: str, source: str) -> None:
            CParser.__init__(self, text)
            _Composer.__init__(self, text, source)

    _Loader = _FastLoader
except ImportError:  # pragma: no cover - PyYAML's wheels include libyaml
    pass


def _reader_line(text: str, position: int) -> int:
    """The line of a ReaderError's position: a byte offset from libyaml, else a character's."""
    if _Loader.byte_positions:
        return text.encode("utf-8", "surrogatepass").count(b"\n", 0, position) + 1
    return text.count("\n", 0, position) + 1


def _too_many_nodes(source: str, line: int, where: str) -> InputError:
    return InputError(
        f"{where}the spec has more than {MAX_NODES} values once its aliases are expanded",
        source=source,
        line=line,
        hint=f"split it into several specs; {_HINT}",
    )


def _too_deep(source: str, line: int, where: str) -> InputError:
    return InputError(
        f"{where}nested more than {MAX_DEPTH} levels deep",
        source=source,
        line=line,
        hint="a spec is a few levels deep; check the brackets and indentation",
    )


def _build(node: yaml.Node, path: Path, ctx: _Context) -> Any:
    ctx.built += 1
    if ctx.built > MAX_NODES:
        raise _too_many_nodes(ctx.source, ctx.line(node), _where(path))
    if len(path) > MAX_DEPTH:
        raise _too_deep(ctx.source, ctx.line(node), _where(path))
    if isinstance(node, _Alias):
        return _expand(node, path, ctx)
    if isinstance(node, yaml.CollectionNode):
        ctx.open.add(id(node))
        try:
            return _collection(node, path, ctx)
        finally:
            ctx.open.discard(id(node))
    return _scalar(node, ctx, path)


def _where(path: Path | None) -> str:
    return f"{dotted(path)}: " if path else ""


def _collection(node: yaml.CollectionNode, path: Path, ctx: _Context) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, ctx)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise InputError(
                    f"{dotted(path) or 'top level'}: key {key!r} is not a string",
                    source=ctx.source,
                    line=line,
                    hint="quote the key",
                )
            if key in out:
                raise InputError(
                    f"{dotted((*path, key))}: duplicate key (first on line "
                    f"{ctx.lines[(*path, key)]})",
                    source=ctx.source,
                    line=line,
                    hint="keep one of them; YAML would silently use the last",
                )
            ctx.lines[(*path, key)] = line
            out[key] = _build(value_node, (*path, key), ctx)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            ctx.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(item, (*path, index), ctx))
        return items
    raise TypeError(f"not a mapping or a sequence: {node!r}")


def _expand(alias: _Alias, path: Path, ctx: _Context) -> Any:
    """The anchored value, built again at the alias's place, within the alias budget."""
    ctx.aliases += 1
    line = ctx.line(alias)
    if ctx.aliases > MAX_ALIASES:
        where = _where(ctx.outer_path or path)
        raise InputError(
            f"{where}more than {MAX_ALIASES} aliases once they are expanded (an alias bomb?)",
            source=ctx.source,
            line=line,
            hint=_HINT,
        )
    if id(alias.target) in ctx.open:
        raise InputError(
            f"{_where(path)}the alias *{alias.anchor} is inside its own anchor &{alias.anchor} "
            f"(line {alias.target.start_mark.line + 1}), so it would never end",
            source=ctx.source,
            line=line,
            hint="an alias can only repeat a value defined before and outside it",
        )
    outer, outer_path = ctx.outer, ctx.outer_path
    if outer is None:
        ctx.outer, ctx.outer_path = line, path
    try:
        return _build(alias.target, path, ctx)
    finally:
        ctx.outer, ctx.outer_path = outer, outer_path


@dataclass
class _Context:
    source: str
    lines: dict[Path, int]
    constructor: yaml.constructor.SafeConstructor
    built: int = 0
    aliases: int = 0
    open: set[int] = field(default_factory=set)
    """The mappings and lists being built now (ids): an alias to one of them is recursive."""
    outer: int | None = None
    """The line of the outermost alias being expanded: what the user wrote at this place."""
    outer_path: Path | None = None

    def line(self, node: yaml.Node) -> int:
        return self.outer if self.outer is not None else node.start_mark.line + 1


def _scalar(node: yaml.Node, ctx: _Context, path: Path | None = None) -> Any:
    if isinstance(node, _Alias):
        node = node.target
    if not isinstance(node, yaml.ScalarNode):
        raise InputError(
            "a mapping or list cannot be used as a key",
            source=ctx.source,
            line=node.start_mark.line + 1,
        )
    try:
        return ctx.constructor.construct_object(node)
    except yaml.MarkedYAMLError as exc:
        problem = " ".join(str(exc.problem or exc.context).split()).replace(_STD, "!!")
        message = f"not valid YAML: {problem}"
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        # PyYAML's constructors call int(), datetime() and friends on the text as it is.
        message = f"{node.value[:40]!r} is not a valid {node.tag.replace(_STD, '!!')}"
        if "digits" in str(exc):
            message += f" ({len(node.value)} digits; Python reads at most 4300)"
    raise InputError(
        _where(path) + message,
        source=ctx.source,
        line=ctx.line(node),
        hint="put the value in quotes to keep it as text",
    )


_STD = "tag:yaml.org,2002:"
