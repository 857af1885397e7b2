"""The spec: validation, and one-line errors that name the file, the line and the field."""

from __future__ import annotations

import pytest

from modelpack.core.package.spec import load_spec
from modelpack.core.package.yamlsource import load
from modelpack.errors import InputError, SpecError

GOOD = """\
schema_version: 1
ollama:
  version: "0.9.3"
registry: {namespace: 127.0.0.1:5000/acme}
packages:
  main-gpu:
    model: smollm2
    from: gguf/m.gguf
    chat_template: chatml
    license: MIT
    messages:
      - {role: user, content: hi}
    parameters: {temperature: 0.2}
    variants:
      - full
      - name: small
        template: lightweight
        from: other:latest
        parameters: {num_ctx: 2048}
    smoke:
      prompts: [{prompt: "What is the capital of France?", expect: "Paris"}]
      gpu: require
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as error:
        load_spec(text, source="modelpack.yaml")
    return error.value.lines


def test_valid_spec_and_short_variants() -> None:
    loaded = load_spec(GOOD, source="modelpack.yaml")
    package = loaded.spec.packages["main-gpu"]
    assert [v.name for v in package.variants] == ["full", "small"]
    assert package.variants[0].template_name == "full"
    assert package.variants[1].template_name == "lightweight"
    assert package.variants[1].from_ == "other:latest"
    assert package.licenses == ["MIT"]
    assert str(loaded.spec.ollama.version) == "0.9.3"
    assert package.smoke.gpu == "require"
    assert loaded.line("packages", "main-gpu", "variants", 1, "parameters", "num_ctx") == 19


def test_typo_in_a_field_name_suggests_the_right_one() -> None:
    (line,) = problems(GOOD.replace("    parameters: {temperature", "    paramters: {temperature"))
    assert line == (
        "modelpack.yaml:13: packages.main-gpu.paramters: unknown field (did you mean 'parameters'?)"
    )


def test_every_problem_is_reported_in_file_order() -> None:
    text = GOOD.replace("gpu: require", "gpu: always").replace("model: smollm2", "modell: x")
    lines = problems(text)
    assert lines[0].startswith("modelpack.yaml:6: packages.main-gpu.model: required field")
    assert lines[1].startswith("modelpack.yaml:7: packages.main-gpu.modell: unknown field")
    assert lines[2].startswith("modelpack.yaml:22: packages.main-gpu.smoke.gpu: Input should be")


def test_unquoted_version_is_caught() -> None:
    (line,) = problems(GOOD.replace('version: "0.9.3"', "version: 0.10"))
    assert "modelpack.yaml:3: ollama.version: write the version in quotes" in line
    assert "0.1" in line


def test_yaml_booleans_where_text_belongs() -> None:
    (line,) = problems(GOOD.replace("license: MIT", "license: [no]"))
    assert line.startswith("modelpack.yaml:10: packages.main-gpu.license: not a valid value")


def test_bad_names() -> None:
    (line,) = problems(GOOD.replace("name: small", "name: Small Model"))
    assert "variants[1].name: 'Small Model' is not a valid name" in line
    assert "lowercase" in line


def test_duplicate_variant_and_duplicate_key() -> None:
    (line,) = problems(GOOD.replace("  - name: small", "  - full\n      - name: small"))
    assert "variant 'full' is declared twice" in line
    with pytest.raises(InputError, match=r"modelpack.yaml:9: packages.main-gpu.from: duplicate"):
        load_spec(GOOD.replace("chat_template: chatml", "from: again"), source="modelpack.yaml")


def test_chat_template_forms() -> None:
    text = GOOD.replace("chat_template: chatml", 'chat_template: {text: "{{ .Prompt }}"}')
    assert load_spec(text, source="s").spec.packages["main-gpu"].chat_template.text  # type: ignore[union-attr]
    (line,) = problems(GOOD.replace("chat_template: chatml", "chat_template: {txt: x}"))
    assert "chat_template: not a valid value" in line
    assert "{text: ...} or {file: ...}" in line


def test_bad_expect_regex() -> None:
    (line,) = problems(GOOD.replace('expect: "Paris"', 'expect: "(Paris"'))
    assert "smoke.prompts[0].expect: not a valid regular expression" in line


def test_two_declarations_on_one_tag_are_refused() -> None:
    second = "  {name}:\n    model: smollm2\n    from: x\n    chat_template: chatml\n"
    second += "    variants: [{variant}]\n"
    fine = GOOD + second.format(name="main", variant="cpu")
    assert load_spec(fine, source="s").spec.packages["main"].model == "smollm2"
    for name, variant in [("main-gpu-full", "x"), ("main", "gpu-small")]:
        with pytest.raises(InputError) as error:
            load_spec(GOOD + second.format(name=name, variant=variant), source="modelpack.yaml")
        assert "would both be tagged smollm2:main-gpu-" in str(error.value)
        assert str(error.value).startswith("modelpack.yaml:2")


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(InputError, match=r"^modelpack.yaml:3: not valid YAML"):
        load_spec("packages:\n  a: [1\n  b: 2\n", source="modelpack.yaml")


def test_unknown_package_suggests() -> None:
    loaded = load_spec(GOOD, source="modelpack.yaml")
    with pytest.raises(InputError, match=r"no package 'main-cpu'.*did you mean 'main-gpu'"):
        loaded.package("main-cpu")


def test_lines_of_nested_paths() -> None:
    located = load("a:\n  b:\n    - x\n    - y: 1\n", source="s")
    assert located.line_of(("a", "b", 1, "y")) == 4
    assert located.line_of(("a", "b", 1, "missing")) == 4


def test_memory_budget_sizes_are_checked_with_their_line() -> None:
    text = (
        "ollama:\n  memory:\n    vram: 24XB\npackages:\n"
        "  p: {model: m, from: m.gguf, chat_template: chatml, variants: [full]}\n"
    )
    with pytest.raises(SpecError) as error:
        load_spec(text, source="modelpack.yaml")
    assert "modelpack.yaml:3: ollama.memory.vram:" in str(error.value)
    assert "'24XB' is not a size" in str(error.value)
    loaded = load_spec(text.replace("24XB", "24GiB"), source="modelpack.yaml")
    assert loaded.spec.ollama.memory is not None
    assert loaded.spec.ollama.memory.bytes() == (24 << 30, None)
