"""Findings about user input, shared by every checker (Modelfile, parameters, spec).

A checker returns a list of these instead of raising on the first problem, so `lint` can report
every finding in one pass; the caller decides whether errors stop the work.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding. `code` is stable (for --format json and tests); `message` is for people."""

    severity: Severity
    code: str
    message: str
    line: int | None = None
    hint: str | None = None

    @classmethod
    def error(
        cls, code: str, message: str, line: int | None = None, hint: str | None = None
    ) -> Diagnostic:
        return cls(Severity.ERROR, code, message, line, hint)

    @classmethod
    def warning(
        cls, code: str, message: str, line: int | None = None, hint: str | None = None
    ) -> Diagnostic:
        return cls(Severity.WARNING, code, message, line, hint)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self, source: str | None = None) -> str:
        """`file:line: severity: message (hint)`, the one-line form the CLI prints."""
        where = source or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: {self.severity.value}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class Findings:
    """`errors`, `warnings` and `ok` for a result that carries its `diagnostics`."""

    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)
