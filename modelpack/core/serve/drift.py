"""Drift of a served model: what a `serve:` block declares against what the server reports.

`modelpack status PACKAGE --openai URL` reads a running llama-server or vLLM and compares it
with the package's serve block for that engine. The edge fetches (`edge/serve_probe.py`,
`edge/process.py`); everything here is pure and works on what was fetched:

- llama-server: `GET /props` (`default_generation_settings.n_ctx`, the context of one slot;
  `total_slots`; `model_path`; `model_alias`; `chat_template`, the template in use; `build_info`,
  `b11549-<commit>`, or `b0-unknown` for builds made without version information, such as
  xllamacpp's) and `GET /slots` (one entry per slot, when the server enables the endpoint).
  `n_ctx` is per slot: llama-server divides `--ctx-size` among `--parallel` slots, unless its
  KV cache is unified (`--kv-unified`, which b11549 turns on itself when `--parallel` is not
  given); then every slot sees the whole context. So the spec's side of that line is
  `ctx_size / parallel` when the block sets `parallel` without `--kv-unified`, else `ctx_size`.
- vLLM (shapes recorded from 0.10.1.1 and 0.34.0 in tests/data/vllm/): `GET /v1/models` (the
  served name as `id`, the model as `root`, `max_model_len`), `GET /version`, the
  `vllm:cache_config_info` gauge of `GET /metrics` (every CacheConfig field as a label:
  `gpu_memory_utilization`, `block_size`, `cache_dtype`, `enable_prefix_caching`, ...), and,
  where the server runs with VLLM_SERVER_DEV_MODE=1, `GET /server_info`, whose `vllm_config`
  text names `quantization=`, `dtype=` and `max_seq_len=`. Neither release has a model-config
  gauge in /metrics, so without /server_info a remote vLLM does not say its quantization.
- a server on this machine: its real command line (found through the listening port), parsed
  with the engine's option table, compared option by option with the argv the spec renders.
  `--host` and `--port` are not compared: the URL given picks the server.

Each difference names where the server's value was read, and reads like Ollama's drift lines:
"quantization is awq on the server, awq_marlin in the spec (command line)".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from modelpack.core.modelfile.drift import Difference
from modelpack.core.serve import llamacpp, vllm
from modelpack.core.serve.options import OptionTable, normalise
from modelpack.core.serve.spec import OWNED, LlamaServer, Vllm
from modelpack.core.serve.versions import LlamaCppBuild, VllmRelease

__all__ = [
    "NOT_COMPARED",
    "CommandLine",
    "ServeDifference",
    "ServerReport",
    "compare_command_line",
    "compare_llama",
    "compare_vllm",
    "declared_settings",
    "llama_report",
    "metric_labels",
    "option_groups",
    "parse_command_line",
    "server_info_settings",
    "vllm_report",
]

NOT_COMPARED = frozenset({"--host", "--port"})
"""The URL given picks the server, so where it listens is not drift."""

_BUILD_INFO = re.compile(r"b(\d+)(?:-|$)")
_INFO_KEYS = ("model", "dtype", "max_seq_len", "quantization", "served_model_name")
_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class ServeDifference:
    """One setting that differs, and where the server's value was read."""

    setting: str
    declared: object
    live: object
    source: str
    """"/props", "/v1/models", "/metrics cache_config_info", "command line", ..."""
    detail: str | None = None

    def message(self) -> str:
        text = Difference(self.setting, self.declared, self.live, self.detail).message()
        return f"{text} ({self.source})"

    def to_json(self) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "declared": self.declared,
            "live": self.live,
            "source": self.source,
            "message": self.message(),
        }


@dataclass(frozen=True)
class ServerReport:
    """What a server said about itself, by setting, with where each value came from."""

    engine: str
    version: str | None
    """The build or release the server reports (None: it does not say)."""
    values: dict[str, tuple[object, str]] = field(default_factory=dict)
    """setting -> (value, source)."""
    notes: list[str] = field(default_factory=list)
    """What could not be read, and why."""

    def value(self, setting: str) -> object:
        found = self.values.get(setting)
        return found[0] if found else None


