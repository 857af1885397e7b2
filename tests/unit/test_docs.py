"""The repository stands on its own: nothing points outside it, and the docs' links resolve.

Reference notes once lived in a folder beside the repository that clones and wheels never get,
and comments, tests and hints pointed at them. docs/ now holds that material in the project's
own words; these tests keep it that way and keep docs/ (and the README's links into it) whole.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

# Spelled in pieces so that this file does not match itself.
OUTSIDE = ("shared" + "/reference", ".." + "/shared", "/work" + "/shared")

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def repository_files() -> list[Path]:
    """Tracked files plus new ones git does not ignore, so an uncommitted file counts too."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=REPO, capture_output=True, text=True
    )
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != REPO:
        pytest.skip("not a git checkout of modelpack")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO / name for name in listed.split("\0") if name and (REPO / name).is_file()]


def outside_pointers(files: list[Path], root: Path = REPO) -> list[str]:
    """`path:line: text` for every line that names a place outside the repository."""
    found = []
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if any(marker in line for marker in OUTSIDE):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def _prose(text: str) -> str:
    """Markdown without code blocks and code spans, where links are not links."""
    return _CODE.sub("", _FENCE.sub("", text))


def anchors(markdown: str) -> set[str]:
    """The heading anchors GitHub makes: lowercased, punctuation dropped, spaces to hyphens,
    and -1, -2, ... on repeats."""
    seen: dict[str, int] = {}
    out = set()
    for heading in _HEADING.findall(_FENCE.sub("", markdown)):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(page: Path) -> list[str]:
    """Each relative link of a Markdown page whose file, or heading anchor, does not exist."""
    text = _prose(page.read_text())
    problems = []
    for target in _INLINE.findall(text) + _DEFINITION.findall(text):
        if _SCHEME.match(target):
            continue
        path_part, _, fragment = target.partition("#")
        resolved = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not resolved.exists():
            problems.append(f"{page.name}: {target} (no such file)")
        elif (
            fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text())
        ):
            problems.append(f"{page.name}: {target} (no such heading)")
    return problems


def test_nothing_points_outside_the_repository() -> None:
    assert outside_pointers(repository_files()) == []


def test_docs_links_resolve() -> None:
    pages = sorted(DOCS.glob("*.md"))
    assert {p.name for p in pages} >= {
        "README.md",
        "ollama-behaviour.md",
        "real-servers.md",
        "memory.md",
    }
    assert [
        problem for page in [*pages, REPO / "README.md"] for problem in broken_links(page)
    ] == []


def test_docs_index_lists_every_page() -> None:
    index = (DOCS / "README.md").read_text()
    listed = {target for target in _INLINE.findall(_prose(index)) if not _SCHEME.match(target)}
    assert {p.name for p in DOCS.glob("*.md") if p.name != "README.md"} <= listed


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Each check fails on a planted fault, so a pass above means something."""
    (tmp_path / "other.md").write_text("# Other page\n\n## Two protocols, and the 0.5.5 switch\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n"
        "[ok](other.md#two-protocols-and-the-055-switch) [ok too](#title) "
        "[web](https://example.com/x.md) `[not a link](missing-in-code.md)`\n\n"
        "[missing](gone.md) [bad anchor](other.md#nope) [self](#nowhere)\n\n"
        "```\n[fenced](also-missing.md)\n```\n\n"
        "[ref]: ./gone-too.md\n"
    )
    assert broken_links(page) == [
        "page.md: gone.md (no such file)",
        "page.md: other.md#nope (no such heading)",
        "page.md: #nowhere (no such heading)",
        "page.md: ./gone-too.md (no such file)",
    ]
    assert anchors("# A\n## A\n## `num_ctx` by version\n") == {"a", "a-1", "num_ctx-by-version"}

    clean, pointing = tmp_path / "clean.py", tmp_path / "pointing.py"
    clean.write_text('"""See docs/memory.md and the shared library it loads."""\n')
    pointing.write_text(f'x = 1\n"""The rows are in ../{OUTSIDE[0]}/gpu-memory.md."""\n')
    assert outside_pointers([clean, pointing], root=tmp_path) == [
        f"pointing.py:2: {pointing.read_text().splitlines()[1]}"
    ]
