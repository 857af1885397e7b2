"""A package's `serve:` block: how to run its model on an OpenAI-compatible engine.

    packages:
      main-gpu:
        ...
        serve:
          engine: llama-server          # or vllm; a list of blocks serves on both
          version: b11549               # the engine version the flags are checked against
          model: gguf/SmolLM2.gguf      # default: the package's `from`
          ctx_size: 4096                # llama-server's --ctx-size (vLLM: max_model_len)
          n_gpu_layers: all             # a number, or auto/all (from b8929)
          parallel: 2
          chat_template: auto           # the GGUF's own Jinja template (--jinja)
          thinking: false               # the reasoning default
          control_vectors:
            - {file: cvec/calm.gguf, scale: 15.0, layers: [10, 20]}
          extra_flags: [--flash-attn, "on"]

Each engine has its own model, chosen by `engine`, with the settings under the names that
engine uses: `ctx_size` (llama-server) and `max_model_len` (vLLM) stay two fields because they
mean different things (llama-server splits its context among its parallel slots; vLLM's is
per sequence) and because drift checks compare them with what each server reports under that
name. What depends on the pinned version (options that exist, quantization methods, the
values a flag takes) is checked by `check_serve` right after the spec loads, with each
problem at its field's line.

Control vectors are declared only here, under a llama-server block: Ollama cannot apply them
and vLLM has no such option, so no other place in the spec takes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    field_validator,
)

from modelpack.core.serve import llamacpp, vllm
from modelpack.core.serve.options import Presence, check_words
from modelpack.core.serve.versions import LlamaCppBuild

__all__ = [
    "OWNED",
    "ChatTemplateFile",
    "ControlVector",
    "LlamaServer",
    "Refused",
    "ServeBlock",
    "ServeProblem",
    "Vllm",
    "check_serve",
    "serve_blocks",
]


class Refused(ValueError):
    """A field's value refused with a fix, which the spec error shows as its hint."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_path(value: str) -> str:
    """A file the server reads, relative to the spec and inside its folder (the script that
    launches the server runs from modelfiles/<package>/, so paths must be the project's)."""
    fix = "copy or link the file into the project folder and give its path from there"
    if not value.strip():
        raise Refused("an empty path names no file", "give a path relative to the spec")
    if value.startswith(("/", "\\", "~")) or PureWindowsPath(value).drive:
        raise Refused(f"{value!r} is not relative to the spec", fix)
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        raise Refused(f"{value!r} reaches outside the project folder", fix)
    return value


ProjectPath = Annotated[StrictStr, AfterValidator(_relative_path)]
Port = Annotated[StrictInt, Field(ge=1, le=65535)]
Positive = Annotated[StrictInt, Field(ge=1)]


class ChatTemplateFile(_Strict):
    file: ProjectPath
    """A Jinja chat template, relative to the spec."""


ServeChatTemplate = Literal["auto"] | ChatTemplateFile
"""`auto`: the model's own template (a GGUF's tokenizer.chat_template, a vLLM model's
tokenizer config); `{file: x.jinja}`: a Jinja template the server is given."""


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise Refused("the scale must be a finite number", "e.g. scale: 15.0")
    return float(value)


