"""`modelpack estimate FILE.gguf`: the memory a model needs at a context, and what fits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from modelpack.core.gguf.memory import Estimate, Fit, ModelShape

KV_CHOICES = ("f16", "q8_0", "q4_0")


@click.command("estimate", short_help="Estimate a GGUF's memory and what fits a budget.")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--ctx",
    type=click.IntRange(min=1),
    help="num_ctx per sequence. Default: the target Ollama's default (by VRAM on newer ones). "
    "Capped at the trained context as the target Ollama caps it (from 0.9.3), with a warning.",
)
@click.option("--kv-type", type=click.Choice(KV_CHOICES), default="f16", show_default=True)
@click.option(
    "--num-gpu",
    type=click.IntRange(min=0),
    help="Layers on the GPU (the output layer counts as one; 0 = CPU only). Default: all.",
)
@click.option("--parallel", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--vram", metavar="SIZE", help="GPU memory budget, e.g. 24GiB (24G = 24GiB).")
@click.option("--ram", metavar="SIZE", help="Host memory budget, e.g. 64GiB; 24GB = 24*10^9.")
@click.option(
    "--ollama-version",
    "version_text",
    metavar="X.Y.Z",
    help="The Ollama whose default num_ctx applies. Default: the server at OLLAMA_HOST if one "
    "answers, else the newest version modelpack knows.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate and fit as JSON.")
def estimate_command(
    path: Path,
    ctx: int | None,
    kv_type: str,
    num_gpu: int | None,
    parallel: int,
    vram: str | None,
    ram: str | None,
    version_text: str | None,
    *,
    as_json: bool,
) -> None:
    """Estimate the memory PATH needs (weights, KV cache, compute) on GPU and host, and the
    largest num_gpu and num_ctx that fit --vram / --ram.

    Exit status: 0 it fits (or no budget was given), 1 it does not fit, 2 usage error.
    """
    from modelpack.core.gguf.memory import (
        context_cap,
        effective_num_ctx,
        estimate,
        fit,
        model_shape,
    )
    from modelpack.core.gguf.reader import read_gguf
    from modelpack.core.package.spec import memory_budget
    from modelpack.edge.project import explicit_host, target_version
    from modelpack.errors import UsageError

    machine = memory_budget(None, vram=vram, ram=ram)
    vram_bytes, ram_bytes = machine.bytes() if machine else (None, None)
    shape = model_shape(read_gguf(path))
    trained = shape.context_length
    version, _ = target_version(version_text, host=explicit_host())
    use_ctx = effective_num_ctx(version, requested=ctx, vram=vram_bytes, trained=trained)
    capped = context_cap(version, ctx, trained)
    if capped is not None:
        click.echo(f"warning: {capped}", err=True)
    if num_gpu is not None and num_gpu > shape.n_layer + 1:
        raise UsageError(
            f"--num-gpu: {num_gpu} is more than this model's {shape.n_layer + 1} layers",
            hint=f"e.g. --num-gpu {shape.n_layer + 1} (all, the output layer included)",
        )
    if num_gpu is None and not vram_bytes and vram is not None:
        num_gpu = 0  # --vram 0: a CPU-only machine
    result = estimate(shape, ctx=use_ctx, kv_type=kv_type, num_gpu=num_gpu, parallel=parallel)
    budget = vram_bytes is not None or ram_bytes is not None
    answer = (
        fit(shape, ctx=use_ctx, kv_type=kv_type, vram=vram_bytes, ram=ram_bytes, parallel=parallel)
        if budget
        else None
    )
    if as_json:
        data: dict[str, object] = {
            "path": str(path),
            "architecture": shape.architecture,
            "context_length": trained,
            "requested_ctx": ctx,
            "ctx_warning": capped,
            "estimate": result.as_dict(),
        }
        if answer is not None:
            data["fit"] = answer.as_dict()
        click.echo(json.dumps(data, indent=2))
    else:
        _print_table(path, shape, result, answer)
    if answer is not None and not answer.fits:
        raise click.exceptions.Exit(1)


def _print_table(path: Path, shape: ModelShape, result: Estimate, answer: Fit | None) -> None:
    from modelpack.core.gguf.memory import format_size, swa_summary

    def cell(n: int) -> str:
        return format_size(n) if n else "-"

    click.echo(
        f"{path.name}: {shape.architecture}, {shape.n_layer} layers, "
        f"num_ctx {result.ctx} (trained {shape.context_length or '?'}), "
        f"KV {result.kv_type}, num_gpu {result.num_gpu}/{shape.n_layer + 1}"
    )
    swa = swa_summary(shape)
    if swa:
        click.echo(f"sliding window: {swa} ({result.swa_cells} cells)")
    rows = [
        ("weights", result.gpu_weights, result.host_weights),
        ("KV cache", result.gpu_kv, result.host_kv),
        ("compute", result.gpu_compute, result.host_compute),
        ("output", 0, result.host_output),
        ("overhead", result.gpu_overhead, result.host_overhead),
    ]
    click.echo(f"{'':10} {'GPU':>12} {'host':>12}")
    for name, gpu, host in rows:
        click.echo(f"{name:10} {cell(gpu):>12} {cell(host):>12}")
    click.echo(f"{'total':10} {cell(result.gpu_total):>12} {cell(result.host_total):>12}")
    click.echo(f"all: {format_size(result.total)}")
    if answer is None:
        return
    parts = (
        []
        if answer.vram is None
        else [f"VRAM {format_size(answer.vram)}" if answer.vram else "no GPU"]
    )
    if answer.ram is not None:
        parts.append(f"RAM {format_size(answer.ram)}")
    budget = ", ".join(parts)
    if answer.fits:
        where = "CPU only" if not answer.vram else f"num_gpu {answer.num_gpu}/{shape.n_layer + 1}"
        click.echo(f"fit ({budget}): yes at num_ctx {answer.ctx}, {where}")
    else:
        click.echo(f"fit ({budget}): no at num_ctx {answer.ctx}")
    if answer.reason:
        click.echo(f"  {answer.reason}")
    largest = answer.num_ctx if answer.num_ctx is not None else "none"
    on = "in RAM" if not answer.vram else "with every layer on the GPU"
    click.echo(f"largest num_ctx {on}: {largest} (trained {answer.max_ctx})")
