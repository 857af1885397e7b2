"""How much memory a GGUF model needs at a given context, and the largest offload that fits.

The estimate models where llama.cpp puts each buffer, not one total, so that it holds for shapes
it was never checked on. Sources (read, not copied): llama.cpp `src/llama-model.cpp`
(`load_tensors`: layer placement, the input layer pinned to the CPU, the tied output tensor
duplicated into the output layer's buffer; `load_hparams`: which layers use a sliding window),
`src/llama-kv-cache.cpp` and `src/llama-kv-cache-iswa.cpp` (one K and one V tensor per layer on
that layer's device; the SWA cache is `pad(min(n_ctx, n_swa + n_ubatch), 256)` cells),
`src/llama-context.cpp` (`n_ctx` padded to 256; the worst-case graph reserved with
`n_ubatch` tokens and, in current llama.cpp, one logits row per sequence), `src/llama-graph.cpp`
(the KQ mask, cast to F16 for flash attention) and ggml-cuda's quantized row padding; Ollama
v0.9.3 `llm/memory.go` and `fs/ggml/ggml.go` for what `/api/ps` reports (see
`ollama_reported_size`).

Components (bytes):

- weights: the tensor table's own sizes. `token_embd` (and the other input-layer tensors) always
  stays on the host; repeating layer `il` is on the GPU when `il >= n_layer - num_gpu`; the
  output layer (`output`, `output_norm`) only when `num_gpu > n_layer`, as in llama.cpp and
  Ollama (`layers.model = block_count + 1`). A model without `output.weight` (tied embeddings)
  gets a second copy of `token_embd` on the GPU when its output layer is there. On CUDA each
  quantized tensor whose rows are not a multiple of 512 is padded by one partial row.
- KV cache: per layer with a cache, `cells x (n_head_kv x (key_length + value_length))` elements
  of the cache type, sized by ggml's block table (`q8_0` 34 bytes and `q4_0` 18 bytes per 32).
  Full layers have `pad(ctx, 256) x parallel` cells; sliding-window layers
  `pad(min(ctx, n_swa + ubatch), 256) x parallel`. Each layer's cache is on that layer's device.
- compute: the graph's peak with `t = min(ubatch, cells)` tokens, f32 activations. At any point
  of a layer about four `n_embd`-wide activations are live (the residual stream, its norm, the
  stage's output, their sum); the FFN adds three `n_ff`-wide ones (gate, up, their product);
  attention without flash attention adds the KQ scores `n_head x n_kv` (softmax runs in
  place); the KQ mask (`n_kv x t`, F16 with flash attention, F32 without) is live through the
  layers. The output stage holds one `n_embd` activation and the logits of `n_outputs` rows.
  The input stage (the embedding lookup on the CPU and the scheduler's copies of it) holds four
  `n_embd`-wide activations; a GPU run keeps it and the mask input in host memory.
- output buffer: the host's logits buffer, `parallel x vocab` f32.
- overhead: `CUDA_RUNTIME_OVERHEAD` on the GPU when any layer is offloaded, and
  `HOST_RUNTIME_OVERHEAD` on the host always.

Checked against llama.cpp's own buffer log and nvidia-smi on an H100 (within 1% per component)
and against Ollama 0.9.3's CPU runner (within 1.2%); see tests/unit/test_memory.py and
tests/integration/test_memory_real.py, and docs/memory.md for the measurements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from modelpack.core.gguf.format import TENSOR_BLOCK_SIZES, TensorType
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

if TYPE_CHECKING:
    from modelpack.core.gguf.reader import GGUFInfo, TensorInfo

__all__ = [
    "CTX_CAP_SINCE",
    "CTX_PAD",
    "CUDA_MATRIX_ROW_PADDING",
    "CUDA_RUNTIME_OVERHEAD",
    "DEFAULT_NUM_CTX",
    "DEFAULT_UBATCH",
    "HOST_RUNTIME_OVERHEAD",
    "KV_TYPES",
    "MIB",
    "OLLAMA_GPU_RESERVE",
    "Estimate",
    "Fit",
    "MemoryShapeError",
    "ModelShape",
    "ReportedSize",
    "context_cap",
    "default_num_ctx",
    "default_parallel",
    "effective_num_ctx",
    "estimate",
    "fit",
    "format_size",
    "model_shape",
    "ollama_reported_size",
    "parse_size",
    "reported_size",
    "swa_summary",
]

MIB: Final = 1 << 20
GIB: Final = 1 << 30

CUDA_RUNTIME_OVERHEAD: Final = 600 * MIB
"""GPU memory the CUDA runtime takes beyond llama.cpp's buffers (context, cuBLAS workspace,
kernel images): nvidia-smi "used" minus the logged buffers was 597-601 MiB on an H100 for
models of 93 MB and 8.3 GB (the measurements are in docs/memory.md)."""

HOST_RUNTIME_OVERHEAD: Final = 80 * MIB
"""Host memory of the runner process beyond its buffers (binaries, libraries, vocabulary,
threads): Ollama 0.9.3's CPU runner with SmolLM2 had a resident size 80 MiB above its weights
and KV cache at num_ctx 2048, 4096 and 8192 alike. CPU-only runs have no other overhead."""

DEFAULT_UBATCH: Final = 512
"""llama.cpp's and Ollama's default physical batch (`n_ubatch`, Ollama's `num_batch`)."""

DEFAULT_NUM_CTX: Final = 4096
"""Ollama 0.9.3's default `num_ctx` (`OLLAMA_CONTEXT_LENGTH`)."""

CTX_PAD: Final = 256
"""llama.cpp pads the context, and the sliding-window cache, to a multiple of this."""

CUDA_MATRIX_ROW_PADDING: Final = 512
"""ggml-cuda pads a quantized tensor whose rows are not a multiple of this many elements."""

KV_TYPES: Final[dict[str, TensorType]] = {
    "f16": TensorType.F16,
    "q8_0": TensorType.Q8_0,
    "q4_0": TensorType.Q4_0,
}
"""Cache types Ollama accepts (`OLLAMA_KV_CACHE_TYPE`); the quantized ones need flash attention."""

_F32: Final = 4
_EMBD_ACTIVATIONS: Final = 4
"""n_embd-wide f32 activations live at once in a layer (and in the input stage)."""
_FFN_ACTIVATIONS: Final = 3
"""n_ff-wide f32 activations live at the FFN's peak: gate, up and their product."""

_INPUT_TENSORS: Final = ("token_embd.", "token_embd_norm.", "token_types.", "pos_embd.")
"""llama.cpp's input layer (LLM_TENSOR_LAYER_INPUT): always on the CPU."""

_SIZE_RE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$", re.IGNORECASE)
_SIZE_POWERS: Final = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


class MemoryShapeError(InputError):
    """A GGUF without the keys a memory estimate needs (block count, embedding, heads)."""


def parse_size(text: str) -> int:
    """Bytes from "24GiB", "24G", "24GB", "512MiB", "1.5T" or "1000000".

    IEC suffixes (KiB, MiB, GiB, TiB) and bare letters (K, M, G, T) are powers of 1024, as
    nvidia-smi, Ollama and `free` show memory; SI suffixes with a B (KB, MB, GB, TB) are powers
    of 1000, as vendors state capacity. Raises ValueError with an example on anything else.
    """
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size (examples: 24GiB, 24G, 8000MB, 512MiB)")
    number, prefix, iec, has_b = match.groups()
    prefix = prefix.lower()
    if iec and not prefix:
        raise ValueError(f"{text!r} is not a size (examples: 24GiB, 24G, 8000MB, 512MiB)")
    base = 1000 if prefix and has_b and not iec else 1024
    value = float(number) * base ** _SIZE_POWERS[prefix]
    return int(value)


_NUM_CTX_4096_SINCE: Final = OllamaVersion(0, 6, 7)
_NUM_CTX_BY_VRAM_SINCE: Final = OllamaVersion(0, 15, 5)


def default_num_ctx(version: OllamaVersion, vram: int | None = None) -> int:
    """The num_ctx an Ollama version uses when the Modelfile sets none: 2048 before 0.6.7,
    4096 from it, and from 0.15.5 a tier by VRAM (4096 below 23 GiB, 32768 from 23 GiB,
    262144 from 47 GiB; envconfig/config.go and server/routes.go)."""
    release = version.release
    if release < _NUM_CTX_4096_SINCE:
        return 2048
    if release < _NUM_CTX_BY_VRAM_SINCE or not vram:
        return DEFAULT_NUM_CTX
    if vram >= 47 * GIB:
        return 262144
    return 32768 if vram >= 23 * GIB else DEFAULT_NUM_CTX


CTX_CAP_SINCE: Final = OllamaVersion(0, 9, 3)
"""The first release whose `llm/server.go` caps num_ctx per sequence at the GGUF's trained context
(logging "requested context size too large for model"). Before it the runner gets the requested
context and llama.cpp only warns of a "possible training context overflow"."""


def effective_num_ctx(
    version: OllamaVersion,
    *,
    requested: int | None = None,
    vram: int | None = None,
    trained: int | None = None,
) -> int:
    """The num_ctx per sequence Ollama really runs a model with: the requested one, else the
    version's default for `vram`, capped at the GGUF's trained context when it is known and the
    version caps (`CTX_CAP_SINCE`). `build`, `estimate`, `inspect` and the measured-memory
    check all judge memory at this value."""
    ctx = requested if requested is not None and requested > 0 else default_num_ctx(version, vram)
    if trained and version.release >= CTX_CAP_SINCE:
        return min(ctx, trained)
    return ctx


def context_cap(version: OllamaVersion, requested: object, trained: int | None) -> str | None:
    """The warning for a num_ctx above the GGUF's trained context, naming the value `version`
    will really use; None when it is within it (or either is unknown)."""
    if not isinstance(requested, int) or isinstance(requested, bool) or not trained:
        return None
    if requested <= trained:
        return None
    if version.release >= CTX_CAP_SINCE:
        return (
            f"num_ctx {requested} is above the GGUF's trained context {trained}: Ollama {version} "
            f"caps it and runs num_ctx {trained} (its log says 'requested context size too "
            "large for model')"
        )
    return (
        f"num_ctx {requested} is above the GGUF's trained context {trained}: Ollama {version} "
        f"runs num_ctx {requested} as asked (it caps only from {CTX_CAP_SINCE}); past "
        f"{trained} tokens the model is outside its training"
    )


_PARALLEL_2_SINCE: Final = OllamaVersion(0, 6, 7)
_PARALLEL_1_SINCE: Final = OllamaVersion(0, 10, 0)


def default_parallel(version: OllamaVersion) -> int:
    """Sequences a version's scheduler loads a model with when OLLAMA_NUM_PARALLEL is unset
    (`server/sched.go` `defaultParallel`, `envconfig.NumParallel`): 4 before 0.6.7, 2 up to
    0.9.x, 1 from 0.10.0 (where the variable defaults to 1). On a CPU that is what runs; on a GPU
    versions before 0.10.0 fall back to 1 when the default does not fit the free VRAM."""
    release = version.release
    if release < _PARALLEL_2_SINCE:
        return 4
    return 2 if release < _PARALLEL_1_SINCE else 1


def format_size(n_bytes: int) -> str:
    """ "1.50 GiB" / "90.00 MiB": binary units, as llama.cpp logs and `parse_size` reads."""
    if abs(n_bytes) >= GIB:
        return f"{n_bytes / GIB:.2f} GiB"
    return f"{n_bytes / MIB:.2f} MiB"


def _pad(n: int, to: int) -> int:
    return -(-n // to) * to


def _row_bytes(ttype: TensorType, n: int) -> int:
    block, size = TENSOR_BLOCK_SIZES[ttype]
    return -(-n // block) * size


@dataclass(frozen=True, slots=True)
class ModelShape:
    """What the estimate needs from a GGUF: hyperparameters and per-layer weight sizes."""

    architecture: str
    n_layer: int
    n_embd: int
    n_ff: int
    n_head: int
    n_head_kv: tuple[int, ...]
    """One per layer (a scalar key repeated)."""
    key_length: int
    value_length: int
    vocab: int
    context_length: int | None
    swa_layers: tuple[bool, ...]
    """True where llama.cpp gives the layer a sliding-window cache."""
    n_swa: int
    kv_layers: tuple[bool, ...]
    """False for layers that reuse another layer's cache (gemma3n)."""
    input_bytes: int
    """token_embd and the other input-layer tensors (host)."""
    layer_bytes: tuple[int, ...]
    layer_bytes_cuda: tuple[int, ...]
    """The same with ggml-cuda's padding of quantized rows."""
    output_bytes: int
    output_bytes_cuda: int
    tied_bytes_cuda: int
    """The GPU copy of token_embd a tied model gets with its output layer offloaded (else 0)."""


def _cuda_bytes(t: TensorInfo) -> int:
    """Bytes ggml-cuda allocates: quantized rows not a multiple of 512 get one partial row."""
    n_bytes = t.n_bytes or 0
    if not isinstance(t.type, TensorType) or TENSOR_BLOCK_SIZES[t.type][0] == 1 or not t.shape:
        return n_bytes
    rest = t.shape[0] % CUDA_MATRIX_ROW_PADDING
    return n_bytes + (_row_bytes(t.type, CUDA_MATRIX_ROW_PADDING - rest) if rest else 0)


# architecture -> (period, dense_first, default n_swa); from llama.cpp's load_hparams.
_SWA_ARCHS: Final[dict[str, tuple[int, bool, int]]] = {
    "gemma2": (2, False, 4096),
    "gemma3": (6, False, 0),
    "gemma3n": (5, False, 0),
    "gemma-embedding": (6, False, 0),
    "cohere2": (4, False, 0),
    "olmo2": (4, False, 0),
    "gpt-oss": (2, False, 0),
    "afmoe": (4, False, 0),
    "llama4": (4, False, 8192),
    "exaone4": (4, False, 0),
    "smallthinker": (4, True, 0),
}
"""Architectures whose sliding window llama.cpp honours. Others (llama, mistral, qwen2, phi3)
keep a full cache on every layer even when the GGUF names a window."""

_KV_FROM_START: Final[dict[str, int]] = {"gemma3n": 20}
"""Layers past this index reuse an earlier layer's cache (`n_layer_kv_from_start`)."""


def _swa_layers(info: GGUFInfo, arch: str, n_layer: int) -> tuple[tuple[bool, ...], int]:
    none = (False,) * n_layer
    rule = _SWA_ARCHS.get(arch)
    if rule is None:
        return none, 0
    period, dense_first, default = rule
    window = info.sliding_window
    if window is None:
        window = default
    if window <= 0:
        return none, 0
    pattern = info.arch_get("attention.sliding_window_pattern")
    if isinstance(pattern, list) and pattern:
        flags = [bool(v) for v in pattern]
        return tuple(flags[il % len(flags)] for il in range(n_layer)), window
    if isinstance(pattern, int) and not isinstance(pattern, bool):
        period = pattern
    if period == 0:
        return (True,) * n_layer, window
    if dense_first:
        return tuple(il % period != 0 for il in range(n_layer)), window
    return tuple(il % period < period - 1 for il in range(n_layer)), window


def model_shape(info: GGUFInfo) -> ModelShape:
    """The hyperparameters and per-layer weight sizes of a GGUF; MemoryShapeError if missing."""
    arch = info.architecture

    def need(value: int | list[int] | None, key: str) -> int | list[int]:
        if value is None or value == [] or value == 0:
            raise MemoryShapeError(
                f"cannot estimate memory: {arch or 'general'}.{key} is missing",
                source=info.source,
                hint="only transformer GGUFs with block count, embedding and heads are supported",
            )
        return value

    n_layer = need(info.block_count, "block_count")
    n_embd = need(info.embedding_length, "embedding_length")
    heads = need(info.head_count, "attention.head_count")
    assert isinstance(n_layer, int) and isinstance(n_embd, int)
    heads_list = heads if isinstance(heads, list) else [heads] * n_layer
    n_head = max(heads_list)
    kv = info.head_count_kv
    kv_list = heads_list if kv is None else kv if isinstance(kv, list) else [kv] * n_layer
    kv_list = (list(kv_list) + [kv_list[-1]] * n_layer)[:n_layer]
    ff = info.feed_forward_length
    n_ff = max(ff) if isinstance(ff, list) and ff else ff if isinstance(ff, int) else 4 * n_embd
    key_length = info.key_length or n_embd // n_head
    value_length = info.value_length or n_embd // n_head

    input_bytes = output_bytes = output_cuda = 0
    layers = [0] * n_layer
    layers_cuda = [0] * n_layer
    token_embd: TensorInfo | None = None
    has_output = False
    for t in info.tensors:
        size, cuda = t.n_bytes or 0, _cuda_bytes(t)
        if t.name.startswith(_INPUT_TENSORS):
            input_bytes += size
            if t.name == "token_embd.weight":
                token_embd = t
        elif t.name.startswith("blk."):
            index = t.name.split(".", 2)[1]
            il = int(index) if index.isdigit() else -1
            if 0 <= il < n_layer:
                layers[il] += size
                layers_cuda[il] += cuda
            else:
                output_bytes += size
                output_cuda += cuda
        else:
            has_output = has_output or t.name == "output.weight"
            output_bytes += size
            output_cuda += cuda
    vocab = info.vocab_size or (
        token_embd.shape[1] if token_embd and len(token_embd.shape) > 1 else 0
    )
    tied = _cuda_bytes(token_embd) if token_embd is not None and not has_output else 0
    swa, n_swa = _swa_layers(info, arch or "", n_layer)
    kv_start = _KV_FROM_START.get(arch or "", n_layer)
    return ModelShape(
        architecture=arch or "",
        n_layer=n_layer,
        n_embd=n_embd,
        n_ff=n_ff,
        n_head=n_head,
        n_head_kv=tuple(kv_list),
        key_length=key_length,
        value_length=value_length,
        vocab=vocab,
        context_length=info.context_length,
        swa_layers=swa,
        n_swa=n_swa,
        kv_layers=tuple(il < kv_start for il in range(n_layer)),
        input_bytes=input_bytes,
        layer_bytes=tuple(layers),
        layer_bytes_cuda=tuple(layers_cuda),
        output_bytes=output_bytes,
        output_bytes_cuda=output_cuda,
        tied_bytes_cuda=tied,
    )


_INPUT_FIELDS: Final = ("ctx", "kv_type", "num_gpu", "n_layer", "parallel", "kv_cells", "swa_cells")
_COMPONENTS: Final = (
    "host_weights",
    "gpu_weights",
    "host_kv",
    "gpu_kv",
    "host_compute",
    "gpu_compute",
    "host_output",
    "host_overhead",
    "gpu_overhead",
)


@dataclass(frozen=True, slots=True)
class Estimate:
    """Bytes per component and device for one configuration; totals are properties."""

    ctx: int
    """num_ctx per sequence, as asked."""
    kv_type: str
    num_gpu: int
    """Layers on the GPU, the output layer counting as one (0 .. n_layer + 1)."""
    n_layer: int
    parallel: int
    kv_cells: int
    """Cells of a full-attention layer's cache, all sequences."""
    swa_cells: int
    """Cells of a sliding-window layer's cache (0 without such layers)."""
    host_weights: int
    gpu_weights: int
    host_kv: int
    gpu_kv: int
    host_compute: int
    gpu_compute: int
    host_output: int
    """The logits buffer (host)."""
    host_overhead: int
    gpu_overhead: int

    @property
    def weights(self) -> int:
        return self.host_weights + self.gpu_weights

    @property
    def kv_cache(self) -> int:
        return self.host_kv + self.gpu_kv

    @property
    def gpu_total(self) -> int:
        return self.gpu_weights + self.gpu_kv + self.gpu_compute + self.gpu_overhead

    @property
    def host_total(self) -> int:
        return (
            self.host_weights + self.host_kv + self.host_compute + self.host_output
        ) + self.host_overhead

    @property
    def total(self) -> int:
        return self.gpu_total + self.host_total

    @property
    def buffers(self) -> int:
        """Everything llama.cpp allocates itself: the total without the runtime overheads."""
        return self.total - self.host_overhead - self.gpu_overhead

    def as_dict(self) -> dict[str, int | str | bool]:
        """Flat, JSON-ready: the inputs, every component and the totals, in bytes."""
        names = [*_INPUT_FIELDS, *_COMPONENTS, "weights", "kv_cache", "host_total", "gpu_total"]
        return {name: getattr(self, name) for name in [*names, "total"]}


def _kv_layer_bytes(shape: ModelShape, il: int, cells: int, cache: TensorType) -> int:
    heads = shape.n_head_kv[il]
    return cells * (
        _row_bytes(cache, heads * shape.key_length) + _row_bytes(cache, heads * shape.value_length)
    )


def estimate(
    info: GGUFInfo | ModelShape,
    *,
    ctx: int,
    kv_type: str = "f16",
    num_gpu: int | None = None,
    parallel: int = 1,
    ubatch: int = DEFAULT_UBATCH,
    flash_attention: bool = True,
    all_logits: bool = False,
) -> Estimate:
    """Memory of `info` loaded with context `ctx` per sequence.

    `num_gpu`: layers on the GPU as Ollama counts them (None: all, n_layer + 1; 0: a CPU-only
    run, no GPU buffers and no CUDA overhead). `parallel`: sequences (Ollama's
    OLLAMA_NUM_PARALLEL; its CPU scheduler defaults to 2). `all_logits`: reserve logits for
    every token of a ubatch, as llama.cpp did before it reserved one row per sequence (the
    runner in Ollama 0.9.3 does). ValueError on a bad argument.
    """
    shape = info if isinstance(info, ModelShape) else model_shape(info)
    if kv_type not in KV_TYPES:
        raise ValueError(f"kv_type must be one of {', '.join(KV_TYPES)}, not {kv_type!r}")
    if ctx < 1 or parallel < 1 or ubatch < 1:
        raise ValueError("ctx, parallel and ubatch must be positive")
    n_layer = shape.n_layer
    gpu_layers = n_layer + 1 if num_gpu is None else num_gpu
    if not 0 <= gpu_layers <= n_layer + 1:
        raise ValueError(f"num_gpu must be 0 to {n_layer + 1} for this model, not {num_gpu}")
    cache = KV_TYPES[kv_type]
    first_gpu = n_layer - min(gpu_layers, n_layer)
    output_on_gpu = gpu_layers > n_layer

    # weights
    host_weights = shape.input_bytes + sum(shape.layer_bytes[:first_gpu])
    gpu_weights = sum(shape.layer_bytes_cuda[first_gpu:])
    if output_on_gpu:
        gpu_weights += shape.output_bytes_cuda + shape.tied_bytes_cuda
    else:
        host_weights += shape.output_bytes

    # KV cache, on each layer's device
    kv_cells = _pad(ctx, CTX_PAD) * parallel
    swa_cells = 0
    if any(shape.swa_layers):
        swa_cells = _pad(min(_pad(ctx, CTX_PAD), shape.n_swa + ubatch), CTX_PAD) * parallel
    host_kv = gpu_kv = 0
    for il in range(n_layer):
        if not shape.kv_layers[il]:
            continue
        cells = swa_cells if shape.swa_layers[il] else kv_cells
        size = _kv_layer_bytes(shape, il, cells, cache)
        if il >= first_gpu:
            gpu_kv += size
        else:
            host_kv += size

    # compute buffers: the graph's peak, per device
    tokens = min(ubatch, kv_cells)
    full = any(k and not s for k, s in zip(shape.kv_layers, shape.swa_layers, strict=True))
    n_kv = (kv_cells if full else 0) + (swa_cells if any(shape.swa_layers) else 0)
    mask = tokens * n_kv * (2 if flash_attention else _F32)
    embd_act = tokens * _EMBD_ACTIVATIONS * shape.n_embd * _F32
    ffn = embd_act + tokens * _FFN_ACTIVATIONS * shape.n_ff * _F32
    if flash_attention:
        q_kv = shape.n_head * shape.key_length + max(shape.n_head_kv) * (
            shape.key_length + shape.value_length
        )
        attention = embd_act + tokens * q_kv * _F32
    else:
        attention = embd_act + tokens * shape.n_head * max(kv_cells, swa_cells) * _F32
    layer_peak = max(ffn, attention) + mask
    outputs = tokens if all_logits else parallel
    output_peak = tokens * shape.n_embd * _F32 + outputs * shape.vocab * _F32
    if gpu_layers == 0:
        gpu_compute = 0
        host_compute = max(embd_act, layer_peak, output_peak)
    else:
        gpu_compute = max(layer_peak, output_peak if output_on_gpu else 0)
        host_compute = embd_act + mask
        if first_gpu > 0 or not output_on_gpu:
            host_compute = max(
                host_compute,
                layer_peak if first_gpu > 0 else 0,
                output_peak if not output_on_gpu else 0,
            )

    return Estimate(
        ctx=ctx,
        kv_type=kv_type,
        num_gpu=gpu_layers,
        n_layer=n_layer,
        parallel=parallel,
        kv_cells=kv_cells,
        swa_cells=swa_cells,
        host_weights=host_weights,
        gpu_weights=gpu_weights,
        host_kv=host_kv,
        gpu_kv=gpu_kv,
        host_compute=host_compute,
        gpu_compute=gpu_compute,
        host_output=parallel * shape.vocab * _F32,
        host_overhead=HOST_RUNTIME_OVERHEAD,
        gpu_overhead=CUDA_RUNTIME_OVERHEAD if gpu_layers else 0,
    )


@dataclass(frozen=True, slots=True)
class Fit:
    """What fits a memory budget at one context."""

    ctx: int
    kv_type: str
    vram: int | None
    ram: int | None
    n_layer: int
    num_gpu: int | None
    """The most layers (output layer included) on the GPU at `ctx` within the budget; 0 for a
    CPU-only budget that fits; None when nothing fits."""
    num_ctx: int | None
    """The largest context (multiple of 256, at most the trained one) that fits with every
    layer on the GPU, or in RAM for a CPU-only budget; None when none does."""
    max_ctx: int
    """The ceiling `num_ctx` was searched up to (the trained context)."""
    estimate: Estimate
    """At `ctx` with `num_gpu` layers (all layers when nothing fits)."""
    reason: str | None
    """Why `ctx` does not fit fully (GPU) or at all; None when it does."""

    @property
    def fits(self) -> bool:
        """`ctx` loads within the budget, on the GPU in part or whole, or in RAM."""
        return self.num_gpu is not None

    @property
    def full_offload(self) -> bool:
        return self.num_gpu == self.n_layer + 1

    def as_dict(self) -> dict[str, object]:
        return {
            "ctx": self.ctx,
            "kv_type": self.kv_type,
            "vram": self.vram,
            "ram": self.ram,
            "fits": self.fits,
            "full_offload": self.full_offload,
            "num_gpu": self.num_gpu,
            "num_ctx": self.num_ctx,
            "max_ctx": self.max_ctx,
            "reason": self.reason,
        }


def fit(
    info: GGUFInfo | ModelShape,
    *,
    ctx: int,
    kv_type: str = "f16",
    vram: int | None,
    ram: int | None = None,
    parallel: int = 1,
    ubatch: int = DEFAULT_UBATCH,
    flash_attention: bool = True,
) -> Fit:
    """The largest `num_gpu` at `ctx` and the largest `num_ctx` that fit `vram` (and `ram`).

    `vram` None or 0 means a CPU-only machine: everything must fit `ram`. `ram` None means the
    host is not checked.
    """
    shape = info if isinstance(info, ModelShape) else model_shape(info)
    cpu_only = not vram
    all_layers = shape.n_layer + 1

    def run(c: int, g: int) -> Estimate:
        return estimate(
            shape,
            ctx=c,
            kv_type=kv_type,
            num_gpu=g,
            parallel=parallel,
            ubatch=ubatch,
            flash_attention=flash_attention,
        )

    def ok(e: Estimate) -> bool:
        return (cpu_only or e.gpu_total <= (vram or 0)) and (ram is None or e.host_total <= ram)

    candidates = [0] if cpu_only else range(all_layers, -1, -1)
    num_gpu = next((g for g in candidates if ok(run(ctx, g))), None)
    chosen = run(ctx, all_layers if num_gpu is None and not cpu_only else num_gpu or 0)

    max_ctx = shape.context_length or ctx
    best_g = 0 if cpu_only else all_layers
    low, high, num_ctx = 1, max(1, _pad(max_ctx, CTX_PAD) // CTX_PAD), None
    while low <= high:  # contexts are padded to 256, so search in steps of 256
        mid = (low + high) // 2
        if ok(run(min(mid * CTX_PAD, max_ctx), best_g)):
            num_ctx, low = min(mid * CTX_PAD, max_ctx), mid + 1
        else:
            high = mid - 1

    reason = _reason(chosen, num_gpu, all_layers, vram, ram, cpu_only=cpu_only)
    return Fit(ctx, kv_type, vram, ram, shape.n_layer, num_gpu, num_ctx, max_ctx, chosen, reason)


def _reason(
    e: Estimate,
    num_gpu: int | None,
    all_layers: int,
    vram: int | None,
    ram: int | None,
    *,
    cpu_only: bool,
) -> str | None:
    at = f"at num_ctx {e.ctx}"
    if cpu_only:
        if num_gpu is not None:
            return None
        return (
            f"{at} the model needs {format_size(e.host_total)} of RAM "
            f"(KV cache {format_size(e.kv_cache)}), more than the {format_size(ram or 0)} given"
        )
    if num_gpu == all_layers:
        return None
    if num_gpu is None:
        host = f" and {format_size(e.host_total)} of RAM" if ram is not None else ""
        return (
            f"{at} nothing fits: all layers need {format_size(e.gpu_total)} of VRAM{host} "
            f"(KV cache {format_size(e.kv_cache)}); the budget is {format_size(vram or 0)} VRAM"
            + (f", {format_size(ram)} RAM" if ram is not None else "")
        )
    return (
        f"{at} only {num_gpu} of {all_layers} layers fit in {format_size(vram or 0)} of VRAM; "
        "the rest run on the CPU"
    )


def ollama_reported_size(
    info: GGUFInfo | ModelShape,
    *,
    ctx: int,
    parallel: int = 2,
    ubatch: int = DEFAULT_UBATCH,
    kv_type: str = "f16",
) -> dict[str, int]:
    """What Ollama 0.9.3 reports as `/api/ps` `size` for a CPU load, term by term.

    From `llm/memory.go` (EstimateGPULayers) and `fs/ggml/ggml.go` (GraphSize): every repeating
    layer plus its KV, blk.0 and its KV once more ("one layer worth of memory as a buffer"), the
    output layer (`output` + `output_norm`, or `token_embd` when there is no `output`; an
    untied `token_embd` is not counted at all), and the llama graph estimate
    `max(4b(1 + 4e + n(1 + heads)), 4b(e + vocab))`. Its KV is `n x (k + v) x kv_heads x
    bytes` per layer with `n = ctx x parallel` unpadded, q8_0 as 1 byte and q4_0 as 0.5, and no
    sliding windows (except gemma3). Only llama-family architectures are modelled.
    """
    shape = info if isinstance(info, ModelShape) else model_shape(info)
    n = ctx * parallel
    batch = min(n, ubatch)
    per_byte = {"f16": 2.0, "q8_0": 1.0, "q4_0": 0.5}[kv_type]
    heads_kv = max(shape.n_head_kv)
    kv_layer = int(n * (shape.key_length + shape.value_length) * heads_kv * per_byte)
    e, heads = shape.n_embd, shape.n_head
    graph = max(4 * batch * (1 + 4 * e + n * (1 + heads)), 4 * batch * (e + shape.vocab))
    output = shape.output_bytes + (shape.input_bytes if shape.tied_bytes_cuda else 0)
    terms = {
        "layers": sum(shape.layer_bytes),
        "kv": kv_layer * shape.n_layer,
        "buffer_layer": shape.layer_bytes[0] + kv_layer,
        "output": output,
        "graph": graph,
    }
    terms["total"] = sum(terms.values())
    return terms


OLLAMA_GPU_RESERVE: Final = 457 * MIB
"""GPU memory Ollama adds to its estimate for each GPU it loads on (`cudaMinimumMemory` and
`rocmMinimumMemory` in discover/gpu.go at v0.5.4 and v0.9.3), in place of measuring the runtime."""

_SIZE_IS_ESTIMATE_BEFORE: Final = OllamaVersion(0, 13, 0)
"""Up to 0.12.x Ollama's `/api/ps` `size` is its own load-time estimate (`llm/memory.go`), which
counts one repeating layer and its KV twice "as a buffer"; 0.13.0 removed that estimate."""


@dataclass(frozen=True, slots=True)
class ReportedSize:
    """modelpack's estimate of what `/api/ps` reports for one load, and the estimate it is from."""

    size: int
    size_vram: int
    estimate: Estimate
    safety_layer: int
    """The layer (with its KV) Ollama counts twice; 0 where the version does not."""
    uncounted: int = 0
    """The input layer (`token_embd`) Ollama's estimate leaves out of a model that has its own
    output tensor; 0 where the version counts it."""


def reported_size(
    info: GGUFInfo | ModelShape,
    version: OllamaVersion,
    *,
    ctx: int,
    parallel: int,
    kv_type: str = "f16",
    num_gpu: int | None = None,
    ubatch: int = DEFAULT_UBATCH,
) -> ReportedSize:
    """The `/api/ps` `size` and `size_vram` modelpack expects for a load on `version`: its own
    estimate's buffers (weights, KV cache, compute, logits; no runtime overhead, which Ollama
    does not count), configured as that version's runner runs (flash attention off, Ollama's
    default; logits reserved for a whole ubatch, as the llama.cpp it vendors did), plus what
    Ollama's accounting adds (blk.0 and its KV once more, and on a GPU `OLLAMA_GPU_RESERVE`)
    and less what it leaves out (`token_embd` when the model has an `output` tensor). On the
    real 0.9.3 and 0.5.4 CPU runners this is within 0.2% of `size` (docs/memory.md).
    `ubatch`: llama.cpp's physical batch, `min(num_batch, 512)` for an Ollama runner."""
    shape = info if isinstance(info, ModelShape) else model_shape(info)
    legacy = version.release < _SIZE_IS_ESTIMATE_BEFORE
    est = estimate(
        shape,
        ctx=ctx,
        kv_type=kv_type,
        num_gpu=num_gpu,
        parallel=parallel,
        ubatch=ubatch,
        flash_attention=not legacy,
        all_logits=legacy,
    )
    safety = 0
    if legacy and shape.n_layer:
        safety = shape.layer_bytes[0] + _kv_layer_bytes(shape, 0, est.kv_cells, KV_TYPES[kv_type])
    uncounted = shape.input_bytes if legacy and not shape.tied_bytes_cuda else 0
    on_gpu = est.num_gpu > 0
    vram = est.gpu_total - est.gpu_overhead
    if on_gpu and legacy:
        vram += safety + OLLAMA_GPU_RESERVE
    size = est.buffers + safety - uncounted + (OLLAMA_GPU_RESERVE if on_gpu and legacy else 0)
    return ReportedSize(
        size=size,
        size_vram=vram if on_gpu else 0,
        estimate=est,
        safety_layer=safety,
        uncounted=uncounted,
    )


def swa_summary(shape: ModelShape) -> str | None:
    """ "17 of 26 layers slide over 512 tokens", or None without sliding windows."""
    count = sum(shape.swa_layers)
    if not count:
        return None
    return f"{count} of {shape.n_layer} layers slide over {shape.n_swa} tokens"
