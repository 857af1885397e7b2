"""Rendering variants: precedence, user templates, errors that name their source, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_gguf, write_tiny_lora

from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.syntax import parse
from modelpack.core.package.render import Rendered, Renderer
from modelpack.core.package.spec import load_spec
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

BUILTIN = Path(__file__).resolve().parents[2] / "templates"
V093 = OllamaVersion.parse("0.9.3")

SPEC = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    system: Be brief.
    license: [MIT, "Second license"]
    messages: [{role: user, content: Hello}, {role: assistant, content: Hi!}]
    parameters:
      temperature: 0.2
      num_ctx: 3000
    variants:
      - full
      - name: lite
        template: lightweight
        parameters: {num_ctx: 1024, seed: 7}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_tiny_gguf(tmp_path / "m.gguf")  # render reads its header
    return tmp_path


def renderer(
    folder: Path, spec: str = SPEC, version: OllamaVersion = V093, extra: list[Path] | None = None
) -> Renderer:
    (folder / "modelpack.yaml").write_text(spec)
    loaded = load_spec(spec, source="modelpack.yaml")
    return Renderer(
        loaded, spec_dir=folder, version=version, template_dirs=[*(extra or []), BUILTIN]
    )


def params(result: Rendered) -> dict[str, str | list[str]]:
    return parse(result.text).effective_parameters


def test_precedence_template_then_package_then_variant(project: Path) -> None:
    full, lite = renderer(project).render_package("pkg")
    assert params(full)["num_ctx"] == "3000"  # package beats the template's 8192
    assert params(full)["top_k"] == "40"  # a template default nobody overrides
    assert params(full)["temperature"] == "0.2"
    assert params(lite)["num_ctx"] == "1024"  # the variant beats the package
    assert params(lite)["seed"] == "7"
    assert params(lite)["num_batch"] == "128"
    assert "top_k" not in params(lite)
    assert lite.parameters["num_ctx"] == 1024  # typed, for the create API


def test_everything_from_the_spec_reaches_the_modelfile(project: Path) -> None:
    (full, _) = renderer(project).render_package("pkg")
    modelfile = parse(full.text)
    assert modelfile.from_ == "../../m.gguf"
    assert modelfile.system == "Be brief."
    assert modelfile.template is not None
    assert "<|im_start|>" in modelfile.template
    assert params(full)["stop"] == ["<|im_start|>", "<|im_end|>"]  # the format's stop list
    assert [(m.role, m.content) for m in modelfile.messages] == [
        ("user", "Hello"),
        ("assistant", "Hi!"),
    ]
    assert modelfile.license == ["MIT", "Second license"]
    assert full.path == project / "modelfiles" / "pkg" / "full.Modelfile"
    assert full.text.startswith("# acme:pkg-full: rendered by modelpack")
    assert lint(full.text, source="x", version=V093).diagnostics == []


def test_spec_stop_replaces_the_format_stop_list(project: Path) -> None:
    spec = SPEC.replace("      num_ctx: 3000", '      num_ctx: 3000\n      stop: ["<|im_end|>"]')
    (full, _) = renderer(project, spec).render_package("pkg")
    assert params(full)["stop"] == ["<|im_end|>"]


def test_output_is_deterministic(project: Path) -> None:
    first = [r.text for r in renderer(project).render_package("pkg")]
    swapped = SPEC.replace(
        "      temperature: 0.2\n      num_ctx: 3000", "      num_ctx: 3000\n      temperature: 0.2"
    )
    second = [r.text for r in renderer(project, swapped).render_package("pkg")]
    assert first == second
    lines = [ln for ln in first[0].splitlines() if ln.startswith("PARAMETER")]
    names = [ln.split()[1] for ln in lines]
    assert names == [*sorted(n for n in names if n != "stop"), "stop", "stop"]


def test_removed_parameter_in_the_spec_fails_with_file_line_and_reason(project: Path) -> None:
    spec = SPEC.replace("      num_ctx: 3000", "      num_ctx: 3000\n      numa: true")
    with pytest.raises(InputError) as error:
        renderer(project, spec).render_package("pkg")
    assert str(error.value) == (
        "modelpack.yaml:12: packages.pkg.parameters.numa: parameter 'numa' was removed in "
        "Ollama 0.3.4 (target 0.9.3): NUMA is detected automatically (delete this entry)"
    )


def test_wrong_type_in_a_variant_names_the_variant_line(project: Path) -> None:
    spec = SPEC.replace("{num_ctx: 1024, seed: 7}", '{num_ctx: "1024", seed: 7}')
    with pytest.raises(InputError, match=r"^modelpack.yaml:16: packages.pkg.variants\[1\]"):
        renderer(project, spec).render_package("pkg")


def test_deprecated_parameter_is_dropped_with_a_warning(project: Path) -> None:
    spec = SPEC.replace("      num_ctx: 3000", "      num_ctx: 3000\n      mirostat: 1")
    full, _ = renderer(project, spec).render_package("pkg")
    assert "mirostat" not in full.text
    assert [w for w in full.warnings if "mirostat" in w] == [
        "modelpack.yaml:12: parameter 'mirostat' is deprecated since Ollama 0.7.0 and will be "
        "dropped (target 0.9.3) (dropped)"
    ]
    old, _ = renderer(project, spec, OllamaVersion.parse("0.5.4")).render_package("pkg")
    assert "PARAMETER mirostat 1" in old.text
    assert [w for w in old.warnings if "mirostat" in w] == []


def test_num_ctx_above_the_trained_context_is_a_warning_with_the_value_ollama_runs(
    project: Path,
) -> None:
    """The fixture GGUF is trained on 2048 tokens and the spec asks 3000: 0.9.3 caps it (its
    llm/server.go), 0.5.4 runs it as asked; the second variant's 1024 is within it."""
    full, light = renderer(project, SPEC).render_package("pkg")
    assert full.warnings == [
        "modelpack.yaml:11: variant full: num_ctx 3000 is above the GGUF's trained context "
        "2048: Ollama 0.9.3 caps it and runs num_ctx 2048 (its log says 'requested context "
        "size too large for model')"
    ]
    assert light.warnings == []
    old, _ = renderer(project, SPEC, OllamaVersion.parse("0.5.4")).render_package("pkg")
    assert old.warnings == [
        "modelpack.yaml:11: variant full: num_ctx 3000 is above the GGUF's trained context "
        "2048: Ollama 0.5.4 runs num_ctx 3000 as asked (it caps only from 0.9.3); past 2048 "
        "tokens the model is outside its training"
    ]