# --- llama-server ---------------------------------------------------------------------------


def llama_report(props: Mapping[str, Any], slots: Sequence[Any] | None) -> ServerReport:
    """The facts of `/props` (and `/slots`, None when the server does not serve it)."""
    values: dict[str, tuple[object, str]] = {}
    notes: list[str] = []
    settings = props.get("default_generation_settings")
    if isinstance(settings, Mapping) and isinstance(settings.get("n_ctx"), int):
        values["n_ctx per slot"] = (settings["n_ctx"], "/props")
    total = props.get("total_slots")
    if isinstance(total, int):
        values["parallel"] = (total, "/props total_slots")
    elif slots is not None:
        values["parallel"] = (len(slots), "/slots")
    if isinstance(props.get("model_path"), str):
        values["model"] = (PurePosixPath(props["model_path"]).name, "/props model_path")
    if isinstance(props.get("model_alias"), str):
        values["alias"] = (props["model_alias"], "/props")
    if isinstance(props.get("chat_template"), str):
        values["chat_template"] = (props["chat_template"], "/props")
    build = None
    info = props.get("build_info")
    match = _BUILD_INFO.match(info) if isinstance(info, str) else None
    if match and int(match[1]) > 0:
        build = f"b{match[1]}"
        values["version"] = (build, "/props build_info")
    else:
        notes.append(
            f"the server does not report its build (build_info {info!r})"
            if info is not None
            else "the server does not report its build (/props has no build_info)"
        )
    if slots is not None:
        sizes = {s.get("n_ctx") for s in slots if isinstance(s, Mapping)}
        if len(sizes) > 1:
            notes.append(f"its slots have different contexts: {sorted(map(str, sizes))}")
    else:
        notes.append("/slots is not served (llama-server --no-slots)")
    return ServerReport("llama-server", build, values, notes)


def _per_slot(block: LlamaServer, trained: int | None) -> int | None:
    """The context one slot should report, from the block (see the module notes)."""
    if block.ctx_size is None:
        return None
    total = block.ctx_size or trained
    if total is None:
        return None
    unified = any(normalise(w) in ("--kv-unified", "-kvu") for w in block.extra_flags)
    if block.parallel is None or unified:
        return total
    return total // block.parallel


def compare_llama(
    block: LlamaServer,
    report: ServerReport,
    *,
    model_file: str,
    chat_template: str | None,
    trained_context: int | None = None,
) -> list[ServeDifference]:
    """The block against `/props`. `model_file` is the GGUF's file name, `chat_template` the
    template the block makes the server use (the GGUF's own for `auto`, else the file's)."""
    declared: dict[str, object] = {
        "version": block.version,
        "model": model_file,
        "alias": block.alias,
        "parallel": block.parallel,
        "n_ctx per slot": _per_slot(block, trained_context),
        "chat_template": chat_template,
    }
    found: list[ServeDifference] = []
    for setting, ours in declared.items():
        if ours is None or setting not in report.values:
            continue
        theirs, source = report.values[setting]
        if setting == "version":
            if LlamaCppBuild.parse(str(theirs)) != LlamaCppBuild.parse(str(ours)):
                found.append(ServeDifference("build", ours, theirs, source))
            continue
        if setting == "chat_template":
            if str(theirs).strip() != str(ours).strip():
                found.append(ServeDifference("template", ours, theirs, source))
            continue
        if setting == "n_ctx per slot":
            why = _ctx_why(block, trained_context)
            if theirs != ours:
                found.append(ServeDifference(setting, ours, theirs, f"{source}; {why}"))
            continue
        if not _same(ours, theirs):
            found.append(ServeDifference(setting, ours, theirs, source))
    return found


def _ctx_why(block: LlamaServer, trained: int | None) -> str:
    total = f"ctx_size {block.ctx_size}" + (
        f" = the model's {trained}" if block.ctx_size == 0 else ""
    )
    if block.parallel is None:
        return f"the spec's {total}, unified across slots"
    return f"the spec's {total} over parallel {block.parallel}"


