"""`modelpack inspect` on the real SmolLM2 GGUF and on small files written for each case."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gguf
import pytest
from click.testing import CliRunner
from helpers.deadline import deadline
from helpers.tiny_gguf import write_tiny_lora

from modelpack.cli import cli
from modelpack.core.budget import HINT

CHATML_WITH_EXTRA_NEWLINE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


SMOLLM2_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["inspect", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.heavy
def test_smollm2_facts_match_the_reference_and_gguf_py(smollm2_path: Path) -> None:
    code, out, err = run(str(smollm2_path))
    assert code == 0, err
    lines = {line[:19].strip(): line[19:].strip() for line in out.splitlines()[1:]}
    assert lines["architecture"] == "llama"
    assert lines["layers"] == "30"
    assert lines["embedding"] == "576"
    assert lines["heads / KV heads"] == "9 / 3"
    assert lines["context length"] == "8192"
    assert lines["file type"] == "Q4_1"
    assert lines["tokenizer"] == "gpt2, 49152 tokens"
    assert lines["chat template"] == "chatml (matches modelpack's format exactly)"
    # SmolLM2's template writes this when a conversation has no system message
    assert lines["default system"] == SMOLLM2_DEFAULT
    assert lines["license"] == "apache-2.0"
    assert "bos 1 '<|im_start|>'" in lines["special tokens"]
    assert lines["memory, CPU"].endswith("RAM at num_ctx 4096")
    reader = gguf.GGUFReader(smollm2_path)
    elements = sum(int(t.n_elements) for t in reader.tensors)
    assert lines["parameters"] == f"134.5 M ({elements:,})"
    assert err == ""


def test_json_has_the_same_facts_and_the_detected_format(smollm2_path: Path) -> None:
    code, out, _ = run(str(smollm2_path), "--json", "--ctx", "8192")
    assert code == 0
    data = json.loads(out)
    assert data["architecture"] == "llama" and data["block_count"] == 30
    assert data["head_count_kv"] == 3 and data["vocab_size"] == 49152
    assert data["chat_format"] == {
        "format": "chatml",
        "default_system": SMOLLM2_DEFAULT,
        "nearest": "chatml",
        "warning": None,
    }
    assert sum(data["tensor_types"].values()) == data["tensor_bytes"]
    assert data["memory"]["ctx"] == 8192
    # KV cache: layers x ctx x KV heads x head dim x (K+V) x f16.
    assert data["memory"]["gpu"]["kv_cache"] == 30 * 8192 * 3 * 64 * 2 * 2


def test_keys_summarise_large_arrays(smollm2_path: Path) -> None:
    code, out, _ = run(str(smollm2_path), "--keys")
    assert code == 0
    assert 'tokenizer.ggml.tokens [array/string] = {"array": "string", "count": 49152}' in out
    assert "llama.attention.head_count_kv [uint32] = 3" in out
    code, out, _ = run(str(smollm2_path), "--keys", "--json")
    assert json.loads(out)["tokenizer.ggml.merges"] == {"array": "string", "count": 48900}


def test_keys_summarise_long_strings_but_facts_decode_them(
    tiny_gguf: Callable[..., Path],
) -> None:
    """An embedded tokenizer.json-sized string is shown by size; the license still reads."""
    license_text = "Permission is granted. " * 4000  # 92 KB
    path = tiny_gguf(extra={"general.license": license_text, "tokenizer.huggingface.json": "{}"})
    code, out, _ = run(str(path), "--keys", "--json")
    assert code == 0
    keys = json.loads(out)
    assert keys["general.license"] == {"string": "not decoded", "bytes": len(license_text)}
    assert keys["tokenizer.huggingface.json"] == "{}"
    code, out, _ = run(str(path), "--json")
    assert code == 0
    assert json.loads(out)["license"] == license_text


def test_unknown_chat_template_warns_with_the_nearest_format(
    tiny_gguf: Callable[..., Path],
) -> None:
    path = tiny_gguf(extra={"tokenizer.chat_template": CHATML_WITH_EXTRA_NEWLINE})
    code, out, err = run(str(path))
    assert code == 0
    assert "unknown; nearest chatml" in out
    assert err.startswith("warning: ")
    assert "chatml" in err and "\\n\\n" in err  # where it differs, escaped


def test_hostile_strings_are_escaped(tiny_gguf: Callable[..., Path]) -> None:
    path = tiny_gguf(extra={"general.name": "evil\x1b[2J\x1b]0;pwned\x07"})
    code, out, _ = run(str(path))
    assert code == 0
    assert "\x1b" not in out
    assert "evil\\x1b[2J" in out


def test_adapter_shows_its_kind_and_no_memory(tmp_path: Path) -> None:
    path = write_tiny_lora(tmp_path / "lora.gguf", alpha=16.0)
    code, out, _ = run(str(path))
    assert code == 0
    assert "kind             adapter" in out
    assert "adapter          lora, alpha 16.0" in out
    assert "memory" not in out


def test_not_a_gguf_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    code, out, err = run(str(path))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {path}: not a GGUF file")


def test_a_chat_template_that_loops_is_not_detected_and_the_facts_still_print(
    tiny_gguf: Callable[..., Path],
) -> None:
    """Two nested range(100000) loops spun inspect for hours; now the template budget stops
    them in well under a second, and inspect reports why no format was detected."""
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    path = tiny_gguf(name="evil.gguf", extra={"tokenizer.chat_template": loops})
    with deadline(20):
        code, out, err = run(str(path))
    assert code == 0
    lines = {line[:19].strip(): line[19:].strip() for line in out.splitlines()[1:]}
    assert lines["architecture"] == "llama"
    assert lines["chat template"] == "not detected (see the warning)"
    assert err.splitlines() == [
        "warning: chat format not detected: evil.gguf:tokenizer.chat_template:1: the chat "
        "template ran past modelpack's template budget: more than 200,000 steps (" + HINT + ")"
    ]
    code, out, _ = run(str(path), "--json")
    assert code == 0
    chat = json.loads(out)["chat_format"]
    assert chat["format"] is None and "template budget" in chat["warning"]


def test_a_chat_template_that_fails_is_not_detected_either(
    tiny_gguf: Callable[..., Path],
) -> None:
    path = tiny_gguf(extra={"tokenizer.chat_template": "{{ 1/0 }}"})
    code, out, err = run(str(path))
    assert code == 0
    assert "not detected (see the warning)" in out
    assert "raised ZeroDivisionError: division by zero" in err