def test_parameter_too_new_for_the_target(project: Path) -> None:
    spec = SPEC.replace("seed: 7", "draft_num_predict: 4")
    with pytest.raises(InputError, match=r"draft_num_predict' needs Ollama >= 0\.30\.0"):
        renderer(project, spec).render_package("pkg")
    assert renderer(project, spec, OllamaVersion.parse("0.30.0")).render_package("pkg")


def test_missing_gguf_is_reported_with_the_spec_line(project: Path) -> None:
    (project / "m.gguf").unlink()
    with pytest.raises(InputError) as error:
        renderer(project).render_package("pkg")
    assert str(error.value).startswith("modelpack.yaml:4: packages.pkg.from: GGUF file m.gguf")


def test_gguf_without_architecture_keys_is_refused_before_any_server(project: Path) -> None:
    """The real 0.5.4 crashes loading such a file (tests/integration/test_degenerate_real.py)."""
    write_tiny_gguf(project / "m.gguf", omit=["llama.block_count"])
    with pytest.raises(InputError) as error:
        renderer(project).render_package("pkg")
    assert str(error.value) == (
        "modelpack.yaml:4: packages.pkg.from: m.gguf lacks llama.block_count: Ollama 0.5.4 "
        "crashes loading such a file and newer versions fail with HTTP 500 (convert the model "
        "again with a current llama.cpp (convert_hf_to_gguf.py), or set preflight: false)"
    )


def test_preflight_false_leaves_the_judgement_to_the_server(project: Path) -> None:
    write_tiny_gguf(project / "m.gguf", omit=["llama.block_count"])
    spec = SPEC.replace("chat_template: chatml\n", "chat_template: chatml\n    preflight: false\n")
    assert len(renderer(project, spec).render_package("pkg")) == 2