# --- vLLM -----------------------------------------------------------------------------------


def metric_labels(text: str, name: str) -> list[dict[str, str]]:
    """The label sets of every sample of metric `name` in Prometheus text format."""
    found = []
    for line in text.splitlines():
        match = _METRIC_LINE.match(line.strip())
        if match is None or match[1] != name:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(match[2] or "")}
        found.append(labels)
    return found


def _unescape(value: str) -> str:
    return value.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def server_info_settings(text: str) -> dict[str, str]:
    """`quantization`, `dtype`, `max_seq_len`, ... from /server_info's `vllm_config` text
    (VllmConfig.__str__: `key=value, ...`, strings repr'd)."""
    found: dict[str, str] = {}
    for key in _INFO_KEYS:
        match = re.search(rf"(?:^|, ){key}=('(?:[^'\\]|\\.)*'|[^,]*)", text)
        if match:
            value = match[1].strip()
            found[key] = value[1:-1] if value[:1] == "'" and value[-1:] == "'" else value
    return found


_CACHE_LABELS = {
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "block_size": "--block-size",
    "cache_dtype": "--kv-cache-dtype",
    "enable_prefix_caching": "--enable-prefix-caching",
    "swap_space": "--swap-space",
    "cpu_offload_gb": "--cpu-offload-gb",
}
"""`vllm:cache_config_info` labels and the option that sets each (vllm/config/cache.py:
CacheConfig; the labels are its fields, str()'d)."""


def vllm_report(
    models: Mapping[str, Any] | None,
    version: Mapping[str, Any] | None,
    metrics: str | None,
    server_info: Mapping[str, Any] | None,
) -> ServerReport:
    """The facts of /v1/models, /version, /metrics and /server_info (None: not served)."""
    values: dict[str, tuple[object, str]] = {}
    notes: list[str] = []
    release = None
    if version is not None and isinstance(version.get("version"), str):
        release = version["version"]
        values["version"] = (release, "/version")
    cards = models.get("data") if models is not None else None
    base = [c for c in cards or [] if isinstance(c, Mapping) and not c.get("parent")]
    if base:
        card = base[0]
        if isinstance(card.get("id"), str):
            values["served_model_name"] = (card["id"], "/v1/models id")
        if isinstance(card.get("root"), str):
            values["model"] = (card["root"], "/v1/models root")
        if isinstance(card.get("max_model_len"), int):
            values["max_model_len"] = (card["max_model_len"], "/v1/models")
    if metrics is not None:
        infos = metric_labels(metrics, "vllm:cache_config_info")
        if infos:
            for label, flag in _CACHE_LABELS.items():
                if label in infos[0]:
                    values[flag] = (infos[0][label], "/metrics cache_config_info")
        else:
            notes.append("/metrics has no vllm:cache_config_info")
    else:
        notes.append("/metrics is not served")
    if server_info is not None and isinstance(server_info.get("vllm_config"), str):
        settings = server_info_settings(server_info["vllm_config"])
        for key, flag in (
            ("quantization", "--quantization"),
            ("dtype", "--dtype"),
            ("max_seq_len", "max_model_len"),
        ):
            if key in settings and flag not in values:
                values[flag] = (settings[key], "/server_info")
    else:
        notes.append(
            "vLLM reports its quantization and dtype only on /server_info "
            "(VLLM_SERVER_DEV_MODE=1); not served here"
        )
    return ServerReport("vllm", release, values, notes)


def _same_release(ours: str, theirs: str) -> bool:
    """0.10.1.1 and 0.10.1.1.post1 are one release; a version vLLM reports that is not a plain
    release (0.10.2.dev12+gabc, 0.10.1.1+cu126) is compared by its release part, else as text."""
    try:
        return VllmRelease.parse(ours) == VllmRelease.parse(theirs.partition("+")[0])
    except ValueError:
        base = re.match(r"v?\d+(?:\.\d+)*", theirs)
        return base is not None and base[0] == ours and ".dev" not in theirs


