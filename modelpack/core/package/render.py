"""Render a package's variants into Modelfile text.

Each variant names a Jinja template (templates/variants/<name>.Modelfile.j2, or the project's
own). Templates run in Jinja's sandbox with StrictUndefined and never format Modelfile syntax
themselves: they call helpers that build every instruction with modelpack's Modelfile writer,
so quoting is always right. Parameters merge in this order, the more specific winning:
the template's defaults, the package's `parameters`, the variant's `parameters`; each value is
checked with the version-aware schema before anything is rendered (a spec value's error names
the spec's line; a template default's names the template). Removed names fail; deprecated ones
are dropped with a warning. The finished text is linted for the target version, so a template
can never emit a Modelfile that Ollama would refuse.

Output is deterministic (parameters sorted, no timestamps) so diffs and `render --check` mean
something. This module reads its inputs (the spec's files and templates) and writes nothing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from modelpack.core.budget import DEFAULT_BUDGET, TemplateBudget
from modelpack.core.chat import ChatFormat, ChatReference, chat_formats, detect, fit
from modelpack.core.chat import Message as ChatMessage
from modelpack.core.gguf.adapter import pick_adapter
from modelpack.core.gguf.facts import bos_eos
from modelpack.core.gguf.memory import context_cap
from modelpack.core.gguf.preflight import model_problems
from modelpack.core.gguf.reader import GGUFError, GGUFInfo, read_gguf
from modelpack.core.gotmpl import parser as gotemplate
from modelpack.core.inputs import TEMPLATE_LIMIT, read_text
from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.params import (
    ParamValue,
    check_typed_parameters,
    to_modelfile_parameters,
)
from modelpack.core.modelfile.request import local_file, looks_like_path
from modelpack.core.modelfile.syntax import Command, Modelfile, format_command, parse, quote
from modelpack.core.package.spec import (
    ChatTemplate,
    ChatTemplateFile,
    ChatTemplateText,
    LoadedSpec,
    Package,
    Variant,
)
from modelpack.core.package.tags import variant_tag
from modelpack.core.sandbox import BoundedFileLoader, Sandbox
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError, ModelfileError

__all__ = ["ChatFormat", "Rendered", "Renderer", "chat_formats", "variant_templates"]

TEMPLATE_SUFFIX = ".Modelfile.j2"


def variant_templates(template_dirs: Sequence[Path]) -> dict[str, Path]:
    """Variant template name -> file, earlier folders winning (a project overrides built-ins)."""
    found: dict[str, Path] = {}
    for folder in reversed(template_dirs):
        for path in sorted((folder / "variants").glob(f"*{TEMPLATE_SUFFIX}")):
            found[path.name.removesuffix(TEMPLATE_SUFFIX)] = path
    return found


@dataclass(frozen=True)
class Rendered:
    package: str
    variant: str
    text: str
    path: Path
    """Where the Modelfile belongs: <spec dir>/modelfiles/<package>/<variant>.Modelfile."""
    template: Path
    parameters: dict[str, ParamValue]
    """The typed parameters the Modelfile sets (what a structured create sends)."""
    warnings: list[str] = field(default_factory=list)
    chat_format: str | None = None
    """The chat format's name (`auto` resolved), "text" or a file's name; None without one."""
    chat_reference: ChatReference | None = None
    """The FROM GGUF's own chat template, for the build's parity check; None without one."""
    source: Path | None = None
    """The FROM GGUF file; None when FROM names a model."""
    info: GGUFInfo | None = None
    """The FROM GGUF's header, read once here (the build's memory check uses it)."""
    modelfile: Modelfile = field(default_factory=Modelfile)
    """`text` parsed: what create requests and drift checks are made from."""
    files: dict[str, Path] = field(default_factory=dict)
    """The local files FROM and ADAPTER name, as written in `text` -> the file: exactly the
    files the spec declares, and the only ones a build may upload."""


@dataclass(frozen=True)
class _Wanted:
    """What the chat template is checked with: the variant's SYSTEM and MESSAGEs (Ollama adds
    them to what clients send), and whether a mismatch is allowed (chat_template_mismatch)."""

    system: str | None
    preset: tuple[ChatMessage, ...]
    allow: bool = False


@dataclass(frozen=True)
class _Chat:
    """The chat format a variant gets, and the model template's default system prompt when
    the format reproduces the template only with it as SYSTEM."""

    format: ChatFormat
    default_system: str | None = None


@dataclass
class _Origin:
    """Where a parameter value came from, for error messages."""

    spec_path: tuple[str | int, ...] | None = None
    template: Path | None = None


class Renderer:
    """Renders the variants of one spec for one target Ollama version."""

    def __init__(
        self,
        loaded: LoadedSpec,
        *,
        spec_dir: Path,
        version: OllamaVersion,
        template_dirs: Sequence[Path],
        budget: TemplateBudget = DEFAULT_BUDGET,
    ) -> None:
        self.loaded = loaded
        self.spec_dir = spec_dir
        self.version = version
        self.template_dirs = list(template_dirs)
        self.formats = chat_formats(self.template_dirs)
        self.templates = variant_templates(self.template_dirs)
        self._infos: dict[Path, GGUFInfo] = {}
        self._detections: dict[tuple[str, str | None, tuple[ChatMessage, ...]], _Chat] = {}
        # Variant templates are a project's code: modelpack's sandbox, within a budget (see
        # core.sandbox); lists and dicts they build may change, as in plain Jinja.
        self.sandbox = Sandbox(
            budget,
            immutable=False,
            loader=BoundedFileLoader([str(d) for d in self.template_dirs]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render_package(self, name: str, variants: Sequence[str] | None = None) -> list[Rendered]:
        """Render the named variants (default: all, in fallback order). All or nothing."""
        package = self.loaded.package(name)
        wanted = list(variants) if variants else [v.name for v in package.variants]
        out = []
        for variant_name in wanted:
            try:
                variant = package.variant(variant_name)
            except KeyError:
                known = ", ".join(v.name for v in package.variants)
                raise InputError(
                    f"package {name!r} has no variant {variant_name!r}",
                    source=self.loaded.source,
                    line=self.loaded.line("packages", name, "variants"),
                    hint=f"its variants: {known}",
                ) from None
            out.append(self.render_variant(name, package, variant))
        return out

    def output_path(self, package: str, variant: str) -> Path:
        return self.spec_dir / "modelfiles" / package / f"{variant}.Modelfile"

    # -- one variant ---------------------------------------------------------------------------

    def render_variant(self, name: str, package: Package, variant: Variant) -> Rendered:
        index = package.variants.index(variant)
        at_package: tuple[str | int, ...] = ("packages", name)
        at_variant: tuple[str | int, ...] = (*at_package, "variants", index)
        output = self.output_path(name, variant.name)
        warnings: list[str] = []

        from_at = at_variant if variant.from_ else at_package
        source, gguf_path = self._source(variant.from_ or package.from_, output, from_at)
        preflight = variant.preflight if variant.preflight is not None else package.preflight
        info = (
            self._model_info(gguf_path, (*from_at, "from"), check=preflight) if gguf_path else None
        )
        adapter = self._adapter(package, info, output, at_package) if package.adapters else None
        chat_at = at_variant if variant.chat_template is not None else at_package
        system = variant.system if variant.system is not None else package.system
        preset = tuple(ChatMessage(m.role, m.content) for m in package.messages)
        mismatch = variant.chat_template_mismatch or package.chat_template_mismatch
        chosen = self._chat_template(
            variant.chat_template or package.chat_template,
            chat_at,
            info,
            _Wanted(system, preset, allow=mismatch == "allow"),
        )
        chat = chosen.format if chosen else None
        if system is None and chosen is not None:
            system = chosen.default_system

        spec_values: dict[str, tuple[Any, _Origin]] = {}
        if chat is not None and chat.stop:
            spec_values["stop"] = (chat.stop, _Origin((*chat_at, "chat_template")))
        for key, value in package.parameters.items():
            spec_values[key] = (value, _Origin((*at_package, "parameters", key)))
        for key, value in variant.parameters.items():
            spec_values[key] = (value, _Origin((*at_variant, "parameters", key)))
        user = self._check(spec_values, warnings)

        template_path = self._template_path(variant, at_variant)
        # The values header() and footer() write, kept typed here rather than read back from
        # the (heterogeneous) context dict.
        chat_template = chat.template if chat else None
        licenses = package.licenses
        messages = [m.model_dump() for m in package.messages]
        context = {
            "package": name,
            "variant": variant.name,
            "model": package.model,
            "tag": variant_tag(package.model, name, variant.name),
            "source": source,
            "adapter": adapter,
            "chat_template": chat_template,
            "system": system,
            "license": licenses,
            "messages": messages,
            "parameters": dict(user),
        }
        state: dict[str, dict[str, ParamValue]] = {"emitted": {}}

        def parameter_lines(defaults: Mapping[str, Any] | None = None) -> str:
            values = {k: (v, _Origin(template=template_path)) for k, v in (defaults or {}).items()}
            merged = {**self._check(values, warnings), **user}
            state["emitted"] = merged
            return "\n".join(
                _line(Command("parameter", text, param=key))
                for key, text in _ordered(to_modelfile_parameters(merged, version=self.version))
            )

        def header() -> str:
            lines = [
                f"# {context['tag']}: rendered by modelpack from {Path(self.loaded.source).name}"
                f" with {template_path.name}. Do not edit; change the spec and run "
                "`modelpack render`.",
                _line(Command("from", source)),
            ]
            if adapter is not None:
                lines.append(_line(Command("adapter", adapter)))
            if chat_template is not None:
                lines.append(_line(Command("template", chat_template)))
            if system is not None:
                lines.append(_line(Command("system", system)))
            return "\n".join(lines)

        def footer() -> str:
            lines = [_line(Command("message", m["content"], role=m["role"])) for m in messages]
            lines += [_line(Command("license", text)) for text in licenses]
            return "\n".join(lines)

        def instruction(keyword: str, value: str, name: str | None = None) -> str:
            kind = keyword.lower()
            return _line(
                Command(
                    kind,
                    str(value),
                    param=name if kind == "parameter" else None,
                    role=name if kind == "message" else None,
                )
            )

        helpers = {
            "header": header,
            "footer": footer,
            "parameter_lines": parameter_lines,
            "instruction": instruction,
        }
        text = self._run_template(template_path, {**context, **helpers})
        text = _tidy(text)
        cap = context_cap(
            self.version, state["emitted"].get("num_ctx"), info.context_length if info else None
        )
        if cap is not None:
            origin = spec_values.get("num_ctx", (None, _Origin(template=template_path)))[1]
            where = (
                f"{self.loaded.source}:{self.loaded.line(*origin.spec_path)}"
                if origin.spec_path
                else str(origin.template)
            )
            warnings.append(f"{where}: variant {variant.name}: {cap}")
        self._lint(text, template_path)
        modelfile = parse(text, source=str(template_path))
        files = {source: gguf_path} if gguf_path is not None else {}
        if adapter is not None:
            files[adapter] = self._adapter_path(adapter, output)
        _check_declared(modelfile, source, adapter, template_path)
        reference = None
        if info is not None and info.chat_template is not None:
            reference = ChatReference(info.chat_template, *bos_eos(info))
        return Rendered(
            package=name,
            variant=variant.name,
            text=text,
            path=output,
            template=template_path,
            parameters=state["emitted"],
            warnings=warnings,
            chat_format=chat.name if chat else None,
            chat_reference=reference,
            source=gguf_path,
            info=info,
            modelfile=modelfile,
            files=files,
        )

    # -- inputs --------------------------------------------------------------------------------

    def _source(
        self, value: str, output: Path, at: tuple[str | int, ...]
    ) -> tuple[str, Path | None]:
        """FROM as written in the Modelfile, and the GGUF file when it is one (made relative to
        the Modelfile), else an Ollama model name. A value that reads as a path but names no
        file is an error here: Ollama would quietly take it for a model name."""
        path = local_file(value, self.spec_dir)
        if path is None:
            if not looks_like_path(value):
                return value, None
            looked = (self.spec_dir / os.path.expanduser(value)).resolve()
            raise self.loaded.error(
                (*at, "from"),
                f"GGUF file {value} not found (looked for {looked})",
                "fix the path (relative to the spec), or fetch the model first",
            )
        return self._relative(path, output), path

    def _adapter_path(self, value: str, output: Path) -> Path:
        """The file an ADAPTER value (relative to the Modelfile's folder) names."""
        path = local_file(value, output.parent)
        assert path is not None, value  # chosen by `_adapter` from files that exist
        return path

    def _relative(self, path: Path, output: Path) -> str:
        if not path.is_relative_to(self.spec_dir.resolve()):
            return str(path)  # outside the project: absolute reads better than ../../../..
        return os.path.relpath(path, output.parent.resolve())

    def _read(self, path: Path, at: tuple[str | int, ...]) -> GGUFInfo:
        """The header of a GGUF the spec names (read once per render), or a spec error."""
        if path not in self._infos:
            try:
                self._infos[path] = read_gguf(path)
            except GGUFError as exc:
                where = f" at byte {exc.offset}" if exc.offset is not None else ""
                raise self.loaded.error(
                    at, f"{path.name}: {exc.message}{where}", exc.hint
                ) from None
        return self._infos[path]

    def _model_info(self, path: Path, at: tuple[str | int, ...], *, check: bool) -> GGUFInfo:
        """FROM's header, refused when no Ollama could load it (see preflight)."""
        info = self._read(path, at)
        for problem, fix in model_problems(info, self.version) if check else []:
            raise self.loaded.error(at, f"{path.name} {problem}", f"{fix}, or set preflight: false")
        return info

    def _adapter(
        self, package: Package, base: GGUFInfo | None, output: Path, at: tuple[str | int, ...]
    ) -> str:
        """The package's adapter made for this base, chosen by metadata (see core.adapter)."""
        where = (*at, "adapters")
        if base is None:
            raise self.loaded.error(
                where,
                "adapters need from: to be a GGUF file, to check which adapter fits it",
                "point from: at the base model's GGUF",
            )
        paths: list[Path] = []
        for index, pattern in enumerate(package.adapters):
            found = sorted(p.resolve() for p in self.spec_dir.glob(os.path.expanduser(pattern)))
            if not found:
                raise self.loaded.error(
                    (*where, index), f"no adapter file matches {pattern}", "fix the path or glob"
                )
            paths += [p for p in found if p not in paths]
        candidates = [self._read(p, (*where,)) for p in paths]
        choice = pick_adapter(base, candidates)
        if choice.chosen is not None:
            return self._relative(Path(choice.chosen.source), output)
        if choice.ambiguous:
            raise self.loaded.error(
                where,
                f"{len(choice.ambiguous)} adapters fit {Path(base.source).name}: "
                + ", ".join(Path(s).name for s in choice.ambiguous),
                "list only the one to use, or set general.base_model.0.name in each adapter",
            )
        reasons = "; ".join(f"{Path(s).name}: {why[0]}" for s, why in choice.rejected.items())
        raise self.loaded.error(
            where,
            f"no adapter fits {Path(base.source).name} ({reasons})",
            "list an adapter trained for this base model",
        )

    def _chat_template(
        self,
        value: ChatTemplate,
        at: tuple[str | int, ...],
        info: GGUFInfo | None,
        wanted: _Wanted,
    ) -> _Chat | None:
        where = (*at, "chat_template")
        named = False
        if isinstance(value, str):
            if value == "auto":
                return self._auto(info, where, wanted)
            if value not in self.formats:
                close = difflib.get_close_matches(value, self.formats, n=1)
                raise self.loaded.error(
                    where,
                    f"unknown chat format {value!r}",
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"known formats: {', '.join(sorted(self.formats))}",
                )
            chat = self.formats[value]
            named = True
        elif isinstance(value, ChatTemplateText):
            chat = ChatFormat("text", value.text, list(value.stop or []))
        else:
            assert isinstance(value, ChatTemplateFile)
            path = self.spec_dir / value.file
            if not path.is_file():
                raise self.loaded.error(
                    (*where, "file"), f"chat template file {value.file} not found", None
                )
            try:
                text = read_text(path, limit=TEMPLATE_LIMIT, what="chat template")
            except InputError as exc:
                raise self.loaded.error(
                    (*where, "file"), f"{value.file}: {exc.message}", exc.hint
                ) from None
            chat = ChatFormat(path.stem, text, list(value.stop or []))
        try:
            quote(chat.template)
        except ModelfileError as exc:
            raise self.loaded.error(
                where, f"the {chat.name} chat template: {exc.message}", exc.hint
            ) from None
        try:
            gotemplate.parse(chat.template, functions=gotemplate.ollama_functions(self.version))
        except gotemplate.TemplateSyntaxError as exc:
            raise self.loaded.error(
                where,
                f"the {chat.name} chat template does not parse for Ollama {self.version}: "
                f"{exc.message} (template line {exc.line})",
                exc.detail,
            ) from None
        if named and not wanted.allow and info is not None and info.chat_template is not None:
            return self._matching(chat, info, where, wanted)
        return _Chat(chat)

    def _matching(
        self, chat: ChatFormat, info: GGUFInfo, where: tuple[str | int, ...], wanted: _Wanted
    ) -> _Chat:
        """A named format, checked against the GGUF's own chat template on every probe
        conversation as Ollama sends it (core.chat.fit). A difference is an error naming the
        format that does match: naming the wrong format is how an import talks gibberish."""
        assert info.chat_template is not None
        name = Path(info.source).name
        bos, eos = bos_eos(info)
        allow = f"or set chat_template_mismatch: allow to keep {chat.name} on purpose"
        try:
            found = fit(
                chat.template,
                info.chat_template,
                system=wanted.system,
                preset=wanted.preset,
                bos_token=bos,
                eos_token=eos,
                version=self.version,
                jinja_source=f"{name}:tokenizer.chat_template",
                go_source=f"{chat.name}.gotmpl",
            )
            if found.fits:
                return _Chat(chat, found.default_system)
            match = detect(
                info.chat_template,
                self.formats,
                bos_token=bos,
                eos_token=eos,
                system=wanted.system,
                preset=wanted.preset,
                version=self.version,
            )
        except InputError as exc:
            raise self.loaded.error(
                where, f"{name}: {exc.message}", f"fix or replace the chat template, {allow}"
            ) from None
        difference = found.parity.first
        if match.format is not None:
            default = " with its default system prompt as SYSTEM" if match.default_system else ""
            fix = f"the format that matches is {match.format.name}{default}: name it (or auto), "
        else:
            fix = f"no shipped format matches it (nearest: {match.nearest}): give {{text: ...}}, "
        raise self.loaded.error(
            where,
            f"{chat.name} does not match {name}'s own chat template: in the conversation "
            f"'{difference.conversation}' the first difference is at character "
            f"{difference.position}: the model's template renders '{difference.jinja_snippet}', "
            f"{chat.name} renders '{difference.go_snippet}'",
            fix + allow,
        )

    def _auto(self, info: GGUFInfo | None, where: tuple[str | int, ...], wanted: _Wanted) -> _Chat:
        """`_detected`, once per GGUF, SYSTEM and MESSAGEs: variants usually share it."""
        if info is None:
            return self._detected(info, where, wanted)
        key = (info.source, wanted.system, wanted.preset)
        if key not in self._detections:
            self._detections[key] = self._detected(info, where, wanted)
        return self._detections[key]

    def _detected(
        self, info: GGUFInfo | None, where: tuple[str | int, ...], wanted: _Wanted
    ) -> _Chat:
        """`auto`: the shipped format that renders exactly what the GGUF's own chat template
        renders, on every probe conversation as Ollama sends it with the variant's SYSTEM.
        Anything short of an exact match is an error naming the nearest format and where it
        differs: a near miss is how an import ends up talking gibberish. Without a SYSTEM, a
        format that matches once SYSTEM is the template's default system prompt brings it."""
        choose = f"name a format ({', '.join(sorted(self.formats))}) or give {{text: ...}}"
        if info is None:
            raise self.loaded.error(
                where,
                "auto reads the chat template from a GGUF file, and from: names a model",
                choose,
            )
        if info.chat_template is None:
            raise self.loaded.error(
                where,
                f"chat_template: auto, but {Path(info.source).name} has no tokenizer.chat_template",
                choose,
            )
        bos, eos = bos_eos(info)
        try:
            found = detect(
                info.chat_template,
                self.formats,
                bos_token=bos,
                eos_token=eos,
                system=wanted.system,
                preset=wanted.preset,
                version=self.version,
            )
        except InputError as exc:
            raise self.loaded.error(
                where, f"{Path(info.source).name}: {exc.message}", exc.hint
            ) from None
        if found.format is None:
            raise self.loaded.error(
                where,
                f"auto: {found.message()}",
                f"if {found.nearest} is right, name it with chat_template_mismatch: allow; else "
                "give {text: ...} or add a format under templates/chat/",
            )
        return _Chat(found.format, found.default_system)

    def _check(
        self, values: Mapping[str, tuple[Any, _Origin]], warnings: list[str]
    ) -> dict[str, ParamValue]:
        """Typed, version-checked parameters; an error names where its value came from."""
        out: dict[str, ParamValue] = {}
        for key, (value, origin) in values.items():
            result = check_typed_parameters({key: value}, version=self.version)
            for diagnostic in result.diagnostics:
                if diagnostic.is_error:
                    if origin.spec_path is not None:
                        raise self.loaded.error(
                            origin.spec_path, diagnostic.message, diagnostic.hint
                        )
                    raise InputError(
                        f"default {diagnostic.message}",
                        source=str(origin.template),
                        hint=diagnostic.hint,
                    )
                where = (
                    f"{self.loaded.source}:{self.loaded.line(*origin.spec_path)}"
                    if origin.spec_path
                    else str(origin.template)
                )
                warnings.append(f"{where}: {diagnostic.message} (dropped)")
            out.update(result.parameters)
        return out

    def _template_path(self, variant: Variant, at: tuple[str | int, ...]) -> Path:
        name = variant.template_name
        if name.endswith(".j2"):
            path = (self.spec_dir / name).resolve()
            if not path.is_file():
                raise self.loaded.error((*at, "template"), f"variant template {name} not found")
            return path
        if name not in self.templates:
            known = ", ".join(sorted(self.templates))
            field_path = (*at, "template") if variant.template else (*at, "name")
            raise self.loaded.error(
                field_path,
                f"no variant template {name!r}",
                f"add templates/variants/{name}{TEMPLATE_SUFFIX}, or set `template:` to one "
                f"of: {known}",
            )
        return self.templates[name]

    def _run_template(self, path: Path, context: dict[str, Any]) -> str:
        """The template's text; any failure, running past the budget included, is one
        InputError naming the template file and line (an error from a helper it called, such
        as a value the Modelfile writer cannot write, included)."""
        text = read_text(path, limit=TEMPLATE_LIMIT, what="variant template")
        compiled = self.sandbox.load(text, what="template", source=str(path), name=path.name)
        try:
            return compiled.render(context, passthrough=(InputError,))
        except InputError as exc:
            if exc.source is not None:
                raise
            raise InputError(
                exc.message, source=str(path), line=compiled.line_of(exc), hint=exc.hint
            ) from None

    def _lint(self, text: str, template: Path) -> None:
        report = lint(text, source=str(template), version=self.version)
        if report.errors:
            first = report.errors[0]
            raise InputError(
                f"rendered an invalid Modelfile (line {first.line}): {first.message}",
                source=str(template),
                hint=first.hint,
            )


def _line(command: Command) -> str:
    """One instruction; an error without a place, which `_run_template` gives the template's
    (the spec's own text was checked when the spec was loaded)."""
    try:
        return format_command(command)
    except ModelfileError as exc:
        raise InputError(exc.message, hint=exc.hint) from None  # says "cannot write X: ..."
    except ValueError as exc:
        raise InputError(f"cannot write {command.name.upper()}: {exc}") from None


def _ordered(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters sorted by name, stop last, so output does not depend on dict order."""
    return sorted(pairs, key=lambda kv: (kv[0] == "stop", kv[0]))


def _check_declared(modelfile: Modelfile, source: str, adapter: str | None, template: Path) -> None:
    """A variant template may not name other weights than the spec declares: a second FROM
    or another ADAPTER would make the build upload a file nobody declared."""
    declared = {"from": [source], "adapter": [adapter] if adapter is not None else []}
    for kind, expected in declared.items():
        written = [c for c in modelfile.commands if c.name == kind]
        if [c.args for c in written] != expected:
            shown = ", ".join(f"{c.args!r} (line {c.line})" for c in written) or "none"
            want = ", ".join(repr(v) for v in expected) or "none"
            raise InputError(
                f"the rendered Modelfile's {kind.upper()} is {shown}, but the spec declares {want}",
                source=str(template),
                hint=f"write {kind.upper()} only through header(); declare weights in the spec",
            )


def _tidy(text: str) -> str:
    """No blank lines at the ends and one final newline. Nothing inside is touched: a quoted
    TEMPLATE or SYSTEM value may hold blank lines and trailing spaces that must stay."""
    return text.strip("\n") + "\n"
