"""Drift of a served model, on vLLM's recorded response shapes (tests/data/vllm/README.md says
where each comes from) and on llama-server's /props facts; the live llama-server side is
tests/integration/test_serve_real.py."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from modelpack.core.package.spec import load_spec
from modelpack.core.serve.drift import (
    compare_command_line,
    compare_llama,
    compare_vllm,
    llama_report,
    metric_labels,
    parse_command_line,
    server_info_settings,
    vllm_report,
)
from modelpack.core.serve.launch import ServeRenderer
from modelpack.core.serve.spec import LlamaServer, Vllm
from modelpack.core.serve.versions import LlamaCppBuild, VllmRelease
from modelpack.edge.process import ListeningProcess, listening_inodes, process_on_port

DATA = Path(__file__).parent.parent / "data" / "vllm"

VLLM_SPEC = """\
packages:
  qwen:
    model: qwen
    from: qwen.gguf
    chat_template: chatml
    variants: [full]
    serve:
      engine: vllm
      version: "{version}"
      model: Qwen/Qwen2.5-7B-Instruct-AWQ
      served_model_name: qwen-awq
      quantization: awq_marlin
      max_model_len: 8192
      gpu_memory_utilization: 0.9
      dtype: half
"""


def _block(version: str = "0.10.1.1") -> tuple[Vllm, list[str]]:
    loaded = load_spec(VLLM_SPEC.format(version=version), source="modelpack.yaml")
    (block,) = loaded.package("qwen").serve
    assert isinstance(block, Vllm)
    (launch,) = ServeRenderer(loaded, spec_dir=Path("/nonexistent")).render_package("qwen")
    return block, launch.argv


def _recorded(version: str, *, server_info: bool = True) -> Any:
    folder = DATA / version
    return vllm_report(
        json.loads((folder / "models.json").read_text()),
        json.loads((folder / "version.json").read_text()),
        (folder / "metrics.txt").read_text(),
        json.loads((folder / "server_info.json").read_text()) if server_info else None,
    )


@pytest.mark.parametrize("version", ["0.10.1.1", "0.34.0"])
def test_vllm_reports_what_it_runs(version: str) -> None:
    report = _recorded(version)
    assert report.engine == "vllm"
    assert report.version == version
    assert report.value("served_model_name") == "qwen-awq"
    assert report.value("model") == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    assert report.value("max_model_len") == 8192
    assert report.value("--gpu-memory-utilization") == "0.9"
    assert report.value("--block-size") == "16"
    assert report.value("--enable-prefix-caching") == "True"
    assert report.value("--quantization") == "awq"
    assert report.value("--dtype") == "torch.float16"


@pytest.mark.parametrize("version", ["0.10.1.1", "0.34.0"])
def test_the_awq_fallback_is_named_from_server_info(version: str) -> None:
    block, _ = _block(version)
    differences = compare_vllm(block, _recorded(version))
    assert [d.message() for d in differences] == [
        "quantization is awq on the server, awq_marlin in the spec (/server_info)"
    ]


def test_without_server_info_the_quantization_is_a_note() -> None:
    block, _ = _block()
    report = _recorded("0.10.1.1", server_info=False)
    assert compare_vllm(block, report) == []
    assert any("/server_info" in note for note in report.notes)


def test_the_awq_fallback_is_named_from_the_command_line() -> None:
    _, argv = _block()
    raw = (DATA / "cmdline-awq.bin").read_bytes()
    live = parse_command_line(raw.decode().split("\0")[:-1], "vllm", VllmRelease.parse("0.10.1.1"))
    assert live.model == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    differences = compare_command_line(
        "vllm", argv, live, version=VllmRelease.parse("0.10.1.1"), declared_dir="/", live_dir="/"
    )
    assert [d.message() for d in differences] == [
        "dtype is not set on the server, half in the spec (command line --dtype)",
        "quantization is awq on the server, awq_marlin in the spec (command line --quantization)",
    ]


def test_a_changed_vllm_setting_and_release_are_drift() -> None:
    block, _ = _block("0.10.1.1")
    report = _recorded("0.34.0")
    messages = [d.message() for d in compare_vllm(block, report)]
    assert "version is 0.34.0 on the server, 0.10.1.1 in the spec (/version)" in messages
    changed = block.model_copy(update={"max_model_len": 4096, "gpu_memory_utilization": 0.8})
    messages = [d.message() for d in compare_vllm(changed, report)]
    assert "max_model_len is 8192 on the server, 4096 in the spec (/v1/models)" in messages
    assert (
        "gpu_memory_utilization is 0.9 on the server, 0.8 in the spec (/metrics cache_config_info)"
        in messages
    )


def test_extra_flags_compare_with_cache_config_labels() -> None:
    block, _ = _block()
    flagged = block.model_copy(
        update={"extra_flags": ["--block-size", "32", "--no-enable-prefix-caching"]}
    )
    messages = [d.message() for d in compare_vllm(flagged, _recorded("0.10.1.1"))]
    assert (
        "--block-size is 16 on the server, 32 in the spec (/metrics cache_config_info)" in messages
    )
    assert (
        "--enable-prefix-caching is True on the server, false in the spec "
        "(/metrics cache_config_info)" in messages
    )


def test_metric_labels_unescape() -> None:
    text = '# TYPE x gauge\nx{a="1",b="say \\"hi\\""} 1.0\ny{a="2"} 1\nx 2\n'
    assert metric_labels(text, "x") == [{"a": "1", "b": 'say "hi"'}, {}]


def test_server_info_keys() -> None:
    text = json.loads((DATA / "0.34.0" / "server_info.json").read_text())["vllm_config"]
    found = server_info_settings(text)
    assert found["quantization"] == "awq"  # not quantization_config, which follows it
    assert found["model"] == "Qwen/Qwen2.5-7B-Instruct-AWQ"
    assert found["max_seq_len"] == "8192"


def test_python_module_command_lines() -> None:
    argv = [
        "/usr/bin/python3",
        "-u",
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        "m",
        "-q",
        "awq",
    ]
    parsed = parse_command_line(argv, "vllm", VllmRelease.parse("0.5.0"))
    assert parsed.options == {"--model": ["m"], "--quantization": ["awq"]}


# --- llama-server ---------------------------------------------------------------------------

PROPS = {
    "default_generation_settings": {"n_ctx": 1024},
    "total_slots": 2,
    "model_alias": "smol",
    "model_path": "/models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "chat_template": "{{ x }}",
    "build_info": "b11549-0a1b2c3",
}


def _llama(**update: Any) -> LlamaServer:
    base = {"engine": "llama-server", "version": "b11549", "ctx_size": 2048, "parallel": 2}
    return LlamaServer.model_validate({**base, **update})


def test_llama_props_per_slot_context() -> None:
    report = llama_report(PROPS, [{"n_ctx": 1024}, {"n_ctx": 1024}])
    assert report.version == "b11549"
    ok = compare_llama(
        _llama(), report, model_file=str(PROPS["model_path"])[8:], chat_template="{{ x }}"
    )
    assert ok == []
    unified = _llama(extra_flags=["--kv-unified"])
    (difference,) = compare_llama(
        unified, report, model_file="SmolLM2-135M-Instruct.Q4_1.gguf", chat_template=None
    )
    assert difference.message() == (
        "n_ctx per slot is 1024 on the server, 2048 in the spec "
        "(/props; the spec's ctx_size 2048 over parallel 2)"
    )


def test_llama_build_template_and_model_drift() -> None:
    report = llama_report({**PROPS, "build_info": "b10068-ffff"}, None)
    messages = [
        d.message()
        for d in compare_llama(
            _llama(alias="smol2"), report, model_file="other.gguf", chat_template="{{ y }}"
        )
    ]
    assert messages == [
        "build is b10068 on the server, b11549 in the spec (/props build_info)",
        "model is SmolLM2-135M-Instruct.Q4_1.gguf on the server, other.gguf in the spec "
        "(/props model_path)",
        "alias is smol on the server, smol2 in the spec (/props)",
        "the template on the server differs from the one in the spec (line 1: '{{ x }}' vs "
        "'{{ y }}') (/props)",
    ]
    assert "/slots is not served (llama-server --no-slots)" in report.notes


def test_an_unversioned_build_is_a_note() -> None:
    report = llama_report({**PROPS, "build_info": "b0-unknown"}, None)
    assert report.version is None
    assert compare_llama(_llama(), report, model_file="x", chat_template=None) == [
        d
        for d in compare_llama(_llama(), report, model_file="x", chat_template=None)
        if d.setting == "model"
    ]
    assert "the server does not report its build (build_info 'b0-unknown')" in report.notes


def test_llama_command_line_options_by_canonical_name() -> None:
    build = LlamaCppBuild.parse("b11549")
    live = parse_command_line(
        ["llama-server", "-m", "a.gguf", "-c", "2048", "-fa", "on", "--no-jinja"],
        "llama-server",
        build,
    )
    declared = [
        "llama-server",
        "--model",
        "a.gguf",
        "--ctx-size",
        "2048",
        "--flash-attn",
        "on",
        "--jinja",
    ]
    (difference,) = compare_command_line(
        "llama-server", declared, live, version=build, declared_dir="/", live_dir=None
    )
    assert difference.message() == (
        "chat_template is off on the server, on in the spec (command line --jinja)"
    )


# --- the process behind a port --------------------------------------------------------------

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4343 1
   2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1
"""


def test_listening_inodes() -> None:
    assert listening_inodes(TCP, 8080) == {4242}
    assert listening_inodes(TCP, 9999) == set()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_the_process_on_a_real_port_is_this_one() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        found = process_on_port(listener.getsockname()[1])
    assert isinstance(found, ListeningProcess)
    assert found.pid == os.getpid()
    assert found.cwd == os.getcwd()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert (
        process_on_port(port)
        == f"nothing listens on port {port} in this machine's network namespace"
    )


def test_no_proc_says_why(tmp_path: Path) -> None:
    assert "not Linux" in str(process_on_port(80, proc=tmp_path))


def test_reported_vllm_versions_that_are_not_plain_releases() -> None:
    block, _ = _block()
    for reported, drift in (("0.10.1.1+cu126", False), ("0.10.2.dev12+gabc", True)):
        report = vllm_report(None, {"version": reported}, None, None)
        versions = [d for d in compare_vllm(block, report) if d.setting == "version"]
        assert bool(versions) is drift, reported
