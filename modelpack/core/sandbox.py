"""The one place modelpack runs untrusted Jinja: in Jinja's sandbox, within a TemplateBudget.

Two kinds of Jinja come from outside: a GGUF's `tokenizer.chat_template` (rendered for chat
format detection and the parity check, `modelpack.core.chat`) and variant templates
(`modelpack.core.package.render`). Both run in a `Sandbox`, which keeps Jinja's sandbox
(no private attributes, no unsafe callables; optionally no mutation) and meters the work:

- every loop iteration, call, attribute or item lookup, operator, filter and test is a step;
  every value a call, filter or operator makes is weighed (see `budget.weight`), so a string
  or list grown in a loop is charged for its size and refused once it would print larger than
  the output budget;
- what can multiply a value is checked before it runs: `*` on a string or list, `**`, `%`
  and `format` widths, `replace`, `join`, `indent`, `center` and the like, `range`;
- everything written, to the output or into a variable, a macro's result or a `{% set %}`
  block, is counted against the output budget;
- calls (macros, `caller()`, recursive loops) nest at most the budget's depth, and a
  RecursionError anywhere (Jinja's parser, Python's compiler, an include loop) is the same
  one-line budget error;
- `lipsum()`, which can write millions of words in one call, is not provided.

The metering is done by hooks the sandbox already has (`call`, `getattr`, `getitem`,
intercepted binary operators) and by a small rewrite of the parsed template before it is
compiled: loop iterables, output and `~` concatenation pass through internal filters. Rendered
text is unchanged: the shipped chat formats' reference templates render byte for byte as in
transformers' own environment (tests/unit/test_template_budget.py).

Every failure is one InputError naming the template's source (and its line where Jinja knows
it); running past the budget is a TemplateBudgetError.
"""

from __future__ import annotations

import functools
import os
import re
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any, cast

import jinja2
from jinja2 import nodes
from jinja2.loaders import split_template_path
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment, modifies_known_mutable
from jinja2.utils import Namespace, pass_context
from jinja2.visitor import NodeTransformer

from modelpack.core.budget import (
    DEFAULT_BUDGET,
    BudgetExceeded,
    Meter,
    TemplateBudget,
    budget_error,
    weight,
)
from modelpack.core.inputs import TEMPLATE_LIMIT, read_text
from modelpack.errors import InputError

__all__ = ["MAX_INT_DIGITS", "BoundedFileLoader", "Compiled", "Sandbox", "one_line"]

MAX_INT_DIGITS = 4300
"""The longest integer a template may make, in decimal digits: Python's own limit for printing
one (sys.int_info.default_max_str_digits); a bigger one could not be written anyway."""
_MAX_INT_BITS = MAX_INT_DIGITS * 10 // 3

# The filters the rewrite inserts. A template could name them too; they only meter.
_ITERATE = "modelpack_budget_iterate"
_WRITE = "modelpack_budget_write"
_CONCAT = "modelpack_budget_concat"
_WEIGH = "modelpack_budget_weigh"

_BINOPS = frozenset({"+", "-", "*", "/", "//", "%", "**"})
_FORMAT_NUMBERS = re.compile(r"\d+")


def _expand(item: object) -> object | None:
    """A Jinja namespace prints the values it holds (see budget.weight)."""
    if isinstance(item, Namespace):
        attrs: object = object.__getattribute__(item, "_Namespace__attrs")
        return attrs
    return None


def one_line(text: object) -> str:
    """A message from the template (its own text, an exception about its values) kept on the
    one line an error gets: line breaks written as `\\n`."""
    return str(text).replace("\r", "\\r").replace("\n", "\\n")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Counted:
    """A loop's iterable that charges a step for each item it yields; sized if the value is."""

    __slots__ = ("_iterator", "_meter", "_value")

    def __init__(self, value: Any, meter: Meter) -> None:
        self._value = value
        self._iterator = iter(value)  # fails where the plain loop would, and as it would
        self._meter = meter

    def __len__(self) -> int:
        if not isinstance(self._value, Sized):
            raise TypeError("no length")  # LoopContext then counts by iterating
        return len(self._value)

    def __iter__(self) -> Iterator[Any]:
        for item in self._iterator:
            self._meter.step()
            yield item


