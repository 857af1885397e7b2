"""The command line's shape: version, help, `python -m`, the error funnel, startup imports."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

import modelpack
from modelpack.cli import COMMANDS, cli, main
from modelpack.errors import ModelpackError, SetupError, Terminated, stop_reason


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelpack", *args], capture_output=True, text=True, check=False
    )


def test_version_from_python_m() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"modelpack, version {modelpack.__version__}"


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "Usage: modelpack" in result.stdout
    for name in COMMANDS:
        assert name in result.stdout
    # Each command has a short help that fits: click cuts a long one with "...".
    listing = result.stdout.split("Commands:", 1)[1].splitlines()[1:]
    assert len(listing) == len(COMMANDS)
    assert [line for line in listing if line.endswith("...") or len(line) > 80] == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_help_imports(name: str) -> None:
    """A broken lazy import must fail here, not in a user's hands."""
    result = run(name, "--help")
    assert result.returncode == 0, result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = run("no-such-command")
    assert result.returncode == 2
    assert "No such command 'no-such-command'" in result.stderr


def test_modelpack_error_becomes_one_line_and_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @cli.command("explode")
    def explode() -> None:
        raise SetupError("the server is not installed", hint="run the installer")

    monkeypatch.setitem(cli.commands, "explode", explode)
    with pytest.raises(SystemExit) as exit_info:
        main(["explode"])
    del cli.commands["explode"]
    assert exit_info.value.code == SetupError.exit_code == 2
    err = capsys.readouterr().err
    assert err == "error: the server is not installed (run the installer)\n"


def test_debug_flag_keeps_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("explode")
    def explode() -> None:
        raise ModelpackError("boom")

    monkeypatch.setitem(cli.commands, "explode", explode)
    with pytest.raises(ModelpackError, match="boom"):
        main(["--debug", "explode"])
    del cli.commands["explode"]


def test_cli_startup_loads_no_heavy_modules() -> None:
    """`modelpack --help` must stay fast: no httpx, pydantic, jinja2, ollama or rich at import."""
    code = (
        "import sys, json; import modelpack.cli; "
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    assert "click" in loaded
    assert not loaded & {"httpx", "pydantic", "jinja2", "ollama", "rich", "numpy"}


def test_core_loads_no_edge_modules() -> None:
    """The pure core never pulls in the network or the CLI."""
    code = (
        "import sys, json, pkgutil, importlib, modelpack.core as core; "
        "[importlib.import_module(f'modelpack.core.{m.name}') "
        "for m in pkgutil.iter_modules(core.__path__)]; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(json.loads(subprocess.check_output([sys.executable, "-c", code], text=True)))
    assert not {m for m in loaded if m.split(".")[0] in {"httpx", "ollama", "click", "rich"}}
    assert not {m for m in loaded if m.startswith(("modelpack.edge", "modelpack.cli"))}


# A command that signals itself, then reports what its cleanup did, run by `main()` in a fresh
# interpreter: a SIGTERM that the CLI failed to handle must end that process, not pytest.
SIGNALLED = """\
import os, signal, subprocess, sys, time
import click
from modelpack.cli import cli, main

@cli.command("work")
@click.option("--again", is_flag=True)
def work(again):
    try:
        os.kill(os.getpid(), signal.{signal})
        time.sleep(0.5)
        print("not stopped", flush=True)
    finally:
        if again:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            # A process the cleanup starts must still be stoppable by SIGTERM.
            code = "import signal; print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)"
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            print("child SIGTERM at default:", out.stdout.strip(), flush=True)
        print("cleaned up", flush=True)

try:
    main(["work", *sys.argv[1:]])
finally:
    print("SIGTERM at default after main:", signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
"""


def run_signalled(
    sig: str, *args: str, ignore_sigterm: bool = False
) -> subprocess.CompletedProcess[str]:
    def dispositions() -> None:
        """The child's signals are set here, not inherited: a suite started as a background
        job (`nohup scripts/test.sh &`) has SIGINT ignored, and Python then installs no
        KeyboardInterrupt handler in the child."""
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if ignore_sigterm else signal.SIG_DFL)

    return subprocess.run(
        [sys.executable, "-c", SIGNALLED.format(signal=sig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        preexec_fn=dispositions,
    )


def test_sigterm_runs_the_ctrl_c_cleanup_and_exits_143() -> None:
    result = run_signalled("SIGTERM")
    assert result.returncode == 143 == Terminated.exit_code, result.stderr
    assert result.stdout.splitlines() == ["cleaned up", "SIGTERM at default after main: True"]
    assert result.stderr.strip() == "terminated"


def test_a_second_sigterm_does_not_cut_the_cleanup_short() -> None:
    result = run_signalled("SIGTERM", "--again")
    assert result.returncode == 143, result.stderr
    assert result.stdout.splitlines()[:2] == ["child SIGTERM at default: True", "cleaned up"]
    assert "Traceback" not in result.stderr


def test_ctrl_c_still_exits_130() -> None:
    result = run_signalled("SIGINT")
    assert result.returncode == 130, result.stderr
    assert result.stdout.splitlines()[0] == "cleaned up"
    assert result.stderr.strip() == "interrupted"


def test_an_inherited_ignored_sigterm_stays_ignored() -> None:
    """Like an ignored SIGINT, which Python leaves alone: whoever started us chose that."""
    result = run_signalled("SIGTERM", ignore_sigterm=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["not stopped", "cleaned up"]


def test_stop_reason_words_and_codes() -> None:
    assert stop_reason(KeyboardInterrupt()) == ("interrupted", 130)
    assert stop_reason(Terminated()) == ("terminated", 143)


CONSOLE = """
import atexit, sys, threading, time
from modelpack.cli import console_main
atexit.register(lambda: print("atexit ran", file=sys.stderr, flush=True))
def late():
    time.sleep(0.3)
    print("thread done", file=sys.stderr, flush=True)
threading.Thread(target=late).start()
sys.argv = ["modelpack", *sys.argv[1:]]
console_main()
"""


def test_the_console_exit_keeps_what_a_normal_exit_does() -> None:
    """The console script ends without tearing the interpreter down, but only after what a
    normal exit does: a thread that is not a daemon finishes, then atexit handlers run, all of
    stdout arrives (the schema, several times what stdout buffers on a pipe), and the exit
    status is the command's."""
    out = subprocess.run(
        [sys.executable, "-c", CONSOLE, "schema"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) > 3 * 8192
    assert json.loads(out.stdout)["title"] == "modelpack.yaml"
    assert out.stderr.splitlines() == ["thread done", "atexit ran"]
    usage = subprocess.run(
        [sys.executable, "-c", CONSOLE, "no-such-command"], capture_output=True, text=True
    )
    assert usage.returncode == 2
    assert "No such command" in usage.stderr
    lines = usage.stderr.splitlines()
    assert lines.index("thread done") < lines.index("atexit ran") == len(lines) - 1


def test_python_m_modelpack_exits_normally_so_profilers_write(tmp_path: Path) -> None:
    """`python -m modelpack` keeps the interpreter's own exit, so a wrapper that writes after
    the program returns (cProfile's -o) still writes; only the console script skips it."""
    out = tmp_path / "version.prof"
    result = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "modelpack", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"modelpack, version {modelpack.__version__}"
    assert out.stat().st_size > 0
