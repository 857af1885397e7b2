"""The parts of the managed llama-server that need no server: the argv it runs, and how the
reason a server stopped is picked from its output."""

from __future__ import annotations

from pathlib import Path

from modelpack.edge.llama_server import LlamaServerProcess, on_loopback


def test_on_loopback_replaces_host_and_port() -> None:
    argv = ["--model", "m.gguf", "--host", "0.0.0.0", "--port", "8080", "--jinja"]
    assert on_loopback(argv, 4321) == [
        "--model", "m.gguf", "--host", "127.0.0.1", "--port", "4321", "--jinja",
    ]  # fmt: skip


def test_on_loopback_adds_what_is_missing() -> None:
    assert on_loopback(["--model", "m.gguf"], 9) == [
        "--model", "m.gguf", "--host", "127.0.0.1", "--port", "9",
    ]  # fmt: skip


def test_tail_names_the_first_error_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text(
        "build: 11549\n"
        "llama_model_load: error loading model: missing tensor 'output_norm.weight'\n"
        "llama_model_load_from_file_impl: failed to load model\n"
        "main: exiting due to model loading error\n"
    )
    server = LlamaServerProcess(["llama-server"], cwd=tmp_path, log_path=log)
    assert server.tail() == (
        "llama_model_load: error loading model: missing tensor 'output_norm.weight'"
    )


def test_tail_without_an_error_line_is_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(10)))
    server = LlamaServerProcess(["llama-server"], cwd=tmp_path, log_path=log)
    assert server.tail(lines=3) == "line 7 | line 8 | line 9"
    assert LlamaServerProcess([], cwd=tmp_path, log_path=tmp_path / "none").tail() == "nothing"
