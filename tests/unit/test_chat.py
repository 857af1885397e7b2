"""Chat formats against the reference Jinja templates their model families publish."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelpack.core.chat import (
    PROBE,
    PROBES,
    TOOL_PROBE,
    Message,
    as_sent,
    chat_formats,
    detect,
    fit,
    parity,
    probes,
    render_go,
    render_jinja,
)
from modelpack.core.gguf.reader import read_gguf
from modelpack.core.gotmpl.parser import crashing_template_calls, ollama_functions, parse
from modelpack.core.versions import OllamaVersion
from modelpack.errors import InputError

REPO = Path(__file__).resolve().parents[2]
REFERENCES = REPO / "tests" / "data" / "jinja_chat_templates"
FORMATS = chat_formats([REPO / "templates"])
SHIPPED = sorted(FORMATS)


def reference(name: str) -> tuple[str, str, str]:
    """(template, bos_token, eos_token); the tokens are named in the file's first line."""
    text = (REFERENCES / f"{name}.jinja").read_text()
    found = re.search(r"bos_token=(\S+) eos_token=(\S+) #\}", text.splitlines()[0])
    assert found, f"{name}.jinja: first line must name the source model and its tokens"
    return text, found.group(1), found.group(2)


def test_every_shipped_format_has_a_reference_and_metadata() -> None:
    assert set(SHIPPED) >= {
        "chatml", "llama3-instruct", "llama2-chat", "mistral-instruct", "gemma-instruct",
        "gemma3-instruct", "phi-3", "zephyr", "command-r", "alpaca", "vicuna",
    }  # fmt: skip
    assert sorted(p.stem for p in REFERENCES.glob("*.jinja")) == SHIPPED
    for fmt in FORMATS.values():
        assert fmt.stop, fmt.name
        assert ".Messages" in fmt.template, fmt.name


@pytest.mark.parametrize("version", ["0.5.4", "0.9.3"])
@pytest.mark.parametrize("name", SHIPPED)
def test_format_parses_and_is_safe_on_both_servers(name: str, version: str) -> None:
    ollama = OllamaVersion.parse(version)
    nodes = parse(FORMATS[name].template, functions=ollama_functions(ollama))
    assert crashing_template_calls(nodes, ollama) == []


@pytest.mark.parametrize("name", SHIPPED)
def test_reference_detects_exactly_its_own_format(name: str) -> None:
    template, bos, eos = reference(name)
    detection = detect(template, FORMATS, bos_token=bos, eos_token=eos)
    assert detection.format is not None and detection.format.name == name
    assert detection.warning() is None
    others = {n: f for n, f in FORMATS.items() if n != name}
    assert detect(template, others, bos_token=bos, eos_token=eos).format is None


@pytest.mark.parametrize("name", SHIPPED)
def test_perturbed_reference_names_the_nearest_and_the_difference(name: str) -> None:
    template, bos, eos = reference(name)
    detection = detect(template + "{{ '\\n' }}", FORMATS, bos_token=bos, eos_token=eos)
    assert detection.format is None
    assert detection.nearest == name
    assert detection.position == len(detection.rendered)
    assert detection.expected.endswith("\\n") and detection.actual.endswith(
        detection.rendered[-3:].replace("\n", "\\n")
    )
    warning = detection.warning()
    assert warning is not None and name in warning and "\\n" in warning


def test_system_refusing_template_is_compared_with_the_system_folded() -> None:
    template, bos, eos = reference("gemma-instruct")
    with pytest.raises(InputError, match="System role not supported"):
        render_jinja(template, PROBE, bos_token=bos)
    detection = detect(template, FORMATS, bos_token=bos, eos_token=eos)
    assert detection.system_folded
    assert "user\nSYSTEM-PROBE: answer in one line.\nUSER-PROBE-1" in detection.reference


