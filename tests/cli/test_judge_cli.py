"""`modelpack judge`: the smoke judgement on any text, exit 0 pass / 1 fail, with the reasons."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from modelpack.cli import cli

RANDOM_WEIGHTS = "۶ a a\\` France-6 ParisZ< a:1 the'hW9):hr.)"
LOOP = "la femme au martyre la femme au martyre la femme au martyre"
NOTE = "note: no expect: a pass only proves the output is not degenerate"


def invoke(*args: str, stdin: str | bytes | None = None) -> Result:
    return CliRunner().invoke(cli, ["judge", *args], input=stdin)


def test_a_sensible_answer_passes_and_says_what_a_pass_without_expect_proves() -> None:
    result = invoke(stdin="The capital of France is Paris.\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["pass", NOTE]


def test_a_random_weight_answer_fails_with_the_reason() -> None:
    result = invoke("-", stdin=RANDOM_WEIGHTS)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "FAIL"
    assert lines[1].startswith("  degenerate output: garbled words")


def test_a_fluent_loop_fails() -> None:
    result = invoke(stdin=LOOP)
    assert result.exit_code == 1
    assert "'la femme au martyre' repeats 3 times" in result.stdout


def test_reads_a_file(tmp_path: Path) -> None:
    answer = tmp_path / "answer.txt"
    answer.write_text("フランスの首都はパリです。", encoding="utf-8")
    assert invoke(str(answer), "--expect", "パリ").stdout.splitlines() == ["pass"]
    result = invoke(str(answer), "--expect", "東京")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["FAIL", "  answer does not match expect /東京/"]


def test_the_prompt_catches_an_echo() -> None:
    prompt = "What is the capital of France?"
    result = invoke("--prompt", prompt, stdin=prompt)
    assert result.exit_code == 1
    assert "degenerate output: the prompt echoed back" in result.stdout
    assert invoke(stdin=prompt).exit_code == 0


def test_json_is_the_structured_verdict() -> None:
    result = invoke("--json", "--expect", "Paris", "--prompt", "Capital?", stdin="   ")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "source": "<stdin>",
        "passed": False,
        "failures": ["empty answer", "answer does not match expect /Paris/"],
        "notes": [],
        "prompt": "Capital?",
        "expect": "Paris",
    }
    passed = json.loads(invoke("--json", stdin="Paris.").stdout)
    assert passed["passed"] is True
    assert passed["notes"] == [NOTE.removeprefix("note: ")]


def test_bytes_that_are_not_utf8_are_a_failing_verdict_not_an_error() -> None:
    result = invoke(stdin=b"Paris \xff\xfe is \x80 the capital")
    assert result.exit_code == 1
    assert "undecodable byte(s) shown as U+FFFD" in result.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    missing = invoke(str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        f"error: {tmp_path / 'nope.txt'}: no such file (give the answer's file, or - for stdin)"
    )
    folder = invoke(str(tmp_path))
    assert folder.exit_code == 2
    assert "directory" in folder.stderr
    bad_regex = invoke("--expect", "Par(is", stdin="Paris")
    assert bad_regex.exit_code == 2
    assert "expect /Par(is/ is not a valid regular expression" in bad_regex.stderr
    assert "Traceback" not in missing.output + folder.output + bad_regex.output


def test_control_characters_in_reasons_are_shown_escaped() -> None:
    result = invoke(stdin="Paris\x1b[31m is \x07 red")
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout
    assert "control character" in result.stdout


def test_an_answer_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("word " * 60_000)
    result = invoke(str(big))
    assert result.exit_code == 2
    assert "larger than 256 KiB" in result.stderr
    piped = invoke(stdin="word " * 60_000)
    assert piped.exit_code == 2
    assert "<stdin>: the answer is larger than 256 KiB" in piped.stderr
