"""The one exception tree of modelpack.

Every error a user can cause or meet carries a one-line message, an optional hint that says how
to fix it, and the exit code the CLI uses. Anything else that escapes is a bug and keeps its
traceback. Classes defined beside the code that raises them are named with their module.

    ModelpackError                  exit 1
    ├── UsageError                  exit 2  bad arguments or input the user must change
    │   ├── InputError                      bad input at file:line, or a field path
    │   │   ├── ModelfileError              a Modelfile Ollama's parser would reject
    │   │   ├── GGUFError                   a damaged or unsupported GGUF (core.gguf.reader)
    │   │   ├── MemoryShapeError            a GGUF without the keys an estimate needs
    │   │   │                               (core.gguf.memory)
    │   │   ├── DigestMismatchError         a file changed while it was uploaded (edge.blobs)
    │   │   └── TemplateBudgetError         a template ran past its budget (core.budget)
    │   └── SpecError                       a spec with problems, one InputError each
    ├── SetupError                  exit 2  the environment is not ready
    │   ├── InstallError                    a package could not be downloaded or installed
    │   ├── PortInUseError                  the requested loopback port is taken
    │   ├── ServerStartError                a managed server exited or did not answer in time
    │   ├── RegistryUnavailable             the registry does not answer (jobs.transfers)
    │   └── PackageLocked                   another process works on the package (edge.lock)
    ├── ServerError                 exit 1  an Ollama server answered with an error
    │   ├── ServerGoneError                 the connection dropped (crash, restart)
    │   ├── ServerTimeout                   no answer within the time allowed
    │   └── NotOllamaError          exit 2  what answers there is not the Ollama API
    ├── TransferFailed              exit 1  a push or pull failed after retries (jobs.transfers)
    │   ├── PushFailed                      (jobs.publish)
    │   └── VerifyFailed                    (jobs.verify_pull)
    ├── PromotionFailed             exit 1  the variant failed its smoke test (jobs.lifecycle)
    └── StableMoveFailed            exit 1  the stable tag could not be moved (jobs.stable)

Inside the core, the Go template and strconv code raise plain `ValueError` subclasses
(`TemplateSyntaxError`, `GoExecError`, `GoParseError`), as Go returns errors; their callers turn
them into an `InputError` with the file and line before they reach a user.

    KeyboardInterrupt               exit 130  Ctrl-C (SIGINT)
    └── Terminated                  exit 143  SIGTERM, raised by the CLI's handler
"""

from __future__ import annotations


class ModelpackError(Exception):
    """Base of every error modelpack reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(ModelpackError):
    exit_code = 2


class SetupError(ModelpackError):
    exit_code = 2


class InstallError(SetupError):
    pass


class PortInUseError(SetupError):
    pass


class ServerStartError(SetupError):
    pass


class ServerError(ModelpackError):
    """An Ollama server answered with an error status or an error line in its stream."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.server_message = server_message
        """The server's own error text, without modelpack's context around it."""


class ServerGoneError(ServerError):
    """The connection dropped mid-request: the server crashed, restarted or was stopped."""


class NotOllamaError(ServerError):
    """A reply of the wrong shape: the host names some other service, a setup problem."""

    exit_code = 2


class ServerTimeout(ServerError):
    """The server did not answer within the time allowed (a load or first token too slow)."""


class InputError(UsageError):
    """Bad input at a known place: a file and a line (or a field path inside it)."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = self.source or "<input>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {super().__str__()}"


class ModelfileError(InputError):
    """A Modelfile that Ollama's parser would reject, or a value the writer cannot represent."""


class SpecError(UsageError):
    """A spec with one or more problems; each is a one-line InputError with file and line."""

    def __init__(self, problems: list[InputError]) -> None:
        first = problems[0]
        super().__init__(first.message, hint=first.hint)
        self.problems = problems

    def __str__(self) -> str:
        return str(self.problems[0])

    @property
    def lines(self) -> list[str]:
        return [str(problem) for problem in self.problems]


class Terminated(KeyboardInterrupt):
    """SIGTERM (how CI systems cancel a job), raised where Ctrl-C raises KeyboardInterrupt.

    A subclass, so that every `except KeyboardInterrupt` and `finally` written for Ctrl-C (the
    stable tag left alone, a managed server stopped, a push cleaned up) runs for it too. Only
    the CLI installs the handler that raises it (`modelpack.cli.main`).
    """

    exit_code = 143
    """128 + SIGTERM, what a shell reports for a process the signal ended."""


def stop_reason(interrupt: KeyboardInterrupt) -> tuple[str, int]:
    """The word and exit code for an interrupt: ("terminated", 143) or ("interrupted", 130)."""
    if isinstance(interrupt, Terminated):
        return "terminated", Terminated.exit_code
    return "interrupted", 130