def test_leading_bos_is_the_only_normalisation() -> None:
    template, bos, eos = reference("llama3-instruct")
    raw = render_jinja(template, PROBE, bos_token=bos, eos_token=eos)
    assert raw.startswith("<|begin_of_text|>")
    detection = detect(template, FORMATS, bos_token=bos, eos_token=eos)
    assert detection.reference == raw.removeprefix("<|begin_of_text|>")
    # an inner BOS stays: llama2's "</s><s>" between turns is part of the prompt
    template, bos, eos = reference("llama2-chat")
    assert "</s><s>[INST]" in detect(template, FORMATS, bos_token=bos, eos_token=eos).reference


@pytest.fixture(scope="module")
def smollm2_template(smollm2_path: Path) -> tuple[str, str]:
    info = read_gguf(smollm2_path)
    tokens = info.load_array("tokenizer.ggml.tokens")
    bos = tokens[int(info.get("tokenizer.ggml.bos_token_id"))]  # type: ignore[arg-type]
    assert info.chat_template
    return info.chat_template, str(bos)


def test_smollm2_gguf_chat_template_detects_chatml(smollm2_template: tuple[str, str]) -> None:
    template, bos = smollm2_template
    detection = detect(template, FORMATS, bos_token=bos)
    assert detection.format is not None and detection.format.name == "chatml"


SMOLLM2_DEFAULT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def test_parity_catches_smollm2s_default_system_prompt(smollm2_template: tuple[str, str]) -> None:
    template, bos = smollm2_template
    result = parity(FORMATS["chatml"].template, template, bos_token=bos)
    assert not result.identical
    assert [c.conversation for c in result.conversations if not c.identical] == [
        "a single user turn, no system message",
        "multi-turn, no system message",
        "ending on an assistant message",
    ]
    assert result.conversations[0].identical  # the one conversation the old probe had
    assert result.position == len("<|im_start|>")
    assert result.jinja_snippet == "…_start|>system\\nYou are a helpful…"
    assert result.go_snippet == "…_start|>user\\nUSER-PROBE-1: what …"
    assert "'a single user turn, no system message'" in result.message()


def test_parity_models_ollamas_system_injection(smollm2_template: tuple[str, str]) -> None:
    template, bos = smollm2_template
    # A Modelfile SYSTEM fills in when the client sends none: the default is never used.
    result = parity(FORMATS["chatml"].template, template, bos_token=bos, system="Be brief.")
    assert result.identical and result.position is None
    assert result.go_prompt == result.jinja_prompt
    assert result.go_prompt.endswith("<|im_start|>assistant\n")
    single = result.conversations[1]
    assert single.go_prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    # MESSAGE lines come before the client's messages, SYSTEM before everything.
    preset = [Message("user", "U0"), Message("assistant", "A0")]
    sent = as_sent(PROBES[1].messages, system="S", preset=preset)
    assert [m.role for m in sent] == ["system", "user", "assistant", "user"]
    assert as_sent(PROBE, system="S") == PROBE  # the client's own system message wins


def test_fit_and_detect_find_the_default_system_prompt(smollm2_template: tuple[str, str]) -> None:
    template, bos = smollm2_template
    found = fit(FORMATS["chatml"].template, template, bos_token=bos)
    assert found.fits and found.default_system == SMOLLM2_DEFAULT
    detection = detect(template, FORMATS, bos_token=bos)
    assert detection.format is not None and detection.format.name == "chatml"
    assert detection.default_system == SMOLLM2_DEFAULT
    # with a system of its own the spec needs no default
    assert detect(template, FORMATS, bos_token=bos, system="S").default_system is None
    # zephyr fits no way
    wrong = fit(FORMATS["zephyr"].template, template, bos_token=bos)
    assert not wrong.fits and wrong.default_system is None


