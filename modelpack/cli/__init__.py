"""The `modelpack` command line: parses arguments, calls the library, prints.

Subcommands are imported only when run (`LazyGroup`), so `modelpack --help` stays fast and loads
neither httpx nor pydantic. `main()` is the one error funnel: a `ModelpackError` becomes one
line on stderr and its exit code; anything else is a bug and keeps its traceback.

`main()` also turns SIGTERM (how CI systems cancel a job) into `Terminated`, a KeyboardInterrupt,
so every command cleans up as on Ctrl-C and exits 143 instead of dying mid-write. A signal the
process inherited as ignored stays ignored, as Python itself leaves an ignored SIGINT alone: a
shell starts background jobs with SIGINT ignored precisely so that the terminal's Ctrl-C does
not reach them, and the CLI does not undo that choice.

The `modelpack` console script runs `console_main()`: `main()`, then an exit that skips tearing
the interpreter down (see there). `python -m modelpack` and callers in Python use `main()`.
"""

from __future__ import annotations

import atexit
import importlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click

from modelpack import __version__
from modelpack.errors import ModelpackError, Terminated, stop_reason

# name -> "module:attribute"; each module imports what it needs inside its callback.
COMMANDS: dict[str, str] = {
    "build": "modelpack.cli.cmd_build:build_command",
    "builds": "modelpack.cli.cmd_builds:builds_command",
    "diff": "modelpack.cli.cmd_diff:diff_command",
    "estimate": "modelpack.cli.cmd_estimate:estimate_command",
    "init": "modelpack.cli.cmd_init:init_command",
    "inspect": "modelpack.cli.cmd_inspect:inspect_command",
    "judge": "modelpack.cli.cmd_judge:judge_command",
    "lint": "modelpack.cli.cmd_lint:lint_command",
    "matrix": "modelpack.cli.cmd_matrix:matrix_command",
    "promote": "modelpack.cli.cmd_promote:promote_command",
    "push": "modelpack.cli.cmd_push:push_command",
    "registry-rig": "modelpack.cli.cmd_server:registry_rig_command",
    "render": "modelpack.cli.cmd_render:render_command",
    "report": "modelpack.cli.cmd_report:report_command",
    "rollback": "modelpack.cli.cmd_promote:rollback_command",
    "schema": "modelpack.cli.cmd_schema:schema_command",
    "serve": "modelpack.cli.cmd_serve:serve_command",
    "server": "modelpack.cli.cmd_server:server_command",
    "status": "modelpack.cli.cmd_status:status_command",
    "verify-pull": "modelpack.cli.cmd_push:verify_pull_command",
}


class Reported(click.ClickException):
    """A ModelpackError on its way out: one `error:` line per problem, its own exit code."""

    def __init__(self, error: ModelpackError) -> None:
        super().__init__(str(error))
        self.error = error
        self._exit_code = error.exit_code

    # click declares exit_code a class constant; here it is the error's, so per instance.
    @property
    def exit_code(self) -> int:
        return self._exit_code

    @exit_code.setter
    def exit_code(self, value: int) -> None:
        self._exit_code = value

    def show(self, file: Any = None) -> None:
        from modelpack.cli.output import sanitize

        # Messages carry spec keys, file names and server replies: escaped, one line each.
        for line in getattr(self.error, "lines", None) or [str(self.error)]:
            click.echo(f"error: {sanitize(line)}", err=True)


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click docs, "Lazily Loading")."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def invoke(self, ctx: click.Context) -> Any:
        """The one error funnel, here so that every way of running the CLI gets it."""
        try:
            return super().invoke(ctx)
        except ModelpackError as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("MODELPACK_DEBUG"):
                raise
            raise Reported(exc) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="modelpack")
@click.option("--debug", is_flag=True, help="Show the traceback of an error.")
@click.pass_context
def cli(ctx: click.Context, *, debug: bool) -> None:
    """Build, validate, smoke-test and publish Ollama models from declared packages."""
    ctx.obj = {"debug": debug}


def main(argv: list[str] | None = None) -> None:
    installed = _raise_on_sigterm()
    try:
        code = _run(argv)
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.exit(code)


def console_main() -> None:
    """`main()` for a whole process, which then ends without tearing the interpreter down:
    freeing every module and object a build loaded takes about 100 ms (a sixth of a cold
    build of a small model) and does nothing for anyone. What a normal exit does that matters
    still happens first: threads that are not daemons are waited for, atexit handlers run
    (temporary files, logging), stdout and stderr are flushed. Only the normal path ends so;
    an exception that escapes `main()` exits as usual, traceback and all. What writes after
    the program returns rather than at exit (`python -m cProfile`) gets nothing here: run
    `python -m modelpack` under such tools."""
    try:
        main()
    except SystemExit as exc:
        status = _exit_status(exc.code)
    else:
        status = 0
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): as Python's own exit says
            status = status or 120
    os._exit(status)


def _exit_status(code: object) -> int:
    """The status `sys.exit(code)` ends a process with (a message is printed, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _run(argv: list[str] | None) -> int:
    try:
        # Outside standalone mode click returns a command's exit code instead of exiting.
        code = cli.main(args=argv, prog_name="modelpack", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns an interrupt no command handled (or an EOF at a prompt) into Abort, with
        # the interrupt as its cause.
        cause = exc.__cause__
        word, code = (
            stop_reason(cause) if isinstance(cause, KeyboardInterrupt) else ("aborted", 130)
        )
        click.echo(word, err=True)
        return code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return code if isinstance(code, int) else 0


def _raise_on_sigterm() -> bool:
    """Install the SIGTERM handler if SIGTERM is at its default; whether it was installed."""
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: only the main thread can handle signals
        return False
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM must not cut short the cleanup the first one started. A handler
    # that does nothing rather than SIG_IGN, which a process started during cleanup would
    # inherit (exec resets handlers, not ignored signals) and then shrug off its own stop.
    signal.signal(signal.SIGTERM, _already_terminating)
    raise Terminated()


def _already_terminating(signum: int, frame: FrameType | None) -> None:
    pass
