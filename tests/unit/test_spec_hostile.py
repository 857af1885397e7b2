"""Hostile specs: alias bombs, recursive anchors, deep nesting, odd scalars, names Ollama would
refuse, adapter globs that leave the project, and text no Modelfile can carry. Each is one
InputError line with the spec's line, found while loading, in bounded time and memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.budget import deadline, peak_of, tracing
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.inputs import SPEC_LIMIT
from modelpack.core.package import yamlsource
from modelpack.core.package.render import Renderer
from modelpack.core.package.spec import MAX_PROBLEMS, load_spec
from modelpack.core.package.yamlsource import MAX_ALIASES, MAX_DEPTH, MAX_NODES, load
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError, ModelpackError, SpecError

BUILTIN = Path(__file__).resolve().parents[2] / "templates"

PACKAGE = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
"""


@pytest.fixture
def traced() -> Iterator[None]:
    with tracing():
        yield


@pytest.fixture(params=["libyaml", "pure Python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each parser PyYAML may load with: libyaml where its wheel has it, else its own."""
    if request.param == "pure Python":
        monkeypatch.setattr(yamlsource, "_Loader", yamlsource._PureLoader)
    else:
        assert yamlsource._Loader is not yamlsource._PureLoader, "PyYAML without libyaml"
    return str(request.param)


def error_of(text: str, *, seconds: float = 2.0, memory: int = 32 << 20, cpu: bool = False) -> str:
    """The one error line loading `text` gives, within `seconds` (of CPU time with `cpu`)
    and `memory`."""
    caught: list[ModelpackError] = []

    def attempt() -> None:
        with pytest.raises(ModelpackError) as error:
            load_spec(text, source="modelpack.yaml")
        caught.append(error.value)

    with deadline(seconds, cpu=cpu):
        peak = peak_of(attempt)
    assert peak < memory, f"loading took {peak} bytes"
    (line,) = getattr(caught[0], "lines", [str(caught[0])])
    assert "\n" not in line
    return line


def bomb(levels: int, width: int = 9) -> str:
    """The billion-laughs pattern: each level is `width` aliases of the one before."""
    lines = ["x0: &a0 [lol]"]
    for n in range(1, levels + 1):
        lines.append(f"x{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * width) + "]")
    return "\n".join(lines) + "\n" + PACKAGE


# -- aliases and nesting -------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [7, 9])
def test_an_alias_bomb_is_refused_at_the_alias_that_exceeds_the_budget(
    traced: None, parser: str, levels: int
) -> None:
    text = bomb(levels)
    assert len(text) < 100 * levels
    line = error_of(text)
    assert line.startswith("modelpack.yaml:")
    assert f"more than {MAX_ALIASES} aliases" in line
    number = int(line.split(":")[1])
    assert text.splitlines()[number - 1].count("*a") == 9  # the line of an alias, not a key


def test_an_anchor_that_contains_its_own_alias_is_one_error(parser: str) -> None:
    text = "packages: &a {x: *a}\n"
    line = error_of(text)
    assert line.startswith("modelpack.yaml:1: packages.x: ")
    assert "the alias *a is inside its own anchor &a (line 1)" in line


def test_a_recursive_anchor_two_levels_down() -> None:
    text = "packages: &top\n  p:\n    model: m\n    variants:\n      - *top\n"
    line = error_of(text)
    assert line.startswith("modelpack.yaml:5: packages.p.variants[0]: the alias *top is inside")


def test_a_duplicate_anchor_names_both_lines() -> None:
    line = error_of("a: &x 1\nb: &x 2\n" + PACKAGE)
    assert line == (
        "modelpack.yaml:2: not valid YAML: found duplicate anchor 'x' (first on line 1) "
        "(give each anchor its own name)"
    )


@pytest.mark.heavy
def test_too_many_values_even_without_aliases(traced: None) -> None:
    text = "junk: [" + ", ".join(["1"] * (MAX_NODES + 10)) + "]\n" + PACKAGE
    line = error_of(text, seconds=10, memory=128 << 20, cpu=True)
    assert f"more than {MAX_NODES} values" in line
    assert line.startswith("modelpack.yaml:1: ")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("packages: " + "[" * 100_000, id="100000 open brackets"),
        pytest.param("packages: " + "[" * 200 + "]" * 200, id="200 nested lists"),
        pytest.param(
            "packages:\n" + "".join(f"{' ' * i}a{i}:\n" for i in range(1, 300)), id="block"
        ),
    ],
)
def test_deep_nesting_is_refused_with_its_line(traced: None, parser: str, text: str) -> None:
    # PyYAML's own scanner looks ahead over every bracket on the line (1.4 s while tracing).
    line = error_of(text, seconds=5, cpu=True)
    assert f"nested more than {MAX_DEPTH} levels deep" in line
    assert line.startswith("modelpack.yaml:")


