"""The budget every untrusted template evaluation runs under: steps, characters and depth.

A GGUF's `tokenizer.chat_template`, a project's variant template and a Modelfile's TEMPLATE are
code written by someone else, and modelpack runs them (detection, render, the parity check).
Without a bound, two nested `range(100000)` loops spin for hours and `'x' * 10**12` or a value
doubled in a loop eats all memory. So each evaluation gets a `TemplateBudget` and a `Meter` that
counts its work; past the budget the evaluation stops with `BudgetExceeded`, which the runner
turns into a `TemplateBudgetError` naming the template's source.

Work is counted in units, not seconds: the core has no clock, and a count gives the same answer
on a loaded CI machine as on a laptop. One step is about one loop iteration, call, attribute
lookup or operator of the template (a microsecond or so of Python); building or reading a value
costs one step per element and per `CHARS_PER_STEP` characters on top, so a step stays roughly
that cheap whatever the sizes. Every value a template makes, and everything it writes, must fit
in `output_chars` characters when printed; that bounds memory as well as output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from modelpack.errors import InputError

__all__ = [
    "CHARS_PER_STEP",
    "DEFAULT_BUDGET",
    "DEFAULT_DEPTH",
    "DEFAULT_OUTPUT_CHARS",
    "DEFAULT_SOURCE_CHARS",
    "DEFAULT_STEPS",
    "BudgetExceeded",
    "Meter",
    "TemplateBudget",
    "TemplateBudgetError",
    "budget_error",
    "weight",
]

DEFAULT_STEPS = 200_000
"""The reference chat templates of the shipped formats render the probe conversation in under
200 steps, the built-in variant templates a Modelfile in about 100, the shipped Go formats in
about 70; tests/unit/test_template_budget.py renders each within a hundredth of this budget.
200,000 steps leave room for chat templates ten times as busy as those, and take well under a
second even when every step is a call or a filter, so a hostile template fails fast."""

DEFAULT_OUTPUT_CHARS = 1_000_000
"""A rendered probe prompt is under 1,000 characters, a Modelfile with a long system prompt and
license a few tens of thousands. A million characters (a few MB of memory at most) leaves room
for any real one; it bounds every value a template builds, not just what it writes."""

DEFAULT_DEPTH = 64
"""Macro calls, `{{ template }}` calls and nested blocks that may be active at once. Real
templates nest under ten; 64 stays well inside Python's own recursion limit, which a template's
nesting spends several frames a level of."""

DEFAULT_SOURCE_CHARS = 256 << 10
"""The longest Jinja template modelpack compiles: compiling takes about 7 ms a kilobyte, and the
longest published chat templates (tool-calling ones) are about 20 KB."""

CHARS_PER_STEP = 16
"""Characters made, copied or compared per step. Time-wise this overcharges (a microsecond
copies kilobytes); it is what bounds memory: the strings one evaluation makes add up to about
`steps * CHARS_PER_STEP` characters at most, 3.2 million (13 MB) by default."""


@dataclass(frozen=True)
class TemplateBudget:
    """How much one template evaluation may do (see the module docstring for the units)."""

    steps: int = DEFAULT_STEPS
    output_chars: int = DEFAULT_OUTPUT_CHARS
    """The most characters it may write in all, and the largest value it may build."""
    depth: int = DEFAULT_DEPTH
    source_chars: int = DEFAULT_SOURCE_CHARS
    """The longest (Jinja) template source it compiles."""


DEFAULT_BUDGET = TemplateBudget()


class BudgetExceeded(Exception):
    """Raised inside an evaluation that ran past its budget; `detail` says which part."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TemplateBudgetError(InputError):
    """A template that ran past its budget: its source and, where known, the line it was at."""


HINT = (
    "real templates render in a few hundred steps; this one loops, recurses or builds values "
    "without end (nested loops, string repetition, recursive macros)"
)


def budget_error(
    exc: BudgetExceeded, *, what: str, source: str | None, line: int | None = None
) -> TemplateBudgetError:
    """The one-line error for `exc`, naming the template (`what`) and where it came from."""
    return TemplateBudgetError(
        f"{what} ran past modelpack's template budget: {exc.detail}",
        source=source,
        line=line,
        hint=HINT,
    )


T = TypeVar("T")

Expand = Callable[[object], object | None]
"""What an opaque object prints from (a Jinja namespace: its attributes), or None."""


class Meter:
    """Counts one evaluation's work against its budget; raises BudgetExceeded when it runs out."""

    def __init__(
        self, budget: TemplateBudget = DEFAULT_BUDGET, expand: Expand | None = None
    ) -> None:
        self.budget = budget
        self.expand = expand
        self.steps = 0
        self.written = 0
        self.depth = 0

    def step(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.budget.steps:
            raise BudgetExceeded(f"more than {self.budget.steps:,} steps")

    def write(self, text: str) -> str:
        """Count characters written to the output (or to a variable, a macro's result)."""
        self.written += len(text)
        if self.written > self.budget.output_chars:
            raise BudgetExceeded(f"more than {self.budget.output_chars:,} characters of output")
        self.step(1 + len(text) // CHARS_PER_STEP)
        return text

    def check(self, value: T) -> T:
        """Charge for a value made or read, and refuse one too large to print."""
        limit = self.budget.output_chars
        chars, visits = weight(value, limit, self.expand)
        self.step(1 + visits + chars // CHARS_PER_STEP)
        if chars > limit:
            raise BudgetExceeded(f"a value of more than {limit:,} characters")
        return value

    def allow(self, chars: int, what: str = "a value") -> None:
        """Refuse, before it is built, something that would take `chars` characters."""
        limit = self.budget.output_chars
        if chars > limit:
            raise BudgetExceeded(f"{what} of {chars:,} characters (at most {limit:,})")

    @contextmanager
    def nested(self) -> Iterator[None]:
        """One level deeper (a call, a block): past the budget's depth is BudgetExceeded."""
        self.depth += 1
        try:
            if self.depth > self.budget.depth:
                raise BudgetExceeded(f"calls or blocks nested more than {self.budget.depth} deep")
            yield
        finally:
            self.depth -= 1


_SCALAR_CHARS = 24
"""What a float, bool, None or an opaque object (a function, Undefined) prints as, at most."""


def weight(value: object, limit: int, expand: Expand | None = None) -> tuple[int, int]:
    """(about how many characters `str(value)` takes, how many elements were visited).

    Containers are walked without recursion, elements counted whatever they hold (so a cycle or
    a list of one big string repeated still adds up), and the walk stops once either count
    passes `limit`: the cost is bounded whatever the value. `expand` opens opaque objects that
    print what they hold.
    """
    chars = 0
    visits = 0
    pending: list[object] = [value]
    while pending and chars <= limit and visits <= limit:
        item = pending.pop()
        if isinstance(item, str | bytes | bytearray):
            chars += len(item) + 2
        elif isinstance(item, bool | float) or item is None:
            chars += 5
        elif isinstance(item, int):
            chars += item.bit_length() // 3 + 1
        elif isinstance(item, Mapping):
            visits += len(item)
            chars += 2 + 2 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            visits += len(item)
            chars += 2 + 2 * len(item)
            pending.extend(item)
        elif expand is not None and (inner := expand(item)) is not None:
            chars += _SCALAR_CHARS
            pending.append(inner)
        else:
            chars += _SCALAR_CHARS
    return chars, visits
