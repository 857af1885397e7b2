"""The package spec (`modelpack.yaml`): what to build, declared once.

    schema_version: 1
    ollama: {version: "0.9.3"}               # target version (host comes from OLLAMA_HOST)
    registry: {namespace: "127.0.0.1:5000/acme"}
    packages:
      main-gpu:
        model: smollm2                        # tags: smollm2:main-gpu-full, smollm2:main-gpu
        from: gguf/SmolLM2.gguf               # a path relative to this file, or a model name
        chat_template: chatml                 # auto | a named format | {text: ...} | {file: ...}
        adapters: [lora/*.gguf]               # optional: the one made for the base is used
        system: You are concise.
        parameters: {temperature: 0.2}        # shared by every variant
        variants:                             # the order is the fallback chain
          - full                              # renders templates/variants/full.Modelfile.j2
          - name: lightweight
            from: gguf/smaller.gguf           # a per-variant override
            parameters: {num_ctx: 2048}
        smoke:
          prompts: [{prompt: "What is the capital of France?", expect: Paris}]
          gpu: prefer
          template: require                   # template parity gate: require | warn | ignore

Every model forbids unknown keys, so a typo is an error (with a did-you-mean), never a silently
ignored setting. `load_spec` turns pydantic's errors into one line each that names the file,
the line and the field path.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import types
import typing
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    field_validator,
)

from modelpack.core.modelfile.syntax import quote
from modelpack.core.package.names import name_problem
from modelpack.core.package.tags import stable_tag, variant_tag
from modelpack.core.package.yamlsource import Located, dotted, load
from modelpack.core.serve.spec import (
    Refused,
    ServeBlock,
    check_serve,
    serve_blocks,
    unique_engines,
    unknown_key_hint,
)
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError, ModelfileError, SpecError, UsageError

SCHEMA_VERSION: Final = 1

MAX_PROBLEMS: Final = 100
"""Spec errors listed at once; more are counted in one last line. A spec of many packages
with one mistake repeated would otherwise print thousands of lines."""

# Ollama's name rules allow more; modelpack keeps package and variant names to what is safe as a
# tag suffix, a folder name and a file name everywhere.
NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class _Refused(Refused):
    """A field's value refused with a fix, which the spec error shows as its hint."""


def _writable(value: str) -> str:
    """Text that goes into a Modelfile (SYSTEM, LICENSE, MESSAGE, TEMPLATE, a PARAMETER) must
    be one the Modelfile writer can write: refused here, it is refused with its line."""
    try:
        quote(value)
    except ModelfileError as exc:
        raise _Refused(exc.message, exc.hint) from None
    return value


def _writable_parameter(value: Any) -> Any:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            _writable(item)
    return value


def _inside_project(pattern: str) -> str:
    """An adapter path or glob, relative to the spec and inside its folder: a glob from /
    would scan the whole disk, and one from ~ or .. someone else's files."""
    if not pattern.strip():
        raise _Refused(
            "an empty pattern matches nothing", "give a path or glob such as lora/*.gguf"
        )
    fix = "copy or link the adapters into the project folder and give their path from there"
    if pattern.startswith(("/", "\\")) or PureWindowsPath(pattern).drive:
        raise _Refused(
            f"{pattern!r} is absolute: adapters are found inside the project folder", fix
        )
    if pattern.startswith("~") or ".." in PurePosixPath(pattern.replace("\\", "/")).parts:
        raise _Refused(f"{pattern!r} reaches outside the project folder", fix)
    return pattern


_MODEL_HINT = "write [host/][namespace/]model, each part letters, digits, '_', '-' or '.'"


def _ollama_model_name(value: str) -> str:
    if ":" in value:
        raise _Refused(
            f"{value!r}: ':' is not allowed: modelpack adds the tags (:<package> and "
            ":<package>-<variant>)",
            "drop the tag; a registry's host:port goes in registry.namespace",
        )
    problem = name_problem(value)
    if problem is not None:
        raise _Refused(f"not a name Ollama accepts: {problem}", _MODEL_HINT)
    return value


# Field docstrings become descriptions in the JSON Schema (`modelpack schema`, which editors
# show on hover): the schema reads them from the source, so loading a spec does not.
_CONFIG = ConfigDict(extra="forbid", frozen=True)


class _Strict(BaseModel):
    model_config = _CONFIG