class _Rewrite(NodeTransformer):
    """Route loop iterables, output and `~` through the metering filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _filter(node.iter, _ITERATE)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [_filter(child, _WRITE) for child in node.nodes]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _filter(nodes.List(list(node.nodes), lineno=node.lineno), _CONCAT)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        """Jinja compiles a slice as Python's own subscript, past the sandbox's getitem."""
        self.generic_visit(node)
        return _filter(node, _WEIGH) if isinstance(node.arg, nodes.Slice) else node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        """`in`, `==` and `<` on long strings or lists cost their length."""
        self.generic_visit(node)
        node.expr = _filter(node.expr, _WEIGH)
        for operand in node.ops:
            operand.expr = _filter(operand.expr, _WEIGH)
        return node


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)


class BoundedFileLoader(jinja2.FileSystemLoader):
    """Jinja's FileSystemLoader, reading what `{% include %}` and `{% import %}` name within
    the same limit as a top-level template (a template can name a symlink to a huge file)."""

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # refuses ".." as Jinja's own loader does
        for folder in self.searchpath:
            path = os.path.join(folder, *pieces)
            if os.path.isfile(path):
                break
        else:
            raise jinja2.TemplateNotFound(template)
        text = read_text(Path(path), limit=TEMPLATE_LIMIT, what="included template")
        mtime = os.path.getmtime(path)

        def uptodate() -> bool:
            try:
                return os.path.getmtime(path) == mtime
            except OSError:
                return False

        return text, os.path.normpath(path), uptodate


class Sandbox(SandboxedEnvironment):
    """Jinja's sandboxed environment with every evaluation metered against a budget.

    `immutable` refuses methods that change lists, dicts and sets (transformers' choice for
    chat templates). `filters` and `globals` add to Jinja's own; every filter and test is
    metered. Other keyword arguments are Jinja's Environment options, autoescape excepted (the
    metering writes plain strings; neither kind of template escapes).
    """

    intercepted_binops = _BINOPS

    def __init__(
        self,
        budget: TemplateBudget = DEFAULT_BUDGET,
        *,
        immutable: bool = True,
        filters: Mapping[str, Callable[..., Any]] | None = None,
        globals: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if options.get("autoescape"):
            raise ValueError("a metered Sandbox renders without autoescape")
        super().__init__(**options)
        self.budget = budget
        self.immutable = immutable
        self.meter = Meter(budget, _expand)
        self.filters.update(filters or {})
        self.filters = {name: self._metered(name, f) for name, f in self.filters.items()}
        tests = cast(Mapping[str, Callable[..., Any]], self.tests)  # Jinja types it loosely
        self.tests = {name: self._metered(name, f) for name, f in tests.items()}
        self.filters[_ITERATE] = pass_context(lambda _, value: self._iterate(value))
        self.filters[_WRITE] = pass_context(lambda _, value: self._write(value))
        self.filters[_CONCAT] = pass_context(lambda _, parts: self._concat(parts))
        self.filters[_WEIGH] = pass_context(lambda _, value: self.meter.check(value))
        self.globals.pop("lipsum", None)
        self.globals["range"] = self._range
        self.globals.update(globals or {})

    # -- compiling -----------------------------------------------------------------------------

    def load(self, text: str, *, what: str, source: str, name: str | None = None) -> Compiled:
        """Compile `text` (not yet run). `what` names it in messages ("template", "the chat
        template"); `source` is where it came from (a path, `m.gguf:tokenizer.chat_template`)."""
        if len(text) > self.budget.source_chars:
            raise budget_error(
                BudgetExceeded(
                    f"{len(text):,} characters of template (at most {self.budget.source_chars:,})"
                ),
                what=what,
                source=source,
            )
        try:
            code = self.compile(text, name=name, filename=source)
        except jinja2.TemplateSyntaxError as exc:
            raise InputError(
                f"{what} does not parse: {one_line(exc.message)}", source=source, line=exc.lineno
            ) from None
        except (RecursionError, MemoryError, SyntaxError):
            # Jinja's parser and Python's compiler recurse a level per nested block/bracket.
            raise budget_error(
                BudgetExceeded("nested too deeply to compile"), what=what, source=source
            ) from None
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return Compiled(self, template, what=what, source=source)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Jinja's parse, then the metering rewrite (also for included templates)."""
        tree = super()._parse(source, name, filename)
        rewritten = _Rewrite().visit(tree)
        assert isinstance(rewritten, nodes.Template)
        rewritten.set_environment(self)
        return rewritten

    # -- the sandbox's hooks -------------------------------------------------------------------

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if self.immutable and modifies_known_mutable(obj, attr):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.meter.step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.meter.step()
        value = super().getitem(obj, argument)
        return self.meter.check(value) if isinstance(argument, slice) else value

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        meter = __self.meter
        meter.step()
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox's str.format wrapper
        owner = getattr(target, "__self__", None)
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's `loop(children)`
            args = (_Counted(args[0], meter), *args[1:])
        elif isinstance(owner, str):
            args = __self._check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)
        else:
            __self._check_arguments(args, kwargs)
        if isinstance(owner, str | list | tuple | dict | set):
            meter.check(owner)  # `text.count(x)` costs the text's length
        with meter.nested():
            result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, list | dict | set):
            meter.check(owner)  # after `append`/`extend`/`update` in a mutable sandbox
        return meter.check(result)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        meter = self.meter
        meter.step()
        meter.check(left)
        meter.check(right)
        if operator == "*":
            sequence, times = (left, right) if _is_int(right) else (right, left)
            if isinstance(sequence, str | list | tuple) and _is_int(times):
                meter.allow(len(sequence) * max(times, 0), "a repeated value")
            elif _is_int(left) and _is_int(right):
                self._allow_bits(left.bit_length() + right.bit_length())
        elif operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            self._allow_bits(max(left.bit_length() - 1, 0) * right)
        elif operator == "%" and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            meter.allow(self._format_size(left, values), "a formatted string")
        return meter.check(self.binop_table[operator](left, right))

    # -- metering ------------------------------------------------------------------------------

    def _range(self, *args: int) -> range:
        self.meter.step()
        numbers = range(*args)
        self.meter.allow(len(numbers), "a range")
        return numbers

    def _iterate(self, value: Any) -> _Counted:
        self.meter.step()
        return _Counted(value, self.meter)

    def _write(self, value: Any) -> str:
        if not isinstance(value, str):
            self.meter.check(value)  # before str() builds it
            value = str(value)
        return self.meter.write(value)

    def _concat(self, parts: list[Any]) -> str:
        """`a ~ b`, as Jinja's str_join, sized before it is built."""
        size = sum(weight(part, self.budget.output_chars, _expand)[0] for part in parts)
        self.meter.allow(size, "a joined string")
        return self.meter.check("".join(map(str, parts)))

    def _allow_bits(self, bits: int) -> None:
        if bits > _MAX_INT_BITS:
            raise BudgetExceeded(f"an integer of more than {MAX_INT_DIGITS:,} digits")

    def _check_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        """Each argument weighed; a number that sets a size no bigger than the budget allows."""
        limit = self.budget.output_chars
        for value in (*args, *kwargs.values()):
            self.meter.check(value)
            if _is_int(value) and value > limit:
                raise BudgetExceeded(f"a size or count of {value:,} (at most {limit:,})")

    def _format_size(self, fmt: str, values: Sequence[Any]) -> int:
        """At most what formatting `values` into `fmt` writes: every field may repeat the
        largest value padded to the largest width (written in `fmt` or given as a value)."""
        limit = self.budget.output_chars
        widths = [int(n) for n in _FORMAT_NUMBERS.findall(fmt)[:1000] if len(n) <= 12]
        if any(len(n) > 12 for n in _FORMAT_NUMBERS.findall(fmt)):
            widths.append(limit + 1)
        widths += [v for v in values if _is_int(v)]
        largest = max((weight(v, limit, _expand)[0] for v in values), default=0)
        fields = fmt.count("%") + fmt.count("{") + 1
        return len(fmt) + fields * (largest + max(widths, default=0))

    def _check_str_method(
        self, text: str, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Any, ...]:
        """A string method's arguments, and its result's size where it can outgrow them."""
        if name == "join" and args and not isinstance(args[0], Sized):
            args = (list(_Counted(args[0], self.meter)), *args[1:])
        self._check_arguments(args, kwargs)
        size = _amplified(name, text, args, kwargs)
        if size is not None:
            self.meter.allow(size, f"the result of {name}()")
        elif name in {"format", "format_map"}:
            values = [*args, *kwargs.values()]
            if name == "format_map" and args and isinstance(args[0], Mapping):
                values = list(args[0].values())
            self.meter.allow(self._format_size(text, values), "a formatted string")
        return args

    def _metered(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """A filter or test that is charged, has its arguments weighed and its result too."""
        skip = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            meter = self.meter
            meter.step()
            values = args[skip:]
            if name in {"join", "sum"} and values and not isinstance(values[0], Sized):
                values = (list(_Counted(values[0], meter)), *values[1:])
                args = (*args[:skip], *values)
            self._check_arguments(values, kwargs)
            if values and isinstance(values[0], str):
                size = _amplified(_FILTER_METHODS.get(name, ""), values[0], values[1:], kwargs)
                if size is not None:
                    meter.allow(size, f"the result of {name}")
            if name == "format" and values and isinstance(values[0], str):
                rest = [*values[1:], *kwargs.values()]
                meter.allow(self._format_size(values[0], rest), "a formatted string")
            elif name == "join" and values:
                meter.allow(_joined_size(values[0], values[1:], kwargs, self.budget), "a join")
            elif name == "tojson" and values:
                indent = kwargs.get("indent", values[1] if len(values) > 1 else None)
                chars = weight(values[0], self.budget.output_chars, _expand)[0]
                spaces = indent if isinstance(indent, int) else 0
                meter.allow(chars * (1 + spaces), "JSON")
            elif name == "sum" and values and _sums_sequences(values, kwargs):
                # sum(start=[]) copies the growing result once per item
                meter.step(len(values[0]) * weight(values[0], self.budget.output_chars)[1])
            return meter.check(function(*args, **kwargs))

        return run


def _sums_sequences(values: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
    start = kwargs.get("start", values[2] if len(values) > 2 else 0)
    return isinstance(values[0], Sized) and isinstance(start, str | list | tuple)


_FILTER_METHODS = {"replace": "replace", "center": "center", "indent": "indent"}
"""Filters that amplify as the string method of that name does (see `_amplified`)."""


def _amplified(name: str, text: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int | None:
    """The result size of a string method that can grow far past its arguments; None for
    the others (their result is weighed after)."""
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], args[1]
        count = text.count(old) if old else len(text) + 1
        return len(text) + count * max(len(str(new)) - len(old), 0)
    if name in {"center", "ljust", "rjust", "zfill"} and args and isinstance(args[0], int):
        return max(len(text), args[0])
    if name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        return len(text) * max(size, 1) if isinstance(size, int) else None
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        return len(text) + (text.count("\n") + 1) * max(pad, 0)
    if name == "join" and args and isinstance(args[0], Sized):
        return len(text) * len(args[0])  # the pieces themselves were weighed
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(str(v)) for v in args[0].values() if v is not None), default=1)
        return len(text) * longest
    return None