def test_parity_reports_a_wrong_pairing(smollm2_template: tuple[str, str]) -> None:
    template, bos = smollm2_template
    result = parity(FORMATS["zephyr"].template, template, bos_token=bos, system="S")
    assert not result.identical
    assert result.position == 2  # both open with "<|"
    assert result.jinja_snippet.startswith("<|im_start|>system")
    assert result.go_snippet.startswith("<|system|>")
    assert "character 2" in result.message()
    assert "'multi-turn with a system message'" in result.message()


LEGACY_CHATML = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"
)


def test_a_final_assistant_message_may_be_closed_or_continued(
    smollm2_template: tuple[str, str],
) -> None:
    template, bos = smollm2_template
    # Ollama's legacy path leaves the last assistant turn open (a prefill), .Messages closes it
    # and opens the next: both are renderings of the model's template.
    legacy = parity(LEGACY_CHATML, template, bos_token=bos, system="S")
    assert legacy.identical, legacy.message()
    final = legacy.conversations[3]
    assert final.go_prompt.endswith("ASSISTANT-PROBE-1: 2.")
    closed = parity(FORMATS["chatml"].template, template, bos_token=bos, system="S")
    assert closed.conversations[3].go_prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")
    # anything else is a difference
    broken = LEGACY_CHATML.replace("{{ .Response }}<|im_end|>", "{{ .Response }}</s>")
    assert not parity(broken, template, bos_token=bos, system="S").identical


def test_tool_turns_are_compared_where_the_template_has_them() -> None:
    chatml_jinja = reference("chatml")[0]
    assert TOOL_PROBE not in probes(FORMATS["chatml"].template)
    with_tools = FORMATS["chatml"].template.replace(
        "{{ .Role }}", '{{ if eq .Role "tool" }}tool{{ else }}{{ .Role }}{{ end }}'
    )
    assert probes(with_tools)[-1] == TOOL_PROBE
    result = parity(with_tools, chatml_jinja, bos_token="<s>")
    assert result.identical and result.conversations[-1].conversation == "with a tool result"
    assert "<|im_start|>tool\nTOOL-PROBE: 2<|im_end|>" in result.conversations[-1].go_prompt
    # a model template that refuses tool turns leaves them out, and says so
    refusing = (
        "{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    skipped = parity(with_tools, refusing)
    assert skipped.identical and skipped.skipped == [
        "with a tool result: the chat template refused the conversation: no tools"
    ]


def test_render_go_collates_and_uses_the_legacy_path() -> None:
    messages = [
        Message("system", "S1"),
        Message("system", "S2"),
        Message("user", "U"),
        Message("assistant", "A"),
        Message("user", "V"),
    ]
    chat = render_go(
        "{{ .System }}|{{ range .Messages }}{{ .Role }}:{{ .Content }};{{ end }}", messages
    )
    assert chat == "S1\n\nS2|system:S1\n\nS2;user:U;assistant:A;user:V;"
    legacy = "[{{ .System }}]{{ .Prompt }}=>{{ .Response }}<END>"
    # one execution per exchange; the last is cut after .Response (no <END>)
    assert render_go(legacy, messages) == "[S1\n\nS2]U=>A<END>[]V=>"
    # no .Messages and no .Response: Ollama appends {{ .Response }} and then cuts there
    assert render_go("<{{ .Prompt }}>", messages) == "<U>A<V>"


def test_render_go_think_fields_follow_the_version() -> None:
    template = "{{ .Think }}{{ range .Messages }}{{ end }}"
    assert render_go(template, PROBE, version=OllamaVersion(0, 9, 3)) == "false"
    assert render_go(template, PROBE, version=OllamaVersion(0, 5, 4)) == "<no value>"


def test_render_errors_are_input_errors() -> None:
    with pytest.raises(InputError, match="template error"):
        render_go("{{ range .Messages }}{{ index .Content 99 }}{{ end }}", PROBE)
    with pytest.raises(InputError, match="chat template does not parse"):
        render_jinja("{% for %}", PROBE)
    with pytest.raises(InputError, match="no chat formats"):
        detect("{{ messages }}", {})