def test_aliases_can_nest_past_the_depth_only_to_the_limit() -> None:
    """An anchor deep in the file, aliased deep inside another: the built value is deeper than
    either; the depth is counted on what is built."""
    inner = "[" * 40 + "x" + "]" * 40
    text = f"a: &a {inner}\nb: &b {'[' * 40}*a{']' * 40}\n" + PACKAGE
    line = error_of(text)
    assert f"nested more than {MAX_DEPTH} levels deep" in line
    assert line.startswith("modelpack.yaml:2: b")


def test_honest_aliases_still_work_with_their_lines() -> None:
    text = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    parameters: &shared {temperature: 0.2, num_ctx: 4096}
    variants:
      - name: full
        parameters: *shared
      - name: lightweight
        parameters: *shared
"""
    loaded = load_spec(text, source="modelpack.yaml")
    variants = loaded.spec.packages["pkg"].variants
    assert variants[1].parameters == {"temperature": 0.2, "num_ctx": 4096}
    assert loaded.line("packages", "pkg", "variants", 1, "parameters") == 11


def test_the_budgets_leave_room_for_large_honest_specs() -> None:
    """200 packages of 4 variants, each variant aliasing one shared parameter set."""
    lines = ["shared: &shared {temperature: 0.2, top_k: 40, num_ctx: 4096}", "packages:"]
    for n in range(200):
        lines += [
            f"  p{n}:",
            f"    model: m{n}",
            "    from: m.gguf",
            "    chat_template: chatml",
            "    variants:",
        ]
        lines += [f"      - {{name: v{v}, parameters: *shared}}" for v in range(4)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(SpecError) as error:  # only for the top-level `shared` key
        load_spec(text, source="modelpack.yaml")
    assert error.value.lines == [
        "modelpack.yaml:1: shared: unknown field (allowed here: schema_version, ollama, "
        "registry, packages)"
    ]
    assert len(load(text, source="s").data["packages"]) == 200


# -- scalars PyYAML constructs by calling Python ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2001-13-45", "2001-13-45", id="a date with month 13"),
        pytest.param("!!int nope", "'nope' is not a valid !!int", id="!!int"),
        pytest.param("!!float nope", "'nope' is not a valid !!float", id="!!float"),
        pytest.param("!!bool maybe", "'maybe' is not a valid !!bool", id="!!bool"),
        pytest.param("!!timestamp x", "'x' is not a valid !!timestamp", id="!!timestamp"),
        pytest.param("!!binary ~~~", "Input should be a valid string", id="!!binary"),
        pytest.param("!custom x", "!custom", id="an unknown tag"),
        pytest.param("!!python/object:os.system x", "!!python/object", id="python object"),
        pytest.param("1" * 5000, "5000 digits", id="an integer of 5000 digits"),
    ],
)
def test_a_scalar_python_cannot_construct_is_one_line(value: str, expected: str) -> None:
    text = PACKAGE.replace("model: acme", f"model: {value}")
    line = error_of(text)
    assert line.startswith("modelpack.yaml:3: "), line
    assert expected in line


@pytest.mark.parametrize(
    ("raw", "what"),
    [
        pytest.param(b"\x00", "#x0000", id="NUL"),
        pytest.param(b"\x7f", "#x007f", id="DEL"),
        pytest.param(b"\x1b[31m", "#x001b", id="ESC"),
    ],
)
def test_a_control_character_in_the_file_names_its_line(parser: str, raw: bytes, what: str) -> None:
    """After a non-ASCII line: libyaml counts the position in bytes, PyYAML in characters."""
    text = "# é\n" + PACKAGE.replace("model: acme", "model: ac" + raw.decode() + "me")
    line = error_of(text)
    assert line.startswith("modelpack.yaml:4: not valid YAML: ")
    assert what in line
    assert "\x1b" not in line and "\x00" not in line


# -- names Ollama would refuse ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "problem"),
    [
        ("a/b/c/d", "'a/b/c/d' has more than three parts separated by '/'"),
        ("x/", "the model is empty"),
        ("a//b", "the namespace is empty"),
        ("m" * 128, "is 128 characters, over Ollama's limit of 80"),
        ("-acme", "must start with a letter, a digit or '_'"),
        ("acme:latest", "':' is not allowed"),
        ("reg:5000/acme/m", "':' is not allowed"),
    ],
)
def test_a_model_name_ollama_refuses_is_refused_at_its_line(model: str, problem: str) -> None:
    line = error_of(PACKAGE.replace("model: acme", f'model: "{model}"'))
    assert line.startswith("modelpack.yaml:3: packages.pkg.model: "), line
    assert problem in line


def test_names_ollama_accepts_still_load() -> None:
    for model in ("acme/smollm2", "reg.example/acme/smollm2", "_x", "Smol.LM2", "m" * 80):
        loaded = load_spec(PACKAGE.replace("model: acme", f"model: {model}"), source="s")
        assert loaded.spec.packages["pkg"].model == model


def test_a_variant_tag_over_ollamas_length_is_refused_at_the_variant() -> None:
    package, variant = "p" * 40, "v" * 40  # each a valid name; the tag p...-v... has 81
    text = PACKAGE.replace("  pkg:", f"  {package}:").replace("[full]", f"[full, {variant}]")
    line = error_of(text)
    assert line.startswith(f"modelpack.yaml:6: packages.{package}.variants[1]: "), line
    assert f"variant {variant!r} of package {package!r} would be tagged" in line
    assert "is 81 characters, over Ollama's limit of 80" in line


# -- adapter globs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "an empty pattern"),
        ("  ", "an empty pattern"),
        ("/**/*.gguf", "absolute"),
        ("/srv/lora/a.gguf", "absolute"),
        ("~/lora/*.gguf", "outside the project"),
        ("../lora/*.gguf", "outside the project"),
        ("lora/../../x.gguf", "outside the project"),
    ],
)
def test_an_adapter_pattern_outside_the_project_is_refused(pattern: str, problem: str) -> None:
    text = PACKAGE.replace(
        "    variants:", f'    adapters: [lora/a.gguf, "{pattern}"]\n    variants:'
    )
    line = error_of(text)
    assert line.startswith("modelpack.yaml:6: packages.pkg.adapters[1]: "), line
    assert problem in line


def test_adapter_patterns_inside_the_project_load() -> None:
    text = PACKAGE.replace(
        "    variants:", "    adapters: [lora/*.gguf, ./a.gguf, '**/x.gguf']\n    variants:"
    )
    assert load_spec(text, source="s").spec.packages["pkg"].adapters[0] == "lora/*.gguf"


# -- text no Modelfile can carry -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "line", "path"),
    [
        ('    system: "be\\0 brief"', 6, "packages.pkg.system"),
        ('    system: "be\\x7f brief"', 6, "packages.pkg.system"),
        ('    license: [MIT, "a\\x1bb"]', 6, "packages.pkg.license"),
        ('    messages: [{role: user, content: "hi\\0"}]', 6, "packages.pkg.messages[0].content"),
        ('    chat_template: {text: "{{ .Prompt }}\\0"}', 6, "packages.pkg.chat_template"),
        ('    parameters: {stop: ["\\0"]}', 6, "packages.pkg.parameters.stop"),
        ('    variants: [{name: full, system: "\\x85"}]', 6, "packages.pkg.variants[0].system"),
    ],
)
def test_a_control_character_in_modelfile_text_names_its_field(
    field: str, line: int, path: str
) -> None:
    text = PACKAGE.replace(
        "    chat_template: chatml\n", "    chat_template: chatml\n" + field + "\n"
    )
    if "chat_template: {" in field:
        text = text.replace("    chat_template: chatml\n", "")
        line -= 1
    if field.startswith("    variants"):
        text = text.replace("    variants: [full]\n", "")
    found = error_of(text)
    assert found.startswith(f"modelpack.yaml:{line}: {path}"), found
    assert "which Ollama's parser drops" in found
    assert found.count("cannot write") == 0


def test_a_control_character_a_template_writes_names_the_template_once(tmp_path: Path) -> None:
    """Text that comes from a variant template, not the spec: the template's file and line."""
    write_tiny_gguf(tmp_path / "m.gguf")
    variants = tmp_path / "templates" / "variants"
    variants.mkdir(parents=True)
    template = variants / "full.Modelfile.j2"
    template.write_text('{{ header() }}\n{{ instruction("system", "be\\x7f brief") }}\n')
    loaded = load_spec(PACKAGE, source="modelpack.yaml")
    renderer = Renderer(
        loaded,
        spec_dir=tmp_path,
        version=OllamaVersion.parse("0.9.3"),
        template_dirs=[tmp_path / "templates", BUILTIN],
    )
    with pytest.raises(InputError) as error:
        renderer.render_package("pkg")
    assert str(error.value) == (
        f"{template}:2: cannot write SYSTEM: the value contains '\\x7f' (U+007F), which "
        "Ollama's parser drops (remove it; a Modelfile has no escape sequences for "
        "unprintable characters)"
    )