def _joined_size(
    value: Any, args: Sequence[Any], kwargs: Mapping[str, Any], budget: TemplateBudget
) -> int:
    """The join filter's result: its pieces plus the separator between each two."""
    separator = kwargs.get("d", args[0] if args else "")
    count = len(value) if isinstance(value, Sized) else 0
    pieces = weight(value, budget.output_chars, _expand)[0]
    return pieces + len(str(separator)) * count


class Compiled:
    """A compiled template of a Sandbox; each `render` runs on a fresh budget."""

    def __init__(
        self, sandbox: Sandbox, template: jinja2.Template, *, what: str, source: str
    ) -> None:
        self.sandbox = sandbox
        self.template = template
        self.what = what
        self.source = source
        self.steps = 0
        """The steps the last render took (what tests compare with the budget)."""

    def render(
        self,
        context: Mapping[str, Any],
        *,
        passthrough: tuple[type[BaseException], ...] = (),
    ) -> str:
        """The text, or one InputError naming the template's source. Exceptions of the types
        in `passthrough` (the caller's own, raised by a function it gave the template) are
        re-raised as they are."""
        sandbox = self.sandbox
        sandbox.meter = Meter(sandbox.budget, _expand)
        what, source = self.what, self.source
        try:
            return self.template.render(context)
        except passthrough:
            raise
        except BudgetExceeded as exc:
            raise budget_error(exc, what=what, source=source, line=self.line_of(exc)) from None
        except RecursionError as exc:
            raise budget_error(
                BudgetExceeded("calls or includes nested deeper than Python allows"),
                what=what,
                source=source,
                line=self.line_of(exc),
            ) from None
        except MemoryError as exc:
            raise budget_error(
                BudgetExceeded("it ran out of memory"),
                what=what,
                source=source,
                line=self.line_of(exc),
            ) from None
        except jinja2.TemplateSyntaxError as exc:  # in an included template
            raise InputError(
                f"{what} does not parse: {one_line(exc.message)}",
                source=exc.filename or source,
                line=exc.lineno,
            ) from None
        except jinja2.UndefinedError as exc:
            raise InputError(
                one_line(exc.message),
                source=source,
                line=self.line_of(exc),
                hint="use one of: " + ", ".join(sorted(context)),
            ) from None
        except jinja2.TemplateError as exc:
            raise InputError(
                f"{what} failed: {one_line(exc)}", source=source, line=self.line_of(exc)
            ) from None
        except Exception as exc:  # the template's own arithmetic and method calls
            raise InputError(
                f"{what} raised {type(exc).__name__}: {one_line(exc)}",
                source=source,
                line=self.line_of(exc),
            ) from None
        finally:
            self.steps = sandbox.meter.steps

    def line_of(self, exc: BaseException) -> int | None:
        """Jinja rewrites tracebacks so a template's frames carry its file name and line."""
        frames = traceback.extract_tb(exc.__traceback__)
        lines = [f.lineno for f in frames if f.filename == self.source]
        return lines[-1] if lines else None
