"""YAML loading that remembers where every value came from.

A spec error must name the file, the line and the field ("modelpack.yaml:14:
packages.main-gpu.parameters.numa: ..."), but plain YAML loading forgets lines. This composes
PyYAML's node tree (which has marks), builds plain Python values from it and records the line
of every mapping key and sequence item by its path. It also refuses what PyYAML would accept
silently and users would regret: duplicate keys (the last one would win without a word) and
non-string keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from modelpack.errors import InputError

Path = tuple[str | int, ...]


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
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(
            f"not valid YAML: {exc.problem or exc.context}",
            source=source,
            line=mark.line + 1 if mark else None,
            hint="check the indentation and quoting on that line",
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", source=source) from None
    lines: dict[Path, int] = {}
    if root is None:
        return Located({}, lines, source)
    lines[()] = root.start_mark.line + 1
    ctx = _Context(source, lines, yaml.constructor.SafeConstructor())
    return Located(_build(root, (), ctx), lines, source)


def _build(node: yaml.Node, path: Path, ctx: _Context) -> Any:
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
    return _scalar(node, ctx)


@dataclass
class _Context:
    source: str
    lines: dict[Path, int]
    constructor: yaml.constructor.SafeConstructor


def _scalar(node: yaml.Node, ctx: _Context) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise InputError(
            "a mapping or list cannot be used as a key",
            source=ctx.source,
            line=node.start_mark.line + 1,
        )
    return ctx.constructor.construct_object(node)
