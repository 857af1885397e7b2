"""LoRA adapter checks against real GGUF files written the way llama.cpp's converter writes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from helpers.tiny_gguf import write_tiny_lora

from modelpack.core.gguf.adapter import adapter_layers, adapter_problems, is_adapter, pick_adapter
from modelpack.core.gguf.reader import read_gguf


def lora(tmp_path: Path, name: str, **shape: object) -> Path:
    return write_tiny_lora(tmp_path / name, **shape)  # type: ignore[arg-type]


def test_matching_adapter_has_no_problems(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    base = read_gguf(tiny_gguf(n_head_kv=2))
    adapter = read_gguf(lora(tmp_path, "a.gguf", n_head_kv=2))
    assert is_adapter(adapter) and not is_adapter(base)
    assert adapter_problems(adapter, base) == []


def test_embedding_mismatch_is_named_once_in_model_terms(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    """The classic 4096-vs-5120 error, in small: one line, not one per tensor."""
    base = read_gguf(tiny_gguf(n_embd=80, n_head=4))
    adapter = read_gguf(lora(tmp_path, "a.gguf", n_embd=64, n_head=4))
    problems = adapter_problems(adapter, base)
    assert problems == [
        "embedding length 64 does not match the base's 80 (blk.0.attn_q.weight input)"
    ]


def test_more_layers_than_the_base(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    base = read_gguf(tiny_gguf(n_layer=2))
    adapter = read_gguf(lora(tmp_path, "a.gguf", n_layer=5))
    assert adapter_layers(adapter) == 5
    problems = adapter_problems(adapter, base)
    assert problems[0] == "made for at least 5 layers, the base has 2"
    assert "the base has no tensor blk.2.attn_q.weight" in problems[1]
    assert "more (the base has 2 layers)" in problems[1]


def test_kv_head_mismatch_names_the_tensor(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    base = read_gguf(tiny_gguf(n_head_kv=4))
    adapter = read_gguf(lora(tmp_path, "a.gguf", n_head_kv=2))
    assert adapter_problems(adapter, base) == [
        "blk.0.attn_k.weight output size 32 does not match the base's 64",
        "blk.0.attn_v.weight output size 32 does not match the base's 64",
    ]


def test_architecture_mismatch(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    base = read_gguf(tiny_gguf(arch="qwen2"))
    adapter = read_gguf(lora(tmp_path, "a.gguf"))
    assert adapter_problems(adapter, base) == ["architecture llama does not match the base's qwen2"]


def test_a_model_given_as_adapter_and_an_adapter_as_base(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    model = read_gguf(tiny_gguf())
    adapter = read_gguf(lora(tmp_path, "a.gguf"))
    assert "is a model, not a LoRA adapter" in adapter_problems(model, model)[0]
    assert "is itself an adapter" in adapter_problems(adapter, adapter)[0]


def test_pick_by_metadata_never_by_order_or_date(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    base = read_gguf(tiny_gguf(n_embd=80))
    wrong = lora(tmp_path, "newest.gguf", n_embd=64)
    right = lora(tmp_path, "oldest.gguf", n_embd=80)
    # The wrong one is newer and listed first: neither may matter.
    import os

    os.utime(right, (1_000_000_000, 1_000_000_000))
    for order in ([wrong, right], [right, wrong]):
        choice = pick_adapter(base, [read_gguf(p) for p in order])
        assert choice.chosen is not None and choice.chosen.source == str(right)
        assert list(choice.rejected) == [str(wrong)]


def test_two_fitting_adapters_are_told_apart_by_base_model_name(
    tmp_path: Path, tiny_gguf: Callable[..., Path]
) -> None:
    base = read_gguf(tiny_gguf())  # general.name tiny-llama
    mine = read_gguf(lora(tmp_path, "mine.gguf", base_name="tiny-llama"))
    other = read_gguf(lora(tmp_path, "other.gguf", base_name="someone-else"))
    assert pick_adapter(base, [other, mine]).chosen is mine
    unnamed = read_gguf(lora(tmp_path, "unnamed.gguf"))
    choice = pick_adapter(base, [other, unnamed])
    assert choice.chosen is None
    assert choice.ambiguous == [other.source, unnamed.source]


def test_no_fitting_adapter(tmp_path: Path, tiny_gguf: Callable[..., Path]) -> None:
    base = read_gguf(tiny_gguf(n_embd=80))
    choice = pick_adapter(base, [read_gguf(lora(tmp_path, "a.gguf"))])
    assert choice.chosen is None and choice.ambiguous == []
    assert choice.rejected
