"""The hooks in .pre-commit-hooks.yaml, run by the real `pre-commit` tool (from PyPI).

`pre-commit try-repo` installs modelpack from a git repository into its own virtualenv
(`language: python`, so pip installs the package and its dependencies from the index) and runs
a hook in another repository, as a project that lists modelpack in its .pre-commit-config.yaml
would. The hook repository is a fresh commit of this checkout's package files (try-repo would
leave out files that are not committed yet); the consumer holds a good and a bad Modelfile, and
a spec with its rendered files. Installing takes a while, so this is an integration test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = [sys.executable, "-m", "pre_commit"]

GOOD = "FROM llama3\nPARAMETER temperature 0.3\n"
BAD = "FROM llama3\nPARAMETER numa true\nPARAMETER temperature 0.3\n"
SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
"""


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _commit_all(repo: Path) -> None:
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "x")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """pre-commit's cache in a temporary folder (shared by this module's tests, so the hook
    environment is installed once), and no server for lint to ask for its version."""
    home = tmp_path_factory.mktemp("pre-commit-home")
    environ = {k: v for k, v in os.environ.items() if k not in ("OLLAMA_HOST", "GIT_DIR")}
    yield {**environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("hook-repo")
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy(ROOT / name, repo / name)
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("modelpack", "templates"):
        shutil.copytree(ROOT / name, repo / name, ignore=ignore)
    _commit_all(repo)
    return repo


@pytest.fixture
def consumer(tmp_path: Path) -> Path:
    (tmp_path / "good.Modelfile").write_text(GOOD)
    (tmp_path / "bad.Modelfile").write_text(BAD)
    (tmp_path / "notes.txt").write_text("PARAMETER numa true\n")  # not a Modelfile: not linted
    write_tiny_gguf(tmp_path / "m.gguf")
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    rendered = subprocess.run(
        [sys.executable, "-m", "modelpack", "render"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    _commit_all(tmp_path)
    return tmp_path


def try_repo(
    hook_repo: Path, consumer: Path, env: dict[str, str], hook: str, *files: str
) -> subprocess.CompletedProcess[str]:
    selection = ["--files", *files] if files else ["--all-files"]
    return subprocess.run(
        [*PRE_COMMIT, "try-repo", str(hook_repo), hook, *selection],
        cwd=consumer,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def test_lint_hook_passes_a_good_modelfile_and_fails_a_bad_one(
    hook_repo: Path, consumer: Path, env: dict[str, str]
) -> None:
    good = try_repo(hook_repo, consumer, env, "modelpack-lint", "good.Modelfile")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Passed" in good.stdout

    bad = try_repo(hook_repo, consumer, env, "modelpack-lint", "good.Modelfile", "bad.Modelfile")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
    assert "bad.Modelfile:2: error: parameter 'numa' was removed" in bad.stdout
    assert "good.Modelfile:" not in bad.stdout


def test_lint_hook_selects_modelfiles_only(
    hook_repo: Path, consumer: Path, env: dict[str, str]
) -> None:
    other = try_repo(hook_repo, consumer, env, "modelpack-lint", "notes.txt")
    assert other.returncode == 0, other.stdout + other.stderr
    assert "no files to check" in other.stdout


def test_render_check_hook_fails_when_a_rendered_file_is_stale(
    hook_repo: Path, consumer: Path, env: dict[str, str]
) -> None:
    current = try_repo(hook_repo, consumer, env, "modelpack-render-check")
    assert current.returncode == 0, current.stdout + current.stderr
    assert "Passed" in current.stdout

    stale = consumer / "modelfiles" / "pkg" / "full.Modelfile"
    stale.write_text(stale.read_text() + "PARAMETER temperature 0.9\n")
    _git(consumer, "add", "-A")
    failed = try_repo(hook_repo, consumer, env, "modelpack-render-check")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "modelfiles/pkg/full.Modelfile: differs from what the spec renders" in failed.stdout
    assert "run `modelpack render` and commit the result" in failed.stdout