def test_a_control_character_in_a_chat_template_file_names_the_spec_field(
    tmp_path: Path,
) -> None:
    write_tiny_gguf(tmp_path / "m.gguf")
    (tmp_path / "mine.gotmpl").write_text("{{ .Prompt }}\x1b[2J")
    text = PACKAGE.replace("chat_template: chatml", "chat_template: {file: mine.gotmpl}")
    renderer = Renderer(
        load_spec(text, source="modelpack.yaml"),
        spec_dir=tmp_path,
        version=OllamaVersion.parse("0.9.3"),
        template_dirs=[BUILTIN],
    )
    with pytest.raises(InputError) as error:
        renderer.render_package("pkg")
    assert str(error.value).startswith(
        "modelpack.yaml:5: packages.pkg.chat_template: the mine chat template: the value "
        "contains '\\x1b' (U+001B), which Ollama's parser drops"
    )


# -- many problems -------------------------------------------------------------------------------


@pytest.mark.heavy
def test_many_problems_take_linear_time_and_are_reported_up_to_a_limit() -> None:
    """15,000 packages, each with four problems (one a union's): listing them once took 145 s
    (each union error rebuilt the list so far); the report stops after MAX_PROBLEMS lines."""
    text = "packages: {" + ", ".join(f"p{i}: {{chat_template: 1}}" for i in range(15_000)) + "}\n"
    assert len(text) < SPEC_LIMIT
    with deadline(10, cpu=True), pytest.raises(SpecError) as error:
        load_spec(text, source="modelpack.yaml")
    lines = error.value.lines
    assert len(lines) == MAX_PROBLEMS + 1
    assert lines[0] == "modelpack.yaml:1: packages.p0.model: required field is missing"
    assert lines[-1] == (
        f"modelpack.yaml: and {60_000 - MAX_PROBLEMS} more problems "
        "(fix these first; the rest are often the same mistake)"
    )