class ControlVector(_Strict):
    """A llama.cpp control vector (a `controlvector` GGUF of `direction.N` tensors)."""

    file: ProjectPath
    scale: Annotated[StrictFloat | StrictInt, AfterValidator(_finite)] = 1.0
    """How strongly it steers: llama-server multiplies every direction by it."""
    layers: tuple[Positive, Positive] | None = None
    """[from, to], inclusive: the layers it is applied to (llama-server's
    --control-vector-layer-range); default: every layer it has a direction for."""

    @field_validator("layers")
    @classmethod
    def _ordered(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and value[0] > value[1]:
            raise Refused(
                f"the range [{value[0]}, {value[1]}] is empty", "write [from, to] with from <= to"
            )
        return value


class LlamaServer(_Strict):
    """llama.cpp's `llama-server`, serving one GGUF."""

    engine: Literal["llama-server"]
    version: StrictStr
    """The llama.cpp build, such as b11549 (llama.cpp names releases by build number)."""
    model: ProjectPath | None = None
    """The GGUF, relative to the spec; default: the package's `from` when that is a file."""
    alias: StrictStr | None = None
    """The model name clients send (--alias); default: llama-server's own (the file name)."""
    ctx_size: Annotated[StrictInt, Field(ge=0)] | None = None
    """--ctx-size: the KV cache in tokens, shared by the parallel slots; 0 takes the model's
    trained context."""
    n_gpu_layers: Annotated[StrictInt, Field(ge=-1)] | Literal["auto", "all"] | None = None
    """--n-gpu-layers: layers kept in VRAM; auto and all are accepted from b8929."""
    parallel: Positive | None = None
    """--parallel: server slots (requests decoded at once)."""
    batch_size: Positive | None = None
    """--batch-size: the logical batch for prompt processing."""
    ubatch_size: Positive | None = None
    """--ubatch-size: the physical batch."""
    threads: Positive | None = None
    """--threads: CPU threads for generation."""
    chat_template: ServeChatTemplate = "auto"
    thinking: StrictBool | None = None
    """The reasoning default: false turns thinking off (--reasoning off from b8929, else
    --reasoning-budget 0), true turns it on; unset leaves the server's default."""
    host: StrictStr = "127.0.0.1"
    port: Port = 8080
    control_vectors: list[ControlVector] = Field(default_factory=list)
    extra_flags: list[StrictStr] = Field(default_factory=list)
    """Further options, one argv word per item (`[--flash-attn, "on"]`), checked against the
    pinned build's options."""

    @field_validator("version")
    @classmethod
    def _known_build(cls, value: str) -> str:
        try:
            llamacpp.parse_build(value)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return value

    @field_validator("control_vectors")
    @classmethod
    def _one_range(cls, value: list[ControlVector]) -> list[ControlVector]:
        ranges = {v.layers for v in value if v.layers is not None}
        if len(ranges) > 1:
            shown = " and ".join(f"[{a}, {b}]" for a, b in sorted(ranges))
            raise Refused(
                f"the control vectors ask for layer ranges {shown}, but llama-server applies "
                "one range (--control-vector-layer-range) to all of them",
                "give every vector the same layers, or leave layers out on all but one",
            )
        return value


class Vllm(_Strict):
    """vLLM's OpenAI-compatible server (`vllm serve`)."""

    engine: Literal["vllm"]
    version: StrictStr
    """The vLLM release, such as 0.10.1.1."""
    model: StrictStr
    """A Hugging Face model id, or a local folder (./ or ../-free path relative to the spec,
    starting with ./)."""
    served_model_name: StrictStr | None = None
    quantization: StrictStr | None = None
    """--quantization: one of the pinned release's methods (awq, awq_marlin, gptq, ...)."""
    dtype: Literal["auto", "half", "float16", "bfloat16", "float", "float32"] | None = None
    max_model_len: Positive | None = None
    """--max-model-len: the context of each sequence."""
    gpu_memory_utilization: Annotated[StrictFloat, Field(gt=0, le=1)] | None = None
    max_num_seqs: Positive | None = None
    """--max-num-seqs: sequences decoded at once."""
    max_num_batched_tokens: Positive | None = None
    chat_template: ServeChatTemplate = "auto"
    thinking: StrictBool | None = None
    """The reasoning default, sent to the chat template as enable_thinking through
    --default-chat-template-kwargs (vLLM 0.34.0; not in 0.10.1.1)."""
    reasoning_parser: StrictStr | None = None
    """--reasoning-parser (from vLLM 0.8.5): splits the reasoning out of the answer."""
    host: StrictStr = "127.0.0.1"
    port: Port = 8000
    extra_flags: list[StrictStr] = Field(default_factory=list)
    control_vectors: Any = None
    """Never valid: present so that declaring one says why."""

    @field_validator("version")
    @classmethod
    def _known_release(cls, value: str) -> str:
        try:
            vllm.parse_release(value)
        except ValueError as exc:
            raise Refused(str(exc)) from None
        return value

    @field_validator("model")
    @classmethod
    def _local_model(cls, value: str) -> str:
        if value.startswith(("./", "/", "../", "~")):
            _relative_path(value)
        return value

    @field_validator("control_vectors")
    @classmethod
    def _no_control_vectors(cls, value: object) -> None:
        if value is not None:
            raise Refused(
                "vLLM cannot apply control vectors (they are llama.cpp's)",
                "declare them in a serve block with engine: llama-server",
            )
        return None


def _engine_of(value: object) -> str | None:
    if isinstance(value, dict):
        engine = value.get("engine")
        return engine if isinstance(engine, str) else None
    return getattr(value, "engine", None)


ServeBlock = Annotated[
    Annotated[LlamaServer, Tag("llama-server")] | Annotated[Vllm, Tag("vllm")],
    Discriminator(
        _engine_of,
        custom_error_type="unknown_engine",
        custom_error_message="engine must be llama-server or vllm",
    ),
]


_OTHER_NAMES = {
    ("vllm", "ctx_size"): "vLLM's context is max_model_len (per sequence)",
    ("vllm", "parallel"): "vLLM's is max_num_seqs",
    ("vllm", "n_gpu_layers"): "vLLM keeps every layer on the GPU; gpu_memory_utilization sizes "
    "its memory",
    ("vllm", "alias"): "vLLM's is served_model_name",
    ("llama-server", "max_model_len"): "llama-server's context is ctx_size (shared by the slots)",
    ("llama-server", "max_num_seqs"): "llama-server's is parallel",
    ("llama-server", "served_model_name"): "llama-server's is alias",
    ("llama-server", "quantization"): "llama-server serves the GGUF's own quantization: point "
    "model at the GGUF you want",
}


def unknown_key_hint(block: object, key: str) -> tuple[list[str], str | None] | None:
    """For an unknown key in a serve block: that engine's fields, and the name the engine uses
    for what the key means elsewhere; None when the block names no known engine."""
    engine = _engine_of(block)
    models: dict[str, type[BaseModel]] = {"llama-server": LlamaServer, "vllm": Vllm}
    model = models.get(engine or "")
    if model is None:
        return None
    fields = [f for f in model.model_fields if f != "control_vectors" or model is LlamaServer]
    return fields, _OTHER_NAMES.get((engine or "", key))


def serve_blocks(value: object) -> object:
    """`serve:` takes one block, or a list of blocks for several engines."""
    return [value] if isinstance(value, dict) else value


def unique_engines(value: Sequence[LlamaServer | Vllm]) -> Sequence[LlamaServer | Vllm]:
    seen: set[str] = set()
    for block in value:
        if block.engine in seen:
            raise Refused(
                f"engine {block.engine} is declared twice",
                "one block per engine: merge them",
            )
        seen.add(block.engine)
    return value


# --- what depends on the pinned version ---------------------------------------------------------


@dataclass(frozen=True)
class ServeProblem:
    path: tuple[str | int, ...]
    """Where in the block: ("extra_flags", 2), ("quantization",), ..."""
    message: str
    hint: str | None = None


_LLAMA_OWNED = {
    "--model": "model",
    "--alias": "alias",
    "--host": "host",
    "--port": "port",
    "--ctx-size": "ctx_size",
    "--n-gpu-layers": "n_gpu_layers",
    "--parallel": "parallel",
    "--batch-size": "batch_size",
    "--ubatch-size": "ubatch_size",
    "--threads": "threads",
    "--jinja": "chat_template",
    "--no-jinja": "chat_template",
    "--chat-template": "chat_template",
    "--chat-template-file": "chat_template",
    "--reasoning": "thinking",
    "--reasoning-budget": "thinking",
    "--control-vector": "control_vectors",
    "--control-vector-scaled": "control_vectors",
    "--control-vector-layer-range": "control_vectors",
}
"""Options a llama-server field renders; extra_flags may not set them a second way."""

_VLLM_OWNED = {
    "--model": "model",
    "--served-model-name": "served_model_name",
    "--quantization": "quantization",
    "--dtype": "dtype",
    "--max-model-len": "max_model_len",
    "--gpu-memory-utilization": "gpu_memory_utilization",
    "--max-num-seqs": "max_num_seqs",
    "--max-num-batched-tokens": "max_num_batched_tokens",
    "--chat-template": "chat_template",
    "--default-chat-template-kwargs": "thinking",
    "--reasoning-parser": "reasoning_parser",
    "--host": "host",
    "--port": "port",
}

OWNED: dict[str, dict[str, str]] = {"llama-server": _LLAMA_OWNED, "vllm": _VLLM_OWNED}
"""Per engine: each option a field renders -> that field (drift names settings by field)."""

NGL_WORDS: tuple[str, str] = ("b7551", "b8929")
"""-ngl auto/all: refused by b7551's parser, accepted by b8929's (asked of each, as the table
was)."""


def check_serve(block: LlamaServer | Vllm) -> list[ServeProblem]:
    """Problems with `block` at its pinned version, each with its field path in the block."""
    if isinstance(block, LlamaServer):
        return _check_llama(block)
    return _check_vllm(block)


def _extra(
    table: Any, words: list[str], version: Any, owned: dict[str, str], **kwargs: Any
) -> list[ServeProblem]:
    return [
        ServeProblem(("extra_flags", p.index), p.message, p.hint)
        for p in check_words(table, words, version, owned=owned, **kwargs)
    ]


def _check_llama(block: LlamaServer) -> list[ServeProblem]:
    build = llamacpp.parse_build(block.version)
    problems = _extra(
        llamacpp.TABLE,
        block.extra_flags,
        build,
        _LLAMA_OWNED,
        equals_form=False,
        normalise=llamacpp.normalise,
    )
    for index, problem in enumerate(problems):
        spelling = llamacpp.normalise(block.extra_flags[problem.path[1]].partition("=")[0])  # type: ignore[index]
        if spelling in llamacpp.REPLACED and "does not exist" in problem.message:
            problems[index] = ServeProblem(
                problem.path, problem.message, llamacpp.REPLACED[spelling]
            )
    if isinstance(block.n_gpu_layers, str):
        before, since = (LlamaCppBuild.parse(b) for b in NGL_WORDS)
        if build <= before:
            problems.append(
                ServeProblem(
                    ("n_gpu_layers",),
                    f"llama-server {build} takes a number of layers, not {block.n_gpu_layers!r} "
                    f"(auto and all are accepted from {since})",
                    f"write a number (-1 for the server's default, 999 for all), or pin {since}",
                )
            )
        elif build < since:
            problems.append(
                ServeProblem(
                    ("n_gpu_layers",),
                    f"modelpack cannot tell whether llama-server {build} takes "
                    f"{block.n_gpu_layers!r}: {before} does not and {since} does",
                    f"write a number, or pin {since} or later",
                )
            )
    return problems


def _check_vllm(block: Vllm) -> list[ServeProblem]:
    release = vllm.parse_release(block.version)
    problems = _extra(
        vllm.TABLE,
        block.extra_flags,
        release,
        _VLLM_OWNED,
        equals_form=True,
        normalise=vllm.normalise,
    )
    if block.quantization is not None:
        refused = vllm.quantization_problem(block.quantization, release)
        if refused is not None:
            problems.append(ServeProblem(("quantization",), *refused))
    needs = {
        "thinking": "--default-chat-template-kwargs",
        "reasoning_parser": "--reasoning-parser",
    }
    for field, flag in needs.items():
        if getattr(block, field) is None:
            continue
        found = vllm.TABLE.availability(flag, release)
        if found.presence is Presence.YES:
            continue
        if found.presence is Presence.UNKNOWN:
            why = f"modelpack cannot tell whether vLLM {release} has {flag}"
        else:
            why = f"vLLM {release} has no {flag}"
        since = (
            f" (added after {found.added_after}, in {found.first_with})"
            if found.first_with is not None
            else ""
        )
        hint = f"pin {found.first_with} or later" if found.first_with is not None else None
        if field == "thinking":
            hint = f"{hint + ', or ' if hint else ''}leave thinking unset and send "
            hint += "chat_template_kwargs with each request"
        problems.append(
            ServeProblem((field,), f"{field} is rendered as {flag}, but {why}{since}", hint)
        )
    return problems
