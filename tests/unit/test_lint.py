"""lint/fix on Modelfile text: every check, version-awareness, and fixes that keep comments."""

from __future__ import annotations

import pytest

from modelpack.core.modelfile.lint import fix, lint
from modelpack.core.modelfile.syntax import parse
from modelpack.core.versions import OllamaVersion

V054 = OllamaVersion.parse("0.5.4")
V070 = OllamaVersion.parse("0.7.0")
V093 = OllamaVersion.parse("0.9.3")
NEWEST = OllamaVersion.parse("0.33.0-rc2")


def codes(text: str, version: OllamaVersion = V093) -> list[tuple[int | None, str]]:
    return [(d.line, d.code) for d in lint(text, source="M", version=version).diagnostics]


def test_clean_modelfile_has_no_findings_and_typed_parameters() -> None:
    report = lint(
        'FROM ./m.gguf\nPARAMETER num_ctx 4096\nPARAMETER stop "<|im_end|>"\n'
        "PARAMETER temperature 0.7\nPARAMETER use_mmap false\n",
        source="M",
        version=V093,
    )
    assert report.diagnostics == []
    assert report.ok
    assert report.parameters == {
        "num_ctx": 4096,
        "stop": ["<|im_end|>"],
        "temperature": 0.7,
        "use_mmap": False,
    }


def test_syntax_error_is_one_finding_with_its_line() -> None:
    report = lint("FROM x\nPARAMETR temperature 1\n", source="M", version=V093)
    assert [(d.line, d.code) for d in report.diagnostics] == [(2, "syntax")]
    assert "command must be one of" in report.diagnostics[0].message
    assert not report.ok


def test_missing_from() -> None:
    assert codes("PARAMETER temperature 1\n") == [(1, "missing-from")]


def test_same_modelfile_valid_for_054_warned_for_070() -> None:
    text = "FROM x\nPARAMETER mirostat 1\n"
    assert codes(text, V054) == []
    assert codes(text, V070) == [(2, "deprecated-parameter")]


def test_removed_parameter_names_the_release_and_reason() -> None:
    (finding,) = lint("FROM x\nPARAMETER numa true\n", source="M", version=V093).diagnostics
    assert finding.code == "removed-parameter"
    assert "removed in Ollama 0.3.4" in finding.message
    assert "NUMA is detected automatically" in finding.message


def test_empty_parameter_name_from_two_spaces() -> None:
    (finding,) = lint("FROM x\nPARAMETER  temperature 1\n", source="M", version=V093).diagnostics
    assert finding.code == "empty-parameter-name"
    assert "'temperature 1'" in finding.message


def test_template_error_points_at_the_modelfile_line() -> None:
    text = 'FROM x\nSYSTEM hi\nTEMPLATE """first\n{{ .Prompt }}\n{{ if .System }}\n"""\n'
    (finding,) = lint(text, source="M", version=V093).diagnostics
    assert finding.code == "template-syntax"
    assert finding.line == 6  # Go reports where the input ends ...
    assert "unexpected EOF" in finding.message
    assert finding.hint == "the {{if}} on template line 3 has no {{end}}"  # ... we say more
    text = 'FROM x\nTEMPLATE """a\n{{ .Prompt }}\n{{ nope }}"""\n'
    (finding,) = lint(text, source="M", version=V093).diagnostics
    assert finding.line == 4
    assert 'function "nope" not defined' in finding.message


def test_template_functions_follow_the_target_version() -> None:
    text = 'FROM x\nTEMPLATE "{{ currentDate }} {{ .Prompt }}"\n'
    assert codes(text, V093) == [(2, "template-syntax")]
    assert codes(text, NEWEST) == []


def test_template_call_that_crashes_ollama() -> None:
    text = 'FROM x\nTEMPLATE """{{ define "x" }}a{{ end }}\n{{ template "x" }}"""\n'
    assert codes(text, V093) == [(3, "template-crash")]
    assert codes(text, NEWEST) == []


@pytest.mark.parametrize(
    ("instruction", "since"),
    [
        ("MESSAGE user hi", "0.1.21"),
        ("RENDERER qwen3", "0.12.0"),
        ("PARSER qwen3", "0.12.0"),
        ("REQUIRES 0.1.0", "0.14.0"),
        ("DRAFT ./d.gguf", "0.23.1"),
    ],
)
def test_instructions_newer_than_the_target(instruction: str, since: str) -> None:
    text = f"FROM x\n{instruction}\n"
    first = OllamaVersion.parse(since)
    assert codes(text, first) == []
    assert codes(text, OllamaVersion(first.major, first.minor - 1, 0)) == [
        (2, "too-new-instruction")
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0.14.0", True),
        ("1", True),
        ("1.2", True),
        ("1.2.3-rc.1+build.5", True),
        ("1.02.3", False),
        ("1.2-rc1", False),
        ("one", False),
        ("1.2.3.4", False),
    ],
)
def test_requires_is_checked_like_go_semver(value: str, *, valid: bool) -> None:
    found = codes(f"FROM x\nREQUIRES {value}\n", NEWEST)
    assert ("invalid-requires" in {c for _, c in found}) is not valid


def test_requires_newer_than_target_warns() -> None:
    assert codes("FROM x\nREQUIRES 0.30.0\n", OllamaVersion.parse("0.20.0")) == [
        (2, "requires-newer")
    ]


def test_more_than_one_adapter_warns_on_the_ignored_ones() -> None:
    assert codes("FROM x\nADAPTER a.gguf\nADAPTER b.gguf\n") == [(2, "multiple-adapters")]


def test_fix_removes_removed_and_deprecated_and_keeps_comments() -> None:
    text = (
        "# header\r\nfrom   ./m.gguf\r\n\r\nPARAMETER numa true\r\n"
        "  PARAMETER mirostat 1\r\n# keep\r\nPARAMETER temperature 0.7\r\n"
        'SYSTEM """one line"""\r\n'
    )
    result = fix(text, source="M", version=V093)
    assert result.text == (
        "# header\r\nFROM ./m.gguf\r\n\r\n# keep\r\nPARAMETER temperature 0.7\r\n"
        "SYSTEM one line\r\n"
    )
    assert [c.param for c in result.removed] == ["numa", "mirostat"]
    assert [c.name for c in result.rewritten] == ["from", "system"]
    assert lint(result.text, source="M", version=V093).diagnostics == []
    assert parse(result.text).commands == [
        c for c in parse(text).commands if c.param not in {"numa", "mirostat"}
    ]


def test_fix_keeps_deprecated_parameters_for_versions_that_accept_them() -> None:
    text = "FROM x\nPARAMETER mirostat 1\n"
    assert not fix(text, source="M", version=V054).changed
    assert fix(text, source="M", version=V070).text == "FROM x\n"


def test_fix_leaves_what_it_cannot_write_and_multiline_values_intact() -> None:
    text = 'FROM x\nPARAMETER  temperature 1\nTEMPLATE """a\n"b"\n"""\n'
    result = fix(text, source="M", version=V093)
    assert result.text == text
    assert not result.changed


def test_fix_reads_utf16_bytes() -> None:
    text = "FROM x\n# note\nPARAMETER numa true\n"
    result = fix(b"\xff\xfe" + text.encode("utf-16-le"), source="M", version=V093)
    assert result.text == "FROM x\n# note\n"
