"""What each fast command loads: the import budgets behind the start-up targets (issue 12).

Each command runs in a fresh interpreter, as a user starts it, and reports the modules it
loaded. A command fails here when a heavy package it does not need creeps back into its
imports: httpx and ollama (the network), pydantic and yaml (the spec), jinja2 (templates),
rich (tables), numpy and gguf (llama.cpp's reader). `benchmarks/startup_bench.py` times them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelpack.edge.server import OllamaServer

HEAVY = frozenset(
    {"httpx", "httpcore", "ollama", "pydantic", "yaml", "jinja2", "rich", "numpy", "gguf"}
)

# Runs the CLI in-process and writes what it loaded (and, once httpx is in, every request it
# sent) to the file named by argv[1], then exits with the command's status.
PROBE = """\
import json, sys
out, args, watch = sys.argv[1], sys.argv[3:], sys.argv[2] == "watch"
sent = []
if watch:
    import httpx
    send = httpx.Client.send
    def counted(self, request, **kwargs):
        sent.append(f"{request.method} {request.url.path}")
        return send(self, request, **kwargs)
    httpx.Client.send = counted
from modelpack.cli import main
code = 0
try:
    main(args)
except SystemExit as exc:
    code = exc.code
with open(out, "w") as handle:
    # Modules really loaded: a stand-in registered in sys.modules (httpx._main) has no spec.
    full = sorted(m for m, mod in sys.modules.items() if getattr(mod, "__spec__", 1))
    names = {m.split(".")[0] for m in full}
    json.dump({"modules": sorted(names), "full": full, "sent": sent}, handle)
sys.exit(code)
"""

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

MODELFILE = "FROM ./m.gguf\nPARAMETER temperature 0.2\nPARAMETER num_ctx 4096\n"


def loaded(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    watch: bool = False,
    full: bool = False,
) -> tuple[set[str], list[str]]:
    """Top-level modules the command `modelpack ARGS` loaded (every module, with `full`), and
    the requests it sent."""
    out = tmp_path / "loaded.json"
    base = {k: v for k, v in os.environ.items() if k != "OLLAMA_HOST"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), "watch" if watch else "-", *args],
        env={**base, **(env or {})},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    return set(data["full" if full else "modules"]), data["sent"]


def test_help_lists_every_command_without_a_heavy_import(tmp_path: Path) -> None:
    """`--help` imports every command's module (for its short help): none may pull one in."""
    modules, _ = loaded(tmp_path, "--help")
    assert "modelpack" in modules
    assert not modules & HEAVY


def test_inspect_of_a_file_without_a_chat_template_loads_nothing_heavy(
    tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    path = tiny_gguf("plain.gguf")
    modules, _ = loaded(tmp_path, "inspect", str(path))
    assert not modules & HEAVY


def test_inspect_loads_jinja2_only_to_detect_a_chat_template(
    tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    """Detection renders the file's Jinja template, so jinja2 is its one heavy import."""
    path = tiny_gguf("chat.gguf", extra={"tokenizer.chat_template": CHATML})
    modules, _ = loaded(tmp_path, "inspect", str(path))
    assert modules & HEAVY == {"jinja2"}


def test_lint_without_a_server_loads_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "m.Modelfile").write_text(MODELFILE)
    modules, _ = loaded(tmp_path, "lint", "m.Modelfile")
    assert not modules & HEAVY
    pinned, _ = loaded(
        tmp_path,
        "lint",
        "--ollama-version",
        "0.9.3",
        "m.Modelfile",
        env={"OLLAMA_HOST": "127.0.0.1:9"},
    )
    assert not pinned & HEAVY


def test_lint_asks_a_server_with_httpx_alone(tmp_path: Path) -> None:
    """With OLLAMA_HOST set, lint asks that server its version: httpx, but still no spec,
    template or table machinery (nothing answers here, so it falls back to the newest)."""
    (tmp_path / "m.Modelfile").write_text(MODELFILE)
    modules, _ = loaded(tmp_path, "lint", "m.Modelfile", env={"OLLAMA_HOST": "127.0.0.1:9"})
    assert "httpx" in modules
    assert not modules & (HEAVY - {"httpx", "httpcore"})


SPEC = """\
ollama: {version: "0.9.3"}
packages:
  pkg:
    model: budget
    from: smol.gguf
    chat_template: auto
    parameters: {temperature: 0, stop: ["<|im_end|>"]}
    variants: [simple, lightweight]
    smoke:
      prompts: [{prompt: "What is the capital of France?", expect: Paris, num_predict: 24}]
      gpu: prefer
"""


@pytest.mark.integration
def test_a_no_op_rebuild_asks_twice_and_never_loads_the_official_client(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """A rebuild with nothing changed: the version and the model list are its only requests
    (no blob check, no upload, no create, no second listing), and the `ollama` package, which
    only creates and smoke tests need, is never imported."""
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    env = {"OLLAMA_HOST": ollama_current.host, "MODELPACK_HOME": str(tmp_path / "home")}
    first, sent = loaded(tmp_path, "build", "pkg", env=env, watch=True)
    assert "ollama" in first
    assert "POST /api/create" in sent
    again, sent = loaded(tmp_path, "build", "pkg", env=env, watch=True)
    assert sent == ["GET /api/version", "GET /api/tags"]
    assert "ollama" not in again


@pytest.mark.integration
def test_a_build_without_smoke_tests_loads_neither_the_official_client_nor_the_judge(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """A first build with --no-smoke uploads, creates, pins and checks every variant through
    httpx: the `ollama` package (about 100 ms of imports) and the judge are for smoke tests."""
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC.replace("model: budget", "model: nosmoke"))
    env = {"OLLAMA_HOST": ollama_current.host, "MODELPACK_HOME": str(tmp_path / "home")}
    modules, sent = loaded(tmp_path, "build", "pkg", "--no-smoke", env=env, watch=True, full=True)
    assert sent.count("POST /api/create") == 2
    assert sent.count("POST /api/copy") == 2
    assert "ollama" not in modules
    assert "modelpack.core.results.judge" not in modules
    assert "modelpack.jobs.smoke" not in modules