Name = Annotated[StrictStr, Field(pattern=NAME)]
ModelfileText = Annotated[StrictStr, AfterValidator(_writable)]
"""Text the Modelfile carries as written."""
# Parameter values stay as YAML gave them; the version-aware schema checks their types.
Parameters = dict[StrictStr, Annotated[Any, AfterValidator(_writable_parameter)]]


class OllamaTimeouts(_Strict):
    """How long to wait for the server, in seconds, before calling it stuck."""

    api: Annotated[float, Field(gt=0)] = 30.0
    """One plain API call: version, list, show, copy, delete, ps."""
    create: Annotated[float, Field(gt=0)] = 600.0
    """The next progress line of a create."""


class OllamaSettings(_Strict):
    host: StrictStr | None = None
    """Where to build; default: OLLAMA_HOST, else Ollama's default (127.0.0.1:11434)."""
    version: OllamaVersion | None = None
    """Target version for rendering and lint; default: the server's, else the newest known."""
    memory: MemoryBudget | None = None
    timeouts: OllamaTimeouts = Field(default_factory=OllamaTimeouts)

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_text(cls, value: object) -> object:
        if isinstance(value, float | int):
            raise ValueError(f"write the version in quotes (YAML read {value!r} as a number)")
        return value


class MemoryBudget(_Strict):
    """The machine the packages are for; with it, build skips a variant that cannot fit
    before creating it (see core.memory). Sizes like "24GiB", "24G" or "8000MB"."""

    vram: StrictStr | None = None
    """GPU memory; "0" (or unset with ram set) for a CPU-only machine."""
    ram: StrictStr | None = None
    kv_type: Literal["f16", "q8_0", "q4_0"] = "f16"
    """The server's OLLAMA_KV_CACHE_TYPE."""

    @field_validator("vram", "ram")
    @classmethod
    def _is_size(cls, value: str | None) -> str | None:
        if value is not None:
            from modelpack.core.gguf.memory import parse_size

            parse_size(value)
        return value

    def bytes(self) -> tuple[int | None, int | None]:
        """(vram, ram) in bytes."""
        from modelpack.core.gguf.memory import parse_size

        return (
            parse_size(self.vram) if self.vram is not None else None,
            parse_size(self.ram) if self.ram is not None else None,
        )


def memory_budget(
    declared: MemoryBudget | None, *, vram: str | None = None, ram: str | None = None
) -> MemoryBudget | None:
    """The machine to fit: the spec's `ollama.memory` with `--vram`/`--ram` applied (each
    replaces its own field); None when neither says anything."""
    from modelpack.core.gguf.memory import parse_size

    for option, value in (("--vram", vram), ("--ram", ram)):
        if value is not None:
            try:
                parse_size(value)
            except ValueError:
                raise UsageError(
                    f"{option}: {value!r} is not a size", hint=f"e.g. {option} 24GiB, 24G or 8000MB"
                ) from None
    if vram is None and ram is None:
        return declared
    base = declared or MemoryBudget()
    return base.model_copy(
        update={
            "vram": vram if vram is not None else base.vram,
            "ram": ram if ram is not None else base.ram,
        }
    )


class RegistrySettings(_Strict):
    namespace: StrictStr
    """`host[:port]/namespace` the tags are pushed to, e.g. 127.0.0.1:5000/acme."""
    insecure: StrictBool = False


class ChatTemplateText(_Strict):
    text: ModelfileText
    stop: list[ModelfileText] | None = None


class ChatTemplateFile(_Strict):
    file: StrictStr
    """A Go template file, relative to the spec."""
    stop: list[ModelfileText] | None = None


ChatTemplate = StrictStr | ChatTemplateText | ChatTemplateFile


class Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: ModelfileText


class SmokePrompt(_Strict):
    prompt: StrictStr
    expect: StrictStr | None = None
    """A regular expression the answer must match."""
    system: StrictStr | None = None
    num_predict: Annotated[int, Field(ge=1)] = 64

    @field_validator("expect")
    @classmethod
    def _expect_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


SMOKE_SEED: Final = 1
"""The seed of every request a smoke test and the template gate send: a rebuild asks the same
question the same way, so an answer that changes means the model did."""


class Timeouts(_Strict):
    load: Annotated[float, Field(gt=0)] = 300.0
    first_token: Annotated[float, Field(gt=0)] = 60.0
    total: Annotated[float, Field(gt=0)] = 300.0


