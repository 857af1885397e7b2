"""`modelpack inspect FILE.gguf`: what is inside a GGUF, read from its header in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from modelpack.core.gguf.facts import ModelFacts
    from modelpack.core.gguf.reader import GGUFInfo

_VALUE_WIDTH = 100


@click.command("inspect", short_help="Show what is inside a GGUF file.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@click.option("--keys", is_flag=True, help="Print every raw key/value (long arrays summarised).")
@click.option(
    "--ctx",
    type=click.IntRange(min=1),
    default=None,
    help="Context for the memory estimate. Default: Ollama's default (4096), capped at the "
    "trained context as Ollama caps it.",
)
def inspect_command(path: Path, *, as_json: bool, keys: bool, ctx: int | None) -> None:
    """Show a GGUF's architecture, shape, size, tensor types, tokenizer, chat template
    (and which known format it is), license and memory estimate."""
    from modelpack.core.gguf.facts import model_facts, raw_keys
    from modelpack.core.gguf.reader import read_gguf

    info = read_gguf(path)
    if keys:
        _print_keys(raw_keys(info), as_json=as_json, info=info)
        return
    facts = model_facts(info)
    chat = _chat(info)
    memory = _memory(info, ctx)
    if as_json:
        data = facts.as_dict()
        data["chat_format"] = chat
        data["memory"] = memory
        click.echo(json.dumps(data, indent=2))
        return
    _print_facts(facts, chat, memory)


def _chat(info: GGUFInfo) -> dict[str, Any] | None:
    """The detected chat format, against the formats modelpack ships. A template that fails
    (or runs past modelpack's template budget) is a format not detected, with the reason:
    the rest of the facts still stand. Rendering the file's template needs jinja2, imported
    only for a file that has one."""
    if info.chat_template is None:
        return None
    from modelpack.core.chat import chat_formats, detect
    from modelpack.core.gguf.facts import bos_eos
    from modelpack.edge.project import BUILTIN_TEMPLATES
    from modelpack.errors import InputError

    bos, eos = bos_eos(info)
    try:
        found = detect(
            info.chat_template,
            chat_formats([BUILTIN_TEMPLATES]),
            bos_token=bos,
            eos_token=eos,
            source=f"{Path(info.source).name}:tokenizer.chat_template",
        )
    except InputError as exc:
        return {"format": None, "nearest": None, "warning": f"chat format not detected: {exc}"}
    return {
        "format": found.format.name if found.format else None,
        "default_system": found.default_system,
        "nearest": found.nearest,
        "warning": None if found.format else found.warning(),
    }


def _memory(info: GGUFInfo, ctx: int | None) -> dict[str, Any] | None:
    """The estimate with every layer on a GPU and on the CPU alone; None for a file whose
    shape keys are missing (an adapter, or a model the preflight refuses anyway)."""
    from modelpack.core.gguf.memory import MemoryShapeError, effective_num_ctx, estimate
    from modelpack.core.modelfile.params import NEWEST

    context = effective_num_ctx(NEWEST, requested=ctx, trained=info.context_length)
    try:
        gpu = estimate(info, ctx=context)
        cpu = estimate(info, ctx=context, num_gpu=0)
    except MemoryShapeError:
        return None
    return {"ctx": context, "gpu": gpu.as_dict(), "cpu": cpu.as_dict()}


def _print_facts(
    facts: ModelFacts, chat: dict[str, Any] | None, memory: dict[str, Any] | None
) -> None:
    from modelpack.cli.output import sanitize

    def show(label: str, value: object) -> None:
        if value is not None and value != "":
            click.echo(f"  {label:<16} {sanitize(str(value), max_len=_VALUE_WIDTH)}")

    click.echo(f"{sanitize(facts.source)}  (GGUF v{facts.gguf_version}, {_size(facts.file_size)})")
    show("kind", facts.kind if facts.kind != "model" else None)
    show("architecture", facts.architecture)
    show("name", facts.name)
    show("parameters", _count(facts.parameter_count))
    show("layers", facts.block_count)
    show("embedding", facts.embedding_length)
    show("feed-forward", _per_layer(facts.feed_forward_length))
    if facts.head_count is not None:
        show(
            "heads / KV heads",
            f"{_per_layer(facts.head_count)} / {_per_layer(facts.head_count_kv)}",
        )
    show("context length", facts.context_length)
    show("sliding window", facts.sliding_window)
    show("file type", facts.file_type)
    mix = ", ".join(
        f"{name} {_size(n) if n is not None else '?'}" for name, n in facts.tensor_types.items()
    )
    show("tensors", f"{facts.tensor_count}, {_size(facts.tensor_bytes)}: {mix}")
    if facts.tokenizer_model or facts.vocab_size:
        show("tokenizer", f"{facts.tokenizer_model or '?'}, {facts.vocab_size or '?'} tokens")
    if facts.special_tokens:
        show(
            "special tokens",
            ", ".join(f"{t.role} {t.id} {t.text!r}" for t in facts.special_tokens),
        )
    if facts.adapter_type:
        show("adapter", f"{facts.adapter_type}, alpha {facts.lora_alpha}")
    vector = facts.control_vector
    if vector is not None:
        show("made on", vector.model_hint)
        show("width", vector.width)
        if vector.layers:
            span = (
                str(vector.layers[0])
                if len(vector.layers) == 1
                else f"{vector.layers[0]}-{vector.layers[-1]}"
            )
            show("steers layers", f"{span} ({len(vector.layers)} directions)")
        show("layer_count", vector.layer_count)
    if chat is None:
        show("chat template", "none in the file" if facts.kind == "model" else None)
    elif chat["format"]:
        show("chat template", f"{chat['format']} (matches modelpack's format exactly)")
        if chat.get("default_system"):
            show("default system", chat["default_system"])
    elif chat["nearest"] is None:
        show("chat template", "not detected (see the warning)")
    else:
        show("chat template", f"unknown; nearest {chat['nearest']}")
    show("license", facts.license)
    if memory is not None:
        gpu, cpu = memory["gpu"], memory["cpu"]
        show(
            "memory, GPU",
            f"{_size(gpu['gpu_total'])} VRAM + {_size(gpu['host_total'])} RAM at num_ctx "
            f"{memory['ctx']}, all layers offloaded (KV cache {_size(gpu['kv_cache'])})",
        )
        show("memory, CPU", f"{_size(cpu['host_total'])} RAM at num_ctx {memory['ctx']}")
    for warning in facts.warnings:
        click.echo(f"warning: {sanitize(warning)}", err=True)
    if chat is not None and chat["warning"]:
        click.echo(f"warning: {sanitize(chat['warning'])}", err=True)


def _print_keys(keys: dict[str, Any], *, as_json: bool, info: GGUFInfo) -> None:
    from modelpack.cli.output import sanitize

    if as_json:
        click.echo(json.dumps(keys, indent=2, default=str))
        return
    for key, value in keys.items():
        kind = "/".join(t.name.lower() for t in info.value_types[key])
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        click.echo(f"{sanitize(key)} [{kind}] = {sanitize(text, max_len=_VALUE_WIDTH)}")


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _count(n: int) -> str:
    for unit, scale in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,})"
    return str(n)


def _per_layer(value: int | list[int] | None) -> str:
    if isinstance(value, list):
        return f"{min(value)}-{max(value)} per layer" if value else "?"
    return "?" if value is None else str(value)