def test_damaged_gguf_names_the_spec_line_and_the_byte(project: Path) -> None:
    (project / "m.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(InputError) as error:
        renderer(project).render_package("pkg")
    message = str(error.value)
    assert message.startswith("modelpack.yaml:4: packages.pkg.from: m.gguf: ")
    assert "at byte 8" in message and "truncated" in message


def test_an_adapter_given_as_from_is_refused(project: Path) -> None:
    write_tiny_lora(project / "m.gguf")
    with pytest.raises(InputError, match=r"m\.gguf is a LoRA adapter, not a model"):
        renderer(project).render_package("pkg")


ADAPTER_SPEC = SPEC.replace(
    "chat_template: chatml\n", "chat_template: chatml\n    adapters: [lora/*.gguf]\n"
)


def test_adapters_pick_the_one_made_for_the_base(project: Path) -> None:
    (project / "lora").mkdir()
    write_tiny_lora(project / "lora" / "a-13b.gguf", n_embd=80)  # first by name, wrong shape
    write_tiny_lora(project / "lora" / "b-mine.gguf", n_embd=64)
    full, lite = renderer(project, ADAPTER_SPEC).render_package("pkg")
    for result in (full, lite):
        assert parse(result.text).adapters == ["../../lora/b-mine.gguf"]


def test_adapters_none_fitting_or_several_fitting(project: Path) -> None:
    (project / "lora").mkdir()
    write_tiny_lora(project / "lora" / "wide.gguf", n_embd=80)
    with pytest.raises(InputError) as error:
        renderer(project, ADAPTER_SPEC).render_package("pkg")
    assert str(error.value).startswith(
        "modelpack.yaml:6: packages.pkg.adapters: no adapter fits m.gguf (wide.gguf: embedding "
        "length 80 does not match the base's 64"
    )
    write_tiny_lora(project / "lora" / "one.gguf")
    write_tiny_lora(project / "lora" / "two.gguf", seed=1)
    with pytest.raises(InputError, match=r"2 adapters fit m.gguf: one.gguf, two.gguf"):
        renderer(project, ADAPTER_SPEC).render_package("pkg")


def test_adapters_need_a_gguf_base_and_matching_files(project: Path) -> None:
    with pytest.raises(InputError, match=r"adapters\[0\]: no adapter file matches lora/\*.gguf"):
        renderer(project, ADAPTER_SPEC).render_package("pkg")
    spec = ADAPTER_SPEC.replace("from: m.gguf", "from: llama3.2:1b")
    with pytest.raises(InputError, match="adapters need from: to be a GGUF file"):
        renderer(project, spec).render_package("pkg")


def test_model_name_source_is_not_a_file(project: Path) -> None:
    spec = SPEC.replace("from: m.gguf", "from: llama3.2:1b")
    (full, _) = renderer(project, spec).render_package("pkg")
    assert parse(full.text).from_ == "llama3.2:1b"


def test_user_defined_variant_template_in_the_project(project: Path) -> None:
    own = project / "templates" / "variants"
    own.mkdir(parents=True)
    (own / "tiny.Modelfile.j2").write_text(
        "{{ header() }}\n{{ parameter_lines({'num_ctx': 512}) }}\n"
        "{{ instruction('parameter', 3, 'top_k') }}\n# for {{ tag }}\n"
    )
    spec = SPEC.replace("      - full\n", "      - tiny\n")
    tiny, _ = renderer(project, spec, extra=[project / "templates"]).render_package("pkg")
    assert params(tiny)["num_ctx"] == "3000"
    assert params(tiny)["top_k"] == "3"
    assert tiny.text.rstrip().endswith("# for acme:pkg-tiny")


def test_user_template_by_path_and_override_of_a_builtin(project: Path) -> None:
    (project / "mine.j2").write_text("{{ header() }}\nPARAMETER seed 1\n")
    spec = SPEC.replace("template: lightweight", "template: mine.j2")
    _, lite = renderer(project, spec).render_package("pkg")
    assert params(lite) == {"seed": "1"}
    own = project / "templates" / "variants"
    own.mkdir(parents=True)
    (own / "full.Modelfile.j2").write_text("{{ header() }}\n")
    full, _ = renderer(project, extra=[project / "templates"]).render_package("pkg")
    assert params(full) == {}


def test_unknown_variant_template(project: Path) -> None:
    spec = SPEC.replace("      - full\n", "      - huge\n")
    with pytest.raises(InputError) as error:
        renderer(project, spec).render_package("pkg")
    message = str(error.value)
    assert message.startswith("modelpack.yaml:13: packages.pkg.variants[0].name: no variant")
    assert "full, lightweight, simple" in message


def test_undefined_variable_names_the_template_and_line(project: Path) -> None:
    (project / "bad.j2").write_text("{{ header() }}\n\n{{ nonsense }}\n")
    spec = SPEC.replace("template: lightweight", "template: bad.j2")
    with pytest.raises(InputError) as error:
        renderer(project, spec).render_package("pkg")
    assert str(error.value).startswith(f"{project / 'bad.j2'}:3: 'nonsense' is undefined")


def test_template_syntax_error_names_the_template_and_line(project: Path) -> None:
    (project / "bad.j2").write_text("{{ header() }}\n{% if %}\n")
    spec = SPEC.replace("template: lightweight", "template: bad.j2")
    with pytest.raises(InputError, match=r"bad.j2:2: template does not parse"):
        renderer(project, spec).render_package("pkg")


def test_sandbox_blocks_unsafe_attributes(project: Path) -> None:
    (project / "bad.j2").write_text("{{ header.__globals__ }}\n")
    spec = SPEC.replace("template: lightweight", "template: bad.j2")
    with pytest.raises(InputError, match=r"bad.j2:1: template failed: .*unsafe"):
        renderer(project, spec).render_package("pkg")


def test_template_that_emits_an_invalid_modelfile_is_refused(project: Path) -> None:
    (project / "bad.j2").write_text("{{ header() }}\nPARAMETER numa true\n")
    spec = SPEC.replace("template: lightweight", "template: bad.j2")
    with pytest.raises(InputError, match=r"bad.j2: rendered an invalid Modelfile .*'numa'"):
        renderer(project, spec).render_package("pkg")


def test_bad_template_default_names_the_template(project: Path) -> None:
    (project / "bad.j2").write_text("{{ header() }}\n{{ parameter_lines({'tfs_z': 1.0}) }}\n")
    spec = SPEC.replace("template: lightweight", "template: bad.j2")
    with pytest.raises(InputError, match=r"bad.j2: default parameter 'tfs_z' was removed"):
        renderer(project, spec).render_package("pkg")


def test_chat_template_text_file_auto_and_errors(project: Path) -> None:
    spec = SPEC.replace(
        "chat_template: chatml", 'chat_template: {text: "{{ .Prompt }}", stop: ["###"]}'
    )
    (full, _) = renderer(project, spec).render_package("pkg")
    assert parse(full.text).template == "{{ .Prompt }}"
    assert params(full)["stop"] == ["###"]
    (project / "t.gotmpl").write_text("{{ if .System }}{{ .System }}")
    spec = SPEC.replace("chat_template: chatml", "chat_template: {file: t.gotmpl}")
    with pytest.raises(InputError) as error:
        renderer(project, spec).render_package("pkg")
    assert "modelpack.yaml:5: packages.pkg.chat_template: the t chat template does not parse" in (
        str(error.value)
    )
    assert "the {{if}} on template line 1 has no {{end}}" in str(error.value)
    for value, expected in [
        ("auto", "auto, but m.gguf has no tokenizer.chat_template"),
        ("chatlm", "did you mean 'chatml'"),
    ]:
        spec = SPEC.replace("chat_template: chatml", f"chat_template: {value}")
        with pytest.raises(InputError, match=expected):
            renderer(project, spec).render_package("pkg")


def test_unknown_variant_is_a_clear_error(project: Path) -> None:
    with pytest.raises(InputError, match=r"package 'pkg' has no variant 'x'.*full, lite"):
        renderer(project).render_package("pkg", ["x"])


def test_only_the_asked_variants(project: Path) -> None:
    results = renderer(project).render_package("pkg", ["lite"])
    assert [r.variant for r in results] == ["lite"]


def test_multiline_values_are_kept_exactly(project: Path) -> None:
    """Blank lines and trailing spaces inside a quoted value are data, not formatting."""
    spec = SPEC.replace("system: Be brief.", r'system: "line one  \n\n\n  indented\n"')
    (full, _) = renderer(project, spec).render_package("pkg")
    assert parse(full.text).system == "line one  \n\n\n  indented\n"


JINJA = Path(__file__).resolve().parents[1] / "data" / "jinja_chat_templates"


def reference_template(name: str) -> str:
    """A model family's published chat template, without the source comment on line 1."""
    return (JINJA / f"{name}.jinja").read_text().split("\n", 1)[1]


def test_auto_uses_the_format_the_gguf_template_matches(project: Path) -> None:
    write_tiny_gguf(
        project / "m.gguf", extra={"tokenizer.chat_template": reference_template("llama3-instruct")}
    )
    spec = SPEC.replace("chat_template: chatml", "chat_template: auto")
    full, _ = renderer(project, spec).render_package("pkg")
    ours = (BUILTIN / "chat" / "llama3-instruct.gotmpl").read_text()
    assert parse(full.text).template == ours
    assert params(full)["stop"] == ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    assert full.chat_format == "llama3-instruct"
    assert full.chat_reference is not None
    assert full.chat_reference.template == reference_template("llama3-instruct")
    assert full.chat_reference.bos_token == "<s>"  # the tiny vocabulary's BOS


def test_auto_without_an_exact_match_names_the_nearest_and_the_difference(project: Path) -> None:
    near = reference_template("chatml").replace(
        "'\\n' + message['content']", "'\\n\\n' + message['content']"
    )
    assert near != reference_template("chatml")
    write_tiny_gguf(project / "m.gguf", extra={"tokenizer.chat_template": near})
    spec = SPEC.replace("chat_template: chatml", "chat_template: auto")
    with pytest.raises(InputError) as error:
        renderer(project, spec).render_package("pkg")
    message = str(error.value)
    assert message.startswith(
        "modelpack.yaml:5: packages.pkg.chat_template: auto: no chat format reproduces the "
        "model's chat template; nearest is chatml"
    )
    assert (
        "first difference in the conversation 'multi-turn with a system message' at character"
        in message
    )
    assert "(if chatml is right, name it with chat_template_mismatch: allow;" in message


def test_auto_needs_a_gguf_source(project: Path) -> None:
    spec = SPEC.replace("chat_template: chatml", "chat_template: auto").replace(
        "from: m.gguf", "from: llama3.2:1b"
    )
    with pytest.raises(InputError, match="auto reads the chat template from a GGUF file"):
        renderer(project, spec).render_package("pkg")


SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""SmolLM2-135M-Instruct's tokenizer.chat_template: ChatML with a default system prompt."""
SMOLLM2_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


SMOL_SPEC = SPEC.replace(
    "    messages: [{role: user, content: Hello}, {role: assistant, content: Hi!}]\n", ""
)
"""Without MESSAGEs: Ollama puts them before a client's system message, where SmolLM2's
template would insert its default system prompt (test_messages_before_a_system_message...)."""


def smol_project(project: Path) -> Path:
    write_tiny_gguf(project / "m.gguf", extra={"tokenizer.chat_template": SMOLLM2_TEMPLATE})
    return project


def test_a_named_format_that_differs_from_the_gguf_is_an_error_naming_the_match(
    project: Path,
) -> None:
    spec = SMOL_SPEC.replace("chat_template: chatml", "chat_template: zephyr")
    with pytest.raises(InputError) as error:
        renderer(smol_project(project), spec).render_package("pkg")
    message = str(error.value)
    assert message.startswith(
        "modelpack.yaml:5: packages.pkg.chat_template: zephyr does not match m.gguf's own chat "
        "template: in the conversation 'multi-turn with a system message' the first difference "
        "is at character 2"
    )
    assert "the format that matches is chatml: name it (or auto)" in message
    assert "chat_template_mismatch: allow" in message
    # a variant's own format is checked at the variant's line
    spec = SMOL_SPEC.replace("        template: lightweight\n", "        template: lightweight\n"
                        "        chat_template: vicuna\n")  # fmt: skip
    with pytest.raises(InputError, match=r"modelpack.yaml:\d+: packages.pkg.variants\[1\]."
                       r"chat_template: vicuna does not match"):  # fmt: skip
        renderer(project, spec).render_package("pkg")


def test_chat_template_mismatch_allow_keeps_a_format_on_purpose(project: Path) -> None:
    spec = SMOL_SPEC.replace(
        "chat_template: chatml", "chat_template: zephyr\n    chat_template_mismatch: allow"
    )
    full, _ = renderer(smol_project(project), spec).render_package("pkg")
    assert full.chat_format == "zephyr" and "<|assistant|>" in full.text
    # or on one variant only
    override = "        chat_template: zephyr\n        chat_template_mismatch: allow\n"
    spec = SMOL_SPEC.replace(
        "        template: lightweight\n", "        template: lightweight\n" + override
    )
    full, lite = renderer(project, spec).render_package("pkg")
    assert (full.chat_format, lite.chat_format) == ("chatml", "zephyr")


def test_the_gguf_templates_default_system_prompt_becomes_system(project: Path) -> None:
    without = SMOL_SPEC.replace("    system: Be brief.\n", "")
    for form in ("chatml", "auto"):
        spec = without.replace("chat_template: chatml", f"chat_template: {form}")
        full, _ = renderer(smol_project(project), spec).render_package("pkg")
        assert parse(full.text).system == SMOLLM2_DEFAULT, form
        assert full.chat_format == "chatml"
    # the spec's own SYSTEM wins, and then no default is needed
    full, _ = renderer(project, SMOL_SPEC).render_package("pkg")
    assert parse(full.text).system == "Be brief."


def test_messages_before_a_system_message_meet_the_default_system_prompt(project: Path) -> None:
    # Ollama sends MESSAGE lines first, then a client's system message; SmolLM2's template
    # then writes its default system prompt in front: a client would see the difference.
    with pytest.raises(InputError, match=r"chatml does not match m\.gguf's own chat template"):
        renderer(smol_project(project)).render_package("pkg")