class Smoke(_Strict):
    prompts: list[SmokePrompt] = Field(
        default_factory=lambda: [SmokePrompt(prompt="What is the capital of France?")]
    )
    gpu: Literal["require", "prefer", "ignore"] = "prefer"
    """require: a variant not fully offloaded fails; prefer: warn; ignore: do not check."""
    think: StrictBool | None = None
    """For reasoning models: false sends think=false; unset sends nothing."""
    timeouts: Timeouts = Field(default_factory=Timeouts)
    template: Literal["require", "warn", "ignore"] = "require"
    """Template parity (core.results.template): require: a variant whose stored TEMPLATE
    renders any probe conversation differently from the GGUF's own chat template fails; warn:
    says so; ignore: does not check."""
    reference: Literal["llama-server"] | None = None
    """llama-server: also compare Ollama's prompt token counts with the real llama.cpp
    server's, rendering the GGUF's own template (needs xllamacpp)."""


class Variant(_Strict):
    name: Name
    template: StrictStr | None = None
    """The Jinja variant template: a name in templates/variants/ or a *.j2 path relative to
    the spec; default: the variant's name."""
    from_: StrictStr | None = Field(default=None, alias="from")
    chat_template: ChatTemplate | None = None
    preflight: StrictBool | None = None
    """Overrides the package's `preflight` for this variant's source."""
    chat_template_mismatch: Literal["error", "allow"] | None = None
    """Overrides the package's `chat_template_mismatch` for this variant."""
    system: ModelfileText | None = None
    parameters: Parameters = Field(default_factory=dict)

    model_config = ConfigDict(**_CONFIG, populate_by_name=True)

    @property
    def template_name(self) -> str:
        return self.template or self.name


class Package(_Strict):
    model: Annotated[StrictStr, AfterValidator(_ollama_model_name)]
    """`[host/][namespace/]model`, by Ollama's name rules (core.package.names)."""
    from_: StrictStr = Field(alias="from")
    chat_template: ChatTemplate
    chat_template_mismatch: Literal["error", "allow"] = "error"
    """error: a named chat_template that renders differently from the GGUF's own template is a
    render error naming the format that matches; allow: keep it (a template changed on
    purpose; the build's template gate still judges, see smoke.template)."""
    preflight: StrictBool = True
    """Refuse a GGUF that no Ollama can load before creating anything (see core.preflight);
    false leaves the judgement to the server, for files modelpack misjudges."""
    adapters: list[Annotated[StrictStr, AfterValidator(_inside_project)]] = Field(
        default_factory=list
    )
    """LoRA adapter GGUFs (paths or globs relative to the spec); each variant gets the one
    whose metadata fits its base model."""
    system: ModelfileText | None = None
    license: ModelfileText | list[ModelfileText] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)
    parameters: Parameters = Field(default_factory=dict)
    variants: Annotated[list[Variant], Field(min_length=1)]
    smoke: Smoke = Field(default_factory=Smoke)
    serve: Annotated[
        list[ServeBlock],
        BeforeValidator(serve_blocks, json_schema_input_type=ServeBlock | list[ServeBlock]),
        AfterValidator(unique_engines),
    ] = Field(default_factory=list)
    """OpenAI-compatible engines to serve the model on (core.serve.spec)."""

    model_config = ConfigDict(**_CONFIG, populate_by_name=True)

    @field_validator(
        "variants",
        mode="before",
        json_schema_input_type=Annotated[list[Name | Variant], Field(min_length=1)],
    )
    @classmethod
    def _short_variants(cls, value: object) -> object:
        """`- full` is short for `- name: full`."""
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("variants")
    @classmethod
    def _unique_variants(cls, value: list[Variant]) -> list[Variant]:
        seen: set[str] = set()
        for variant in value:
            if variant.name in seen:
                raise ValueError(f"variant {variant.name!r} is declared twice")
            seen.add(variant.name)
        return value

    @property
    def licenses(self) -> list[str]:
        return [self.license] if isinstance(self.license, str) else list(self.license)

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)


