"""The docs cannot rot: every `modelpack` command they show parses, every link resolves.

Each command shown in a shell block of README.md, CHANGELOG.md, templates/README.md or docs/ is
run through the real command line with every command's callback replaced by a no-op, so click
parses it exactly as it would at run time (subcommand names, options, argument counts and
types) and nothing runs. Paths an example names are created empty in a temporary directory
first, since parsing checks that some exist. Relative links in those pages must point at files
in the repository.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from modelpack.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
_TOP = ["README.md", "CHANGELOG.md", "templates/README.md"]
PAGES = sorted([*(ROOT / name for name in _TOP), *(ROOT / "docs").glob("*.md")])
_FENCE = re.compile(r"^```(\w*)\s*$")
_SHELL = {"sh", "bash", "shell", "console"}
_PROGRAMS = {"modelpack", ".venv/bin/modelpack"}
_PATHLIKE = re.compile(r"[\w.-]+/|\.(json|xml|md|gguf|yaml|yml|Modelfile|txt|jinja)$")


def _shell_lines(page: Path) -> Iterator[tuple[int, str]]:
    language: str | None = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line.strip())
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        if language in _SHELL:
            yield number, line.strip().removeprefix("$ ")


def _segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line: split at pipes, `;` and `&&`, without the
    redirections (`< file`, `> file`), as a shell would read them."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    redirect = False
    for word in lexer:
        if word in {"|", "||", "&&", ";", "&"}:
            segments.append([])
        elif word in {"<", ">", ">>", "2>", "&>"}:
            redirect = True
        elif redirect:
            redirect = False
        else:
            segments[-1].append(word)
    return [words for words in segments if words]


def _commands() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for number, line in _shell_lines(page):
            try:
                segments = _segments(line)
            except ValueError:
                continue
            for words in segments:
                if words[:3] == ["python", "-m", "modelpack"]:
                    words = ["modelpack", *words[3:]]
                if words[0] in _PROGRAMS:
                    found.append((f"{page.relative_to(ROOT)}:{number}", words[1:]))
    return found


COMMAND_LINES = _commands()


def _silence(command: click.Command, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(command, "callback", lambda *args, **kwargs: None)
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            sub = command.get_command(click.Context(command), name)
            if sub is not None:
                _silence(sub, monkeypatch)


def test_the_docs_show_commands() -> None:
    """A broken extractor would make the parse test below vacuous."""
    assert len(COMMAND_LINES) >= 20, COMMAND_LINES
    shown = {args[0] for _, args in COMMAND_LINES if args}
    # Every top-level command appears in at least one example.
    assert not set(COMMANDS) - shown, (
        f"commands with no example in the docs: {set(COMMANDS) - shown}"
    )


@pytest.mark.parametrize(("where", "args"), COMMAND_LINES, ids=[w for w, _ in COMMAND_LINES])
def test_command_in_docs_parses(
    where: str, args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for word in args:
        if not word.startswith("-") and _PATHLIKE.search(word) and ":" not in word:
            target = tmp_path / word
            if word.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        _silence(command, monkeypatch)
    try:
        cli.main(args=args, prog_name="modelpack", standalone_mode=False)
    except click.ClickException as exc:
        pytest.fail(f"{where}: modelpack {shlex.join(args)}: {exc.format_message()}")


def _links(page: Path) -> Iterator[tuple[int, str]]:
    in_code = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        if _FENCE.match(line.strip()):
            in_code = not in_code
            continue
        if not in_code:
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if not re.match(r"[a-z]+:", target):
                    yield number, target


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    broken = [
        f"{page.relative_to(ROOT)}:{number}: {target}"
        for number, target in _links(page)
        if target.split("#")[0] and not (page.parent / target.split("#")[0]).exists()
    ]
    assert not broken, broken


def test_scripts_the_docs_name_exist() -> None:
    missing = [
        f"{page.relative_to(ROOT)}:{number}: {word}"
        for page in PAGES
        for number, line in _shell_lines(page)
        for word in re.findall(r"(?<![\w/.])scripts/[\w./-]+", line)
        if not (ROOT / word).exists()
    ]
    assert not missing, missing