_DTYPES = {"half": "float16", "float": "float32"}
"""--dtype spellings vLLM takes for the torch dtype /server_info names (`torch.float16`)."""


def compare_vllm(block: Vllm, report: ServerReport) -> list[ServeDifference]:
    """The block against what vLLM reports. Only what the block sets is compared: an unset
    option is the server's default, whatever that is."""
    words = {group[0]: group[1:] for group in option_groups(block.extra_flags, vllm.TABLE, None)}
    local = block.model.startswith("./")  # the server was given the script's relative path
    declared: dict[str, object] = {
        "version": block.version,
        "model": None if local else block.model,
        "served_model_name": block.served_model_name or (None if local else block.model),
        "max_model_len": block.max_model_len,
        "--gpu-memory-utilization": block.gpu_memory_utilization,
        "--quantization": block.quantization,
        "--dtype": block.dtype,
    }
    for flag in _CACHE_LABELS.values():
        if flag in words and flag not in declared:
            declared[flag] = " ".join(words[flag]) or True
        negative = f"--no-{flag[2:]}"
        if negative in words:
            declared[flag] = False
    found: list[ServeDifference] = []
    for setting, ours in declared.items():
        if ours is None or setting not in report.values:
            continue
        theirs, source = report.values[setting]
        if setting == "version":
            if not _same_release(str(ours), str(theirs)):
                found.append(ServeDifference("version", ours, theirs, source))
            continue
        if setting == "--dtype":
            if ours == "auto":
                continue  # the server resolves auto to the model's own dtype
            ours, theirs = _DTYPES.get(str(ours), ours), str(theirs).removeprefix("torch.")
        if not _same(ours, theirs):
            name = OWNED["vllm"].get(setting, setting)
            found.append(ServeDifference(name, ours, theirs, source))
    return found


# --- command lines --------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandLine:
    """A server process's argv as options: canonical spelling -> each occurrence's value."""

    options: dict[str, list[str]]
    model: str | None = None
    """`vllm serve MODEL`'s positional model."""


def _canonical(table: OptionTable[Any], spelling: str) -> str:
    group = [spelling, *table.aliases(spelling)]
    positive = [s for s in group if not re.match(r"^--?no-", s)] or group
    return sorted(positive, key=lambda s: (not s.startswith("--"), len(s), s))[0]