class Spec(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    ollama: OllamaSettings = Field(default_factory=OllamaSettings)
    registry: RegistrySettings | None = None
    packages: Annotated[dict[Annotated[str, Field(pattern=NAME)], Package], Field(min_length=1)]

    def tags(self) -> list[tuple[str, tuple[str | int, ...], str]]:
        """Every tag the spec declares: (tag, field path, what owns it), in file order."""
        out: list[tuple[str, tuple[str | int, ...], str]] = []
        for name, package in self.packages.items():
            out.append((stable_tag(package.model, name), ("packages", name), f"package {name!r}"))
            for index, variant in enumerate(package.variants):
                out.append(
                    (
                        variant_tag(package.model, name, variant.name),
                        ("packages", name, "variants", index),
                        f"variant {variant.name!r} of package {name!r}",
                    )
                )
        return out


class LoadedSpec:
    """A validated spec, where it came from, and the line of each of its fields."""

    def __init__(
        self, spec: Spec, located: Located, directory: PurePosixPath | None, digest: str = ""
    ) -> None:
        self.spec = spec
        self.located = located
        self.directory = directory
        self.digest = digest
        """`sha256:<hex>` of the spec text, for the build record."""

    @property
    def source(self) -> str:
        return self.located.source

    def line(self, *path: str | int) -> int | None:
        return self.located.line_of(tuple(path))

    def package(self, name: str) -> Package:
        try:
            return self.spec.packages[name]
        except KeyError:
            known = ", ".join(self.spec.packages)
            close = difflib.get_close_matches(name, self.spec.packages, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"packages here: {known}"
            raise InputError(
                f"no package {name!r}", source=self.source, line=self.line("packages"), hint=hint
            ) from None

    def error(
        self, path: tuple[str | int, ...], message: str, hint: str | None = None
    ) -> InputError:
        """An error at a field of this spec: file, line, dotted path, message and hint."""
        return InputError(
            f"{dotted(path)}: {message}", source=self.source, line=self.line(*path), hint=hint
        )


def load_spec(text: str, *, source: str) -> LoadedSpec:
    """Parse and validate spec text; raise SpecError listing every problem, each with its line."""
    located = load(text, source=source)
    if not isinstance(located.data, dict):
        raise InputError("the spec must be a mapping with a `packages` key", source=source, line=1)
    try:
        spec = Spec.model_validate(located.data)
    except ValidationError as exc:
        problems = _problems(exc, located)
        if len(problems) > MAX_PROBLEMS:
            rest = InputError(
                f"and {len(problems) - MAX_PROBLEMS} more problems",
                source=source,
                hint="fix these first; the rest are often the same mistake",
            )
            problems = [*problems[:MAX_PROBLEMS], rest]
        raise SpecError(problems) from None
    _check_tags(spec, located)
    _check_serve(spec, located)
    return LoadedSpec(spec, located, None, "sha256:" + hashlib.sha256(text.encode()).hexdigest())


def _check_tags(spec: Spec, located: Located) -> None:
    """Stable tags are `model:package`, variant tags `model:package-variant`. With '-' allowed
    in names two declarations can land on one tag, and one build would overwrite the other.
    And each must be a name Ollama accepts: a tag is at most 80 characters."""
    seen: dict[str, str] = {}
    for tag, path, owner in spec.tags():
        if tag in seen:
            raise InputError(
                f"{dotted(path)}: {owner} and {seen[tag]} would both be tagged {tag}",
                source=located.source,
                line=located.line_of(path),
                hint="rename the package or the variant",
            )
        seen[tag] = owner
        problem = name_problem(tag)
        if problem is not None:
            raise InputError(
                f"{dotted(path)}: {owner} would be tagged {tag!r}, which Ollama refuses: {problem}",
                source=located.source,
                line=located.line_of(path),
                hint="shorten the package or variant name: the tag after ':' is "
                "<package>-<variant>",
            )


def _check_serve(spec: Spec, located: Located) -> None:
    """What each serve block's pinned engine version does not take, all at once."""
    problems: list[InputError] = []
    for name, package in spec.packages.items():
        for index, block in enumerate(package.serve):
            at: tuple[str | int, ...] = ("packages", name, "serve")
            if isinstance(located.data["packages"][name]["serve"], list):
                at = (*at, index)
            for problem in check_serve(block):
                problems.append(_at(located, (*at, *problem.path), problem.message, problem.hint))
    if problems:
        raise SpecError(problems[:MAX_PROBLEMS])


# What a field takes, for errors where a union's alternatives all failed.
_UNION_FORMS = {
    "chat_template": "a format name (such as chatml), auto, {text: ...} or {file: ...}",
    "license": "a string or a list of strings",
}


def _problems(exc: ValidationError, located: Located) -> list[InputError]:
    """One error per field path, in file order. Where every member of a union failed (a
    chat_template that is none of its forms), one error for the field: the member's own
    refusal when one says why (bad text), else "not a valid value" with the forms."""
    forms: dict[tuple[str | int, ...], tuple[bool, InputError]] = {}
    plain: list[tuple[tuple[str | int, ...], Any]] = []
    for error in exc.errors(include_url=False):
        path, through_union = _data_path(error["loc"], located.data)
        form = next(
            (
                path[:i]
                for i in range(len(path), 0, -1)
                if str(path[i - 1]) in _UNION_FORMS and "serve" not in path[:i]
            ),
            None,
        )
        if not through_union or form is None:
            plain.append((path, error))
        elif _refusal(error) is not None and not forms.get(form, (False,))[0]:
            forms[form] = (True, _problem(error, path, located))
        elif form not in forms:
            hint = f"use {_UNION_FORMS[str(form[-1])]}"
            forms[form] = (False, _at(located, form, "not a valid value", hint))
    by_path: dict[tuple[str | int, ...], InputError] = {}
    for path, error in plain:
        if path not in by_path and not any(path[:i] in forms for i in range(len(path), 0, -1)):
            by_path[path] = _problem(error, path, located)
    problems = [*by_path.values(), *(problem for _, problem in forms.values())]
    return sorted(problems, key=lambda p: p.line or 0)


def _refusal(error: Any) -> Refused | None:
    found = error.get("ctx", {}).get("error")
    return found if isinstance(found, Refused) else None


def _at(
    located: Located, path: tuple[str | int, ...], message: str, hint: str | None
) -> InputError:
    return InputError(
        f"{dotted(path) or 'top level'}: {message}",
        source=located.source,
        line=located.line_of(path),
        hint=hint,
    )


def _problem(error: Any, path: tuple[str | int, ...], located: Located) -> InputError:
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    hint = None
    refusal = _refusal(error)
    if refusal is not None:
        hint = refusal.hint
    elif kind == "extra_forbidden":
        allowed = _fields_at(Spec, path[:-1])
        other = None
        if "serve" in path:
            found = unknown_key_hint(_node(located.data, path[:-1]), str(path[-1]))
            if found is not None:
                allowed, other = found
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1, cutoff=0.6)
        message = "unknown field"
        hint = f"did you mean {close[0]!r}?" if close else f"allowed here: {', '.join(allowed)}"
        hint = other or hint
        if path[-1] == "control_vectors" and "serve" not in path:
            message = "unknown field: Ollama cannot apply control vectors"
            hint = "they run on llama-server: declare them under serve: (engine: llama-server)"
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "string_type" and isinstance(given, bool):
        hint = "YAML reads yes/no/on/off as true/false: put the text in quotes"
    elif kind == "string_type" and isinstance(given, int | float):
        hint = "put the value in quotes"
    elif kind == "string_pattern_mismatch":
        message = f"{given!r} is not a valid name"
        hint = "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit"
    return _at(located, path, message, hint)


def _node(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[tuple[str | int, ...], bool]:
    """pydantic's loc as a path into the data, and whether it passed through a union.

    pydantic puts a union member's name into loc (`str`, `ChatTemplateText`, ...); those parts
    match nothing in the data and are left out. The last part may name a key that is missing.
    """
    path: list[str | int] = []
    node = data
    through_union = False
    for index, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            path.append(part)
            node = node[part]
        elif index == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            path.append(part)
            node = None
        else:
            through_union = True
    return tuple(path), through_union


def _fields_at(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The field names allowed at `path` (for did-you-mean on an unknown key)."""
    annotation: Any = model
    for part in path:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    while typing.get_origin(annotation) is list:
        annotation = typing.get_args(annotation)[0]  # `serve:` given as one block
    models = [a for a in _members(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    names: list[str] = []
    for member in models:
        for name, info in member.model_fields.items():
            names.append(info.alias or name)
    return names


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for member in _members(annotation):
        origin = typing.get_origin(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            for name, info in member.model_fields.items():
                if part in (name, info.alias):
                    return info.annotation
        elif origin is dict and isinstance(part, str):
            return typing.get_args(member)[1]
        elif origin is list and isinstance(part, int):
            return typing.get_args(member)[0]
        elif origin is list and isinstance(part, str):
            # `serve:` takes one block for a list of them: the path skips the index.
            return _step(typing.get_args(member)[0], part)
    return None
