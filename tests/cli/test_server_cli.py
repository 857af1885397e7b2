"""Where modelpack keeps its servers without a checkout (`user_dirs`), which Ollama a managed
server runs (`find_build`), and `modelpack server` / `registry-rig` without a server: setup
errors and status lines. The real installs and servers are in
tests/integration/test_server_cli_real.py and test_wheel_install.py."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.cli import cli
from modelpack.edge.project import UserDirs, find_build, user_dirs
from modelpack.edge.server import INSTALL_MANIFEST
from modelpack.errors import SetupError

SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [lightweight]
"""


@pytest.fixture
def no_user_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with nothing installed: HOME in tmp_path, no MODELPACK_HOME or XDG dirs, and a
    PATH with no `ollama` (only an empty folder). Returns HOME."""
    home = tmp_path / "home"
    home.mkdir()
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(empty))
    for name in ("MODELPACK_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    return home


def fake_install(data: Path, name: str = "current") -> Path:
    """An install.json as `server install` writes it (the binary is never run here)."""
    folder = data / "ollama" / name
    folder.mkdir(parents=True)
    (folder / "ollama-lib").write_text("")
    (folder / INSTALL_MANIFEST).write_text(
        json.dumps({"binary": "ollama-lib", "env": {"OLLAMA_NUM_GPU": "0"}, "version": "0.9.3"})
    )
    return folder


# -- user_dirs ------------------------------------------------------------------------------------


def test_modelpack_home_holds_everything_as_a_checkouts_modelpack_does(tmp_path: Path) -> None:
    dirs = user_dirs({"MODELPACK_HOME": str(tmp_path), "XDG_DATA_HOME": "/elsewhere"})
    assert dirs == UserDirs(data=tmp_path, cache=tmp_path)
    assert dirs.ollama == tmp_path / "ollama"
    assert dirs.registry == tmp_path / "registry"
    assert dirs.run == tmp_path / "run"
    assert dirs.downloads == tmp_path / "downloads"


@pytest.mark.skipif(os.uname().sysname == "Darwin", reason="XDG is the Linux layout")
def test_xdg_dirs_and_their_defaults(tmp_path: Path) -> None:
    given = user_dirs({"HOME": "/h", "XDG_DATA_HOME": "/d", "XDG_CACHE_HOME": "/c"})
    assert given == UserDirs(data=Path("/d/modelpack"), cache=Path("/c/modelpack"))
    assert given.downloads == Path("/c/modelpack/downloads")
    default = user_dirs({"HOME": "/h"})
    assert default == UserDirs(
        data=Path("/h/.local/share/modelpack"), cache=Path("/h/.cache/modelpack")
    )
    # The XDG spec: a relative path is invalid and is ignored.
    assert user_dirs({"HOME": "/h", "XDG_DATA_HOME": "rel"}).data == default.data


# -- find_build -----------------------------------------------------------------------------------


def test_an_installed_build_is_found_in_the_user_data_dir(no_user_setup: Path) -> None:
    folder = fake_install(no_user_setup / ".local" / "share" / "modelpack")
    build = find_build(no_user_setup / "project" / ".modelpack")
    assert (build.name, build.binary, build.version) == ("current", folder / "ollama-lib", "0.9.3")
    assert build.env == {"OLLAMA_NUM_GPU": "0"}


def test_the_projects_home_comes_before_the_user_data_dir(no_user_setup: Path) -> None:
    fake_install(no_user_setup / ".local" / "share" / "modelpack")
    checkout = fake_install(no_user_setup / "checkout" / ".modelpack")
    assert find_build(no_user_setup / "checkout" / ".modelpack").binary.parent == checkout


def test_ollama_on_path_comes_first(
    no_user_setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_install(no_user_setup / ".local" / "share" / "modelpack")
    binary = tmp_path / "bin" / "ollama"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    build = find_build(None)
    assert (build.name, build.binary) == ("path", binary)


def test_nothing_installed_names_where_it_looked_and_the_command(no_user_setup: Path) -> None:
    with pytest.raises(SetupError) as missing:
        find_build(no_user_setup / "p" / ".modelpack")
    message = str(missing.value)
    assert str(no_user_setup / "p" / ".modelpack" / "ollama" / "current") in message
    assert str(no_user_setup / ".local" / "share" / "modelpack" / "ollama" / "current") in message
    assert "run: modelpack server install current" in message
    assert "scripts/" not in message


@pytest.mark.parametrize(
    "args",
    [["build", "pkg", "--serve"], ["push", "pkg", "--serve"], ["verify-pull", "pkg"]],
    ids=["build", "push", "verify-pull"],
)
def test_managed_server_commands_name_server_install(
    args: list[str], no_user_setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a wheel user without an install sees: one line with the command that fixes it,
    never a script path of a checkout."""
    project = tmp_path / "project"
    project.mkdir()
    write_tiny_gguf(project / "m.gguf")
    (project / "modelpack.yaml").write_text(
        SPEC + "registry: {namespace: '127.0.0.1:9/ns', insecure: true}\n"
    )
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("error: no `ollama` on PATH and Ollama build 'current' is not")
    assert line.endswith(
        "(run: modelpack server install current (or put Ollama's `ollama` on PATH))"
    )
    assert not (no_user_setup / ".local").exists(), "a failed lookup must create nothing"


# -- modelpack server / registry-rig --------------------------------------------------------------


def test_server_status_lists_the_builds_in_the_data_dir(no_user_setup: Path) -> None:
    data = no_user_setup / ".local" / "share" / "modelpack"
    result = CliRunner().invoke(cli, ["server", "status"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"current: Ollama 0.9.3 not installed ({data / 'ollama' / 'current'})",
        f"legacy: Ollama 0.5.4-ipexllm-20250407 not installed ({data / 'ollama' / 'legacy'})",
    ]


def test_server_status_reports_a_recorded_server_that_is_gone(
    no_user_setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `start` whose server died since (its pid no longer runs): not answering, not hidden."""
    home = tmp_path / "mp"
    monkeypatch.setenv("MODELPACK_HOME", str(home))
    (home / "run").mkdir(parents=True)
    dead = 2**22 + 12345  # above Linux's pid_max default, so no process has it
    (home / "run" / "current.json").write_text(json.dumps({"pid": dead, "host": "127.0.0.1:9"}))
    result = CliRunner().invoke(cli, ["server", "status"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "current: 127.0.0.1:9 not answering"


def test_server_install_rejects_an_unknown_build(no_user_setup: Path) -> None:
    result = CliRunner().invoke(cli, ["server", "install", "newest"])
    assert result.exit_code == 2
    assert "'newest' is not one of 'current', 'legacy', 'all'" in result.output


def test_registry_rig_status_when_not_started(no_user_setup: Path) -> None:
    result = CliRunner().invoke(cli, ["registry-rig", "status"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "registry rig: not started\n"


def test_a_relative_modelpack_home_is_looked_in_once(
    no_user_setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODELPACK_HOME is both the project's home and the data dir: one place, named once."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODELPACK_HOME", "mp")
    with pytest.raises(SetupError) as missing:
        find_build(Path("mp"))
    assert " or " not in str(missing.value)
    assert f"(looked in {tmp_path / 'mp' / 'ollama' / 'current'})" in str(missing.value)
    fake_install(tmp_path / "mp")
    assert find_build(Path("mp")).binary == tmp_path / "mp" / "ollama" / "current" / "ollama-lib"