def option_groups(words: Sequence[str], table: OptionTable[Any], version: Any) -> list[list[str]]:
    """Argv words as groups, each an option (canonical spelling; `--no-x` kept as written)
    and its values; the table says how many values an option takes where it records it,
    else the words up to the next option are its values."""
    groups: list[list[str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        spelling, equals, inline = word.partition("=")
        spelling = normalise(spelling)
        if not spelling.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", spelling):
            if groups:
                groups[-1].append(word)
            index += 1
            continue
        negated = re.match(r"^--?no-", spelling) is not None
        name = spelling if negated else _canonical(table, spelling)
        group = [name, *([inline] if equals else [])]
        index += 1
        found = table.availability(spelling, version) if version is not None else None
        wanted = found.values if found is not None else None
        if equals:
            pass
        elif wanted is not None:
            group += words[index : index + wanted]
            index += wanted
        else:
            while index < len(words) and (
                not words[index].startswith("-") or re.fullmatch(r"-\d+(\.\d+)?", words[index])
            ):
                group.append(words[index])
                index += 1
        groups.append(group)
    return groups


def parse_command_line(argv: Sequence[str], engine: str, version: Any) -> CommandLine:
    """A process's argv (as /proc/PID/cmdline has it) as options. The program part is skipped:
    `llama-server`, `vllm serve MODEL`, `python3 -m MODULE`, `python3 SCRIPT` (with the
    interpreter's own options)."""
    words = list(argv[1:])
    if PurePosixPath(argv[0]).name.startswith("python") if argv else False:
        index = 0
        while index < len(words) and words[index].startswith("-") and words[index] != "-m":
            index += 1
        index += 2 if index < len(words) and words[index] == "-m" else 1
        words = words[index:]
    model = None
    if words and words[0] == "serve":
        words = words[1:]
        if words and not words[0].startswith("-"):
            model, words = words[0], words[1:]
    table = llamacpp.TABLE if engine == "llama-server" else vllm.TABLE
    options: dict[str, list[str]] = {}
    for group in option_groups(words, table, version):
        options.setdefault(group[0], []).append(" ".join(group[1:]))
    return CommandLine(options, model)


def _flag_value(name: str, values: list[str]) -> str:
    shown = [v if v else ("off" if re.match(r"^--?no-", name) else "on") for v in values]
    return ", ".join(shown)


def compare_command_line(
    engine: str,
    declared_argv: Sequence[str],
    live: CommandLine,
    *,
    version: Any,
    declared_dir: str,
    live_dir: str | None,
    files: Sequence[str] = (),
) -> list[ServeDifference]:
    """The spec's rendered argv against a running server's, option by option.

    Paths the spec renders (`files`, relative to `declared_dir`, the script's folder) are
    compared as files: the live value is resolved against the process's working folder
    (`live_dir`, None when unknown: then by file name)."""
    declared = parse_command_line(declared_argv, engine, version)
    owned = OWNED[engine]
    ours = _merge_negations(declared.options)
    theirs = _merge_negations(live.options)
    if declared.model is not None or live.model is not None:
        ours.setdefault("--model", [declared.model or ""])
        theirs.setdefault("--model", [live.model or ""])
    found: list[ServeDifference] = []
    for name in sorted(ours.keys() | theirs.keys()):
        if name in NOT_COMPARED:
            continue
        a, b = ours.get(name), theirs.get(name)
        if (
            a is not None
            and b is not None
            and _same_values(a, b, files=files, declared_dir=declared_dir, live_dir=live_dir)
        ):
            continue
        setting = owned.get(name) or name
        found.append(
            ServeDifference(
                setting,
                _flag_value(name, a) if a is not None else None,
                _flag_value(name, b) if b is not None else None,
                "command line" if setting == name else f"command line {name}",
            )
        )
    return found


def _merge_negations(options: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """`--no-x` is option `--x` with the value off, so `--x` on one side and `--no-x` on the
    other is one difference."""
    merged: dict[str, list[str]] = {}
    for name, values in options.items():
        match = re.match(r"^(--?)no-(.*)$", name)
        if match:
            merged.setdefault(f"{match[1]}{match[2]}", []).extend("off" for _ in values)
        else:
            merged.setdefault(name, []).extend(v or "on" for v in values)
    return merged


def _same_values(
    a: list[str],
    b: list[str],
    *,
    files: Sequence[str],
    declared_dir: str,
    live_dir: str | None,
) -> bool:
    if len(a) != len(b):
        return False
    for ours, theirs in zip(a, b, strict=True):
        if ours == theirs:
            continue
        if ours in files:
            here = os.path.realpath(os.path.join(declared_dir, ours))
            if live_dir is None:
                if PurePosixPath(theirs).name != PurePosixPath(here).name:
                    return False
            elif os.path.realpath(os.path.join(live_dir, theirs)) != here:
                return False
            continue
        if not _same(ours, theirs):
            return False
    return True


def _same(ours: object, theirs: object) -> bool:
    """Equal as numbers, as booleans, or as text (`0.9` and "0.9", True and "True")."""
    if ours == theirs:
        return True
    a, b = str(ours).strip(), str(theirs).strip()
    if a.lower() in ("true", "false", "on", "off") and b.lower() in ("true", "false", "on", "off"):
        return (a.lower() in ("true", "on")) == (b.lower() in ("true", "on"))
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def declared_settings(block: LlamaServer | Vllm) -> dict[str, str]:
    """The block's settings as text, for reports (unset ones left out)."""
    skip = {"engine", "host", "port", "extra_flags", "control_vectors", "chat_template"}
    out = {
        name: _text(value)
        for name, value in block.model_dump().items()
        if name not in skip and value not in (None, [], {})
    }
    if block.extra_flags:
        out["extra_flags"] = " ".join(block.extra_flags)
    return out


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
