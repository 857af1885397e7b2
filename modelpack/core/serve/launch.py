"""A serve block's launch command: the argv, computed from the typed block, and its script.

`ServeRenderer.render_package` checks what the block names on disk (the GGUF is a model, its
chat template renders, each control vector fits the model's width and layers) and returns one
`Launch` per block: the argv as option groups (each option with its values), and the POSIX sh
script `modelpack render` writes to `modelfiles/<package>/serve-<engine>.sh`:

    #!/bin/sh
    # ... rendered by modelpack ... Do not edit; change the spec and run `modelpack render`.
    cd "$(dirname "$0")" || exit 1
    exec llama-server \\
      --model ../../gguf/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --host 127.0.0.1 \\
      ...

One argv, each word quoted with `shlex.quote`, one option per line so that a changed or
forgotten flag is a one-line diff. Paths are relative to the script's folder (it changes to
it first), as a Modelfile's FROM is, so the script works from any checkout. The output
depends only on the spec and the files it names: no clock, no environment, no absolute paths
inside the project. `serve` and `status` reuse `Launch.argv` rather than reading the script.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from modelpack.core.chat import PROBE, render_jinja
from modelpack.core.gguf.control_vector import control_vector_problems, is_control_vector
from modelpack.core.gguf.facts import bos_eos
from modelpack.core.gguf.preflight import model_problems
from modelpack.core.gguf.reader import GGUFError, GGUFInfo, read_gguf
from modelpack.core.inputs import TEMPLATE_LIMIT, read_text
from modelpack.core.modelfile.request import local_file
from modelpack.core.package.spec import LoadedSpec, Package
from modelpack.core.serve import llamacpp, vllm
from modelpack.core.serve.options import Presence
from modelpack.core.serve.spec import ChatTemplateFile, LlamaServer, Vllm
from modelpack.core.serve.versions import LlamaCppBuild, VllmRelease
from modelpack.errors import InputError

__all__ = ["Launch", "ServeRenderer", "script_text"]

_VLLM_CLI_SINCE = VllmRelease.parse("0.5.2")
"""The first sampled release whose wheel has the `vllm` console script (0.5.0's has none)."""


@dataclass(frozen=True)
class Launch:
    package: str
    engine: str
    version: str
    program: list[str]
    """The command before the options: ["llama-server"], ["vllm", "serve", MODEL]."""
    options: list[list[str]]
    """Each option with its values, in the order rendered."""
    path: Path
    """modelfiles/<package>/serve-<engine>.sh; the relative paths in the argv start there."""
    text: str
    files: dict[str, Path] = field(default_factory=dict)
    """Each file the argv names, as written -> the file."""

    @property
    def argv(self) -> list[str]:
        return [*self.program, *(word for group in self.options for word in group)]


def script_text(launch_program: list[str], options: list[list[str]], header: str) -> str:
    lines = [
        "#!/bin/sh",
        *(f"# {line}" for line in header.splitlines()),
        'cd "$(dirname "$0")" || exit 1',
        f"exec {shlex.join(launch_program)}" + (" \\" if options else ""),
    ]
    for index, group in enumerate(options):
        last = index == len(options) - 1
        lines.append(f"  {shlex.join(group)}" + ("" if last else " \\"))
    return "\n".join(lines) + "\n"


class ServeRenderer:
    """Renders the serve blocks of one spec (read-only: it reads the files blocks name)."""

    def __init__(self, loaded: LoadedSpec, *, spec_dir: Path) -> None:
        self.loaded = loaded
        self.spec_dir = spec_dir
        self._infos: dict[Path, GGUFInfo] = {}

    def output_path(self, package: str, engine: str) -> Path:
        return self.spec_dir / "modelfiles" / package / f"serve-{engine}.sh"

    def render_package(self, name: str) -> list[Launch]:
        package = self.loaded.package(name)
        raw = self.loaded.located.data["packages"][name].get("serve")
        out = []
        for index, block in enumerate(package.serve):
            at: tuple[str | int, ...] = ("packages", name, "serve")
            if isinstance(raw, list):
                at = (*at, index)
            if isinstance(block, LlamaServer):
                out.append(self._llama(name, package, block, at))
            else:
                out.append(self._vllm(name, block, at))
        return out

    # -- llama-server --------------------------------------------------------------------------

    def _llama(
        self, name: str, package: Package, block: LlamaServer, at: tuple[str | int, ...]
    ) -> Launch:
        path = self.output_path(name, block.engine)
        build = llamacpp.parse_build(block.version)
        files: dict[str, Path] = {}
        model_at = (*at, "model") if block.model is not None else ("packages", name, "from")
        gguf = self._file(block.model or package.from_, model_at, "GGUF")
        info = self._read(gguf, model_at)
        for problem, fix in model_problems(info):
            raise self.loaded.error(model_at, f"{gguf.name} {problem}", fix)
        model = self._written(block.model or package.from_, path)
        files[model] = gguf
        options = [["--model", model]]
        if block.alias is not None:
            options.append(["--alias", block.alias])
        options += [["--host", block.host], ["--port", str(block.port)]]
        for flag, value in (
            ("--ctx-size", block.ctx_size),
            ("--n-gpu-layers", block.n_gpu_layers),
            ("--parallel", block.parallel),
            ("--batch-size", block.batch_size),
            ("--ubatch-size", block.ubatch_size),
            ("--threads", block.threads),
        ):
            if value is not None:
                options.append([flag, str(value)])
        options += self._llama_chat(block, info, path, files, at)
        if block.thinking is not None:
            options.append(_llama_thinking(build, thinking=block.thinking))
        options += self._control_vectors(block, info, path, files, at, build)
        options += _grouped(block.extra_flags)
        header = _header(name, f"llama-server {build}", self.loaded.source)
        program = ["llama-server"]
        return Launch(
            name, block.engine, block.version, program, options, path,
            script_text(program, options, header), files,
        )  # fmt: skip

    def _llama_chat(
        self,
        block: LlamaServer,
        info: GGUFInfo,
        path: Path,
        files: dict[str, Path],
        at: tuple[str | int, ...],
    ) -> list[list[str]]:
        """`auto`: the GGUF's own Jinja template (`--jinja`); a file: `--chat-template-file`.
        Either must render the probe conversation here, as llama-server would have to."""
        where = (*at, "chat_template")
        bos, eos = bos_eos(info)
        if block.chat_template == "auto":
            if info.chat_template is None:
                raise self.loaded.error(
                    where,
                    f"auto, but {Path(info.source).name} has no tokenizer.chat_template",
                    "give {file: template.jinja}",
                )
            self._renders(info.chat_template, bos, eos, where, f"{Path(info.source).name}")
            return [["--jinja"]]
        assert isinstance(block.chat_template, ChatTemplateFile)
        template = self._file(block.chat_template.file, (*where, "file"), "chat template")
        try:
            text = read_text(template, limit=TEMPLATE_LIMIT, what="chat template")
        except InputError as exc:
            raise self.loaded.error((*where, "file"), exc.message, exc.hint) from None
        self._renders(text, bos, eos, (*where, "file"), template.name)
        relative = self._written(block.chat_template.file, path)
        files[relative] = template
        return [["--jinja"], ["--chat-template-file", relative]]

    def _renders(
        self, template: str, bos: str, eos: str, where: tuple[str | int, ...], name: str
    ) -> None:
        """The probe conversation renders (without its system turn, for templates that refuse
        one); a template that fails or runs past modelpack's budget is refused here."""
        try:
            try:
                render_jinja(template, PROBE, bos_token=bos, eos_token=eos, source=name)
            except InputError:
                render_jinja(template, PROBE[1:], bos_token=bos, eos_token=eos, source=name)
        except InputError as exc:
            raise self.loaded.error(where, f"the chat template does not render: {exc}") from None

    def _control_vectors(
        self,
        block: LlamaServer,
        base: GGUFInfo,
        path: Path,
        files: dict[str, Path],
        at: tuple[str | int, ...],
        build: LlamaCppBuild,
    ) -> list[list[str]]:
        if not block.control_vectors:
            return []
        found = llamacpp.TABLE.availability("--control-vector-scaled", build)
        if found.values is None:
            raise self.loaded.error(
                (*at, "control_vectors"),
                f"modelpack cannot tell how llama-server {build} takes --control-vector-scaled "
                f"(FNAME SCALE up to {llamacpp.TABLE.samples[1]}, FNAME:SCALE from "
                f"{llamacpp.TABLE.samples[2]})",
                "pin one of the builds modelpack knows: " + ", ".join(llamacpp.TABLE.labels),
            )
        options: list[list[str]] = []
        ranges = [v.layers for v in block.control_vectors if v.layers is not None]
        for index, vector in enumerate(block.control_vectors):
            where = (*at, "control_vectors", index)
            file = self._file(vector.file, (*where, "file"), "control vector")
            info = self._read(file, (*where, "file"))
            if not is_control_vector(info):
                raise self.loaded.error(
                    (*where, "file"),
                    f"{file.name} is not a control vector (general.architecture is "
                    f"{info.architecture or 'missing'})",
                    "give a controlvector GGUF, as llama.cpp's cvector-generator writes",
                )
            problems = control_vector_problems(info, base, ranges[0] if ranges else None)
            if problems:
                raise self.loaded.error(
                    (*where, "file"),
                    f"{file.name} does not fit {Path(base.source).name}: {problems[0]}",
                    "use the control vector made for this model",
                )
            relative = self._written(vector.file, path)
            files[relative] = file
            scale = repr(float(vector.scale))
            if found.values == 2:
                options.append(["--control-vector-scaled", relative, scale])
            else:
                if ":" in relative or "," in relative:
                    raise self.loaded.error(
                        (*where, "file"),
                        f"llama-server {build} reads --control-vector-scaled as FNAME:SCALE,..., "
                        f"so the path {relative!r} cannot hold ':' or ','",
                        "rename the file or its folder",
                    )
                options.append(["--control-vector-scaled", f"{relative}:{scale}"])
        if ranges:
            options.append(["--control-vector-layer-range", str(ranges[0][0]), str(ranges[0][1])])
        return options

    # -- vLLM ----------------------------------------------------------------------------------

    def _vllm(self, name: str, block: Vllm, at: tuple[str | int, ...]) -> Launch:
        path = self.output_path(name, block.engine)
        release = vllm.parse_release(block.version)
        files: dict[str, Path] = {}
        model = block.model
        if model.startswith("./"):
            folder = self.spec_dir / model
            if not folder.exists():
                raise self.loaded.error(
                    (*at, "model"),
                    f"{model} not found (looked for {folder.resolve()})",
                    "give the model's folder relative to the spec, or a Hugging Face id",
                )
            model = self._written(model, path)
            files[model] = folder.resolve()
        options: list[list[str]] = []
        for flag, value in (
            ("--served-model-name", block.served_model_name),
            ("--host", block.host),
            ("--port", block.port),
            ("--quantization", block.quantization),
            ("--dtype", block.dtype),
            ("--max-model-len", block.max_model_len),
            ("--gpu-memory-utilization", block.gpu_memory_utilization),
            ("--max-num-seqs", block.max_num_seqs),
            ("--max-num-batched-tokens", block.max_num_batched_tokens),
        ):
            if value is not None:
                options.append([flag, str(value)])
        if isinstance(block.chat_template, ChatTemplateFile):
            where = (*at, "chat_template", "file")
            template = self._file(block.chat_template.file, where, "chat template")
            relative = self._written(block.chat_template.file, path)
            files[relative] = template
            options.append(["--chat-template", relative])
        if block.thinking is not None:
            kwargs = '{"enable_thinking": ' + ("true" if block.thinking else "false") + "}"
            options.append(["--default-chat-template-kwargs", kwargs])
        if block.reasoning_parser is not None:
            options.append(["--reasoning-parser", block.reasoning_parser])
        options += _grouped(block.extra_flags)
        if release >= _VLLM_CLI_SINCE:
            program = ["vllm", "serve", model]
        else:
            program = ["python3", "-m", "vllm.entrypoints.openai.api_server", "--model", model]
        header = _header(name, f"vLLM {release}", self.loaded.source)
        return Launch(
            name, block.engine, block.version, program, options, path,
            script_text(program, options, header), files,
        )  # fmt: skip

    # -- inputs --------------------------------------------------------------------------------

    def _file(self, value: str, at: tuple[str | int, ...], what: str) -> Path:
        found = local_file(value, self.spec_dir)
        if found is None or not found.is_file():
            looked = (self.spec_dir / value).resolve()
            raise self.loaded.error(
                at,
                f"{what} {value} not found (looked for {looked})",
                "fix the path (relative to the spec), or fetch the file first",
            )
        return found

    def _read(self, path: Path, at: tuple[str | int, ...]) -> GGUFInfo:
        if path not in self._infos:
            try:
                self._infos[path] = read_gguf(path)
            except GGUFError as exc:
                raise self.loaded.error(at, f"{path.name}: {exc.message}", exc.hint) from None
        return self._infos[path]

    def _written(self, value: str, output: Path) -> str:
        """A path from the spec as the script (run from its own folder) names it: relative
        when it lies in the project as written (links are not followed, so a linked GGUF keeps
        its project path), else absolute."""
        raw = Path(os.path.expanduser(value))
        full = Path(os.path.normpath(raw if raw.is_absolute() else self.spec_dir.absolute() / raw))
        project = Path(os.path.normpath(self.spec_dir.absolute()))
        if full.is_relative_to(project):
            return os.path.relpath(full, os.path.normpath(output.parent.absolute()))
        return str(full)


def _llama_thinking(build: LlamaCppBuild, *, thinking: bool) -> list[str]:
    """`--reasoning on|off` where the build has it (b8929 on), else `--reasoning-budget`
    (0 disables thinking, -1 leaves it unrestricted), which every known build has."""
    if llamacpp.TABLE.availability("--reasoning", build).presence is Presence.YES:
        return ["--reasoning", "on" if thinking else "off"]
    return ["--reasoning-budget", "-1" if thinking else "0"]


def _grouped(words: list[str]) -> list[list[str]]:
    """Extra flags as option groups (an option and the values after it), already checked."""
    groups: list[list[str]] = []
    for word in words:
        starts = word.startswith("-") and not word.lstrip("-").replace(".", "", 1).isdigit()
        if starts or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups


def _header(package: str, engine: str, source: str) -> str:
    return (
        f"{package}: {engine}, rendered by modelpack from {Path(source).name}.\n"
        "Do not edit; change the spec and run `modelpack render`. Paths are relative to this "
        "folder."
    )
