"""lint's warnings for TEMPLATEs the servers accept and then answer nothing useful with.

The two public Modelfiles (tests/data/public_modelfiles/) are reproduced on the real servers in
tests/integration/test_template_warnings_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.core.modelfile.lint import lint
from modelpack.core.modelfile.syntax import Command, format_command
from modelpack.core.versions import OllamaVersion

V054 = OllamaVersion.parse("0.5.4")
V093 = OllamaVersion.parse("0.9.3")
CHAT_FORMATS = Path(__file__).resolve().parents[2] / "templates" / "chat"

# Two public Modelfiles, as published (tests/data/public_modelfiles/README.md says where).
PUBLIC = Path(__file__).resolve().parents[1] / "data" / "public_modelfiles"
OUTPUT_MODELFILE = (PUBLIC / "qwen-researcher.Modelfile").read_text()
RERANK_MODELFILE = (PUBLIC / "qwen3-reranker.Modelfile").read_text()


def warnings(text: str, version: OllamaVersion = V093) -> list[tuple[int | None, str]]:
    report = lint(text, source="M", version=version)
    assert report.ok, report.errors  # the servers accept all of these
    return [(d.line, d.code) for d in report.warnings]


def modelfile(template: str, *, system: str | None = None) -> str:
    lines = ["FROM ./m.gguf", format_command(Command("template", template))]
    if system is not None:
        lines.append(format_command(Command("system", system)))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("version", [V054, V093])
def test_output_after_the_assistant_opener_warns(version: OllamaVersion) -> None:
    assert warnings(OUTPUT_MODELFILE, version) == [
        (2, "template-drops-prompt"),
        (2, "template-ends-turn"),
        (4, "template-field-unset"),  # .User
        (7, "template-field-unset"),  # .Output
    ]
    report = lint(OUTPUT_MODELFILE, source="M", version=version)
    ends = next(d for d in report.warnings if d.code == "template-ends-turn")
    assert "ends with '<|im_end|>'" in ends.message and "reply is empty" in ends.message
    output = report.warnings[-1]
    assert output.message == (
        f"TEMPLATE uses .Output, which Ollama {version} never sets: neither /api/generate "
        "nor /api/chat fills it in (it is empty, and prints as <no value>)"
    )


def test_fields_that_generate_and_chat_never_fill_in() -> None:
    assert warnings(RERANK_MODELFILE) == [
        (17, "template-drops-prompt"),
        (20, "template-field-unset"),  # .Instruction
        (21, "template-field-unset"),  # .Query
        (22, "template-field-unset"),  # .Document
    ]
    hint = lint(RERANK_MODELFILE, source="M", version=V093).warnings[1].hint
    assert hint == (
        "with this TEMPLATE /api/generate sets .IsThinkSet, .Prompt, .Response, .Suffix, "
        ".System, .Think and /api/chat .IsThinkSet, .Prompt, .Response, .System, .Think"
    )


@pytest.mark.parametrize("version", [V054, V093, OllamaVersion.parse("0.33.0-rc2")])
@pytest.mark.parametrize("name", sorted(p.stem for p in CHAT_FORMATS.glob("*.gotmpl")))
def test_the_shipped_chat_formats_warn_about_nothing(name: str, version: OllamaVersion) -> None:
    template = (CHAT_FORMATS / f"{name}.gotmpl").read_text()
    assert warnings(modelfile(template, system="Be brief."), version) == []


@pytest.mark.parametrize(
    "template",
    [
        # Messages, tools and the last-message opener, as Ollama's own templates write them.
        "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 -}}"
        "<|im_start|>{{ .Role }}\n{{ .Content }}{{ if $.Tools }}{{ json $.Tools }}{{ end }}"
        "<|im_end|>\n{{ if $last }}<|im_start|>assistant\n{{ end }}{{ end }}",
        # Fill-in-the-middle: .Prompt and .Suffix on generate's suffix path, with .Messages.
        "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"
        "{{- else }}{{ range .Messages }}{{ .Content }}{{ end }}{{ end }}",
        # Dot moves inside with; a define's body gets whatever it is passed.
        '{{ define "t" }}{{ .Anything }}{{ end }}{{ with .System }}{{ .Trim }}{{ end }}'
        '{{ template "t" .Prompt }}{{ .Prompt }}',
        "{{ if .Think }}<think>{{ end }}{{ .Prompt }}",
    ],
)
def test_templates_that_use_only_what_ollama_sets(template: str) -> None:
    assert warnings(modelfile(template)) == []


def test_fields_follow_the_target_version() -> None:
    think = modelfile("{{ if .Think }}/think {{ end }}{{ .Prompt }}")
    assert warnings(think, V054) == [(2, "template-field-unset")]  # Think arrived in 0.9.0
    assert warnings(think, V093) == []
    level = modelfile("{{ .ThinkLevel }}{{ .Prompt }}")
    assert warnings(level, V093) == [(2, "template-field-unset")]
    assert warnings(level, OllamaVersion.parse("0.11.0")) == []
    first = modelfile("{{ if .First }}{{ .System }}{{ end }}{{ .Prompt }}")
    assert warnings(first, OllamaVersion.parse("0.1.20")) == []
    assert warnings(first, V093) == [(2, "template-field-unset")]
    assert warnings(modelfile("{{ .Nothing }}"), OllamaVersion.parse("0.1.10")) == []


def test_tools_are_set_only_for_templates_that_use_messages() -> None:
    legacy = modelfile("{{ if .Tools }}{{ json .Tools }}{{ end }}{{ .Prompt }}")
    assert warnings(legacy) == [(2, "template-field-unset")]
    messages = modelfile("{{ json .Tools }}{{ range .Messages }}{{ .Content }}{{ end }}")
    assert warnings(messages) == []


def test_the_data_is_read_at_the_root_only() -> None:
    text = modelfile(
        "{{ range .Messages }}{{ .Role }}{{ .Content }}{{ $.Extra }}{{ end }}\n{{ .Other }}"
    )
    report = lint(text, source="M", version=V093)
    assert [(d.line, d.message.split(",")[0]) for d in report.warnings] == [
        (2, "TEMPLATE uses .Extra"),
        (3, "TEMPLATE uses .Other"),
    ]


def test_a_response_before_the_assistant_opener_ends_the_turn() -> None:
    """Ollama keeps the TEMPLATE up to the first .Response for the reply: here the opener is
    cut and the prompt ends with the user's <|im_end|>."""
    early = "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ .Response }}<|im_start|>assistant\n"
    assert warnings(modelfile(early)) == [(2, "template-ends-turn")]
    right = "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n{{ .Response }}"
    assert warnings(modelfile(right + "<|im_end|>")) == []


def test_messages_mode_is_decided_as_template_vars_decides_it() -> None:
    """`$.Messages` counts; a variable named $messages does not (Go's Vars keeps the `$`)."""
    root = modelfile("{{ range $.Messages }}{{ .Content }}{{ end }}{{ json $.Tools }}")
    assert warnings(root) == []
    named = modelfile("{{ $messages := .System }}{{ $messages }}{{ .Prompt }}{{ json .Tools }}")
    assert warnings(named) == [(2, "template-field-unset")]  # legacy path: no .Tools


def test_a_template_without_the_prompt() -> None:
    assert warnings(modelfile("{{ .System }}", system="hi")) == [(2, "template-drops-prompt")]
