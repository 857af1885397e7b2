"""Matrix reports: JUnit XML valid for CI, Markdown that stays a table, JSON that round-trips."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import xmlschema
from markdown_it import MarkdownIt
from rich.console import Console
from rich.markup import escape

from modelpack.cli.tables import terminal_table
from modelpack.core.results.baseline import compare
from modelpack.core.results.matrix import Cell, MatrixResult, Run
from modelpack.core.results.record import BuildRecord, VariantResult
from modelpack.core.results.reports import (
    COLUMNS,
    JUNIT_XSD,
    NOT_RUN,
    as_matrix,
    from_record,
    load_result,
    to_json,
    to_junit,
    to_markdown,
)
from modelpack.core.results.runs import PromptRuns
from modelpack.errors import InputError

FRANCE = "What is the capital of France?"
HAIKU = "Write a haiku about autumn."
HOSTILE = (
    "nul\x00 bell\x07 esc\x1b[31mred\x1b[0m del\x7f ]]> \"double\" 'single' "
    '<tag a="b"> & &amp; [bold]markup[/bold] | pipe *star* `tick` \ud800 \uffff end'
)
OOM = "load failed: HTTP 500: model requires more system memory (5.2 GiB) than is available"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(JUNIT_XSD)


def run(
    ttft: float = 812.0,
    *,
    passed: bool = True,
    answer: str = "The capital of France is Paris.",
    failures: tuple[str, ...] = (),
    total: float = 2.1,
    warnings: tuple[str, ...] = (),
) -> Run:
    return Run(
        passed=passed,
        answer=answer,
        failures=list(failures),
        warnings=list(warnings),
        ttft_ms=ttft,
        load_s=0.85,
        prompt_tps=36.4,
        decode_tps=30.5,
        total_s=total,
        server_total_s=total - 0.05,
        eval_count=8,
    )


def cell(package: str, variant: str, prompt: str = FRANCE, **fields: object) -> Cell:
    values: dict[str, object] = {"runs": [run()], "gpu_fraction": 1.0, **fields}
    return Cell.model_validate(
        {"package": package, "variant": variant, "tag": f"smollm2:{package}-{variant}"}
        | {"prompt": prompt}
        | values
    )


def matrix(cells: list[Cell], repeat: int = 1) -> MatrixResult:
    return MatrixResult(
        server_version="0.9.3",
        host="http://127.0.0.1:54023",
        started_at="2026-11-23T11:37:34+00:00",
        finished_at="2026-11-23T11:38:16+00:00",
        wall_s=42.3,
        repeat=repeat,
        cells=cells,
    )


@pytest.fixture
def result() -> MatrixResult:
    """Two packages: passes, a failure, a load error, a repeated cell and one never run."""
    return matrix(
        [
            cell("main-gpu", "full"),
            cell("main-gpu", "full", HAIKU, runs=[run(answer="Leaves fall\nsoftly down")]),
            cell(
                "main-gpu",
                "simple",
                runs=[run(passed=False, answer="", failures=("empty answer",))],
                gpu_fraction=0.0,
            ),
            cell("main-gpu", "lightweight", runs=[], error=OOM, gpu_fraction=None),
            cell(
                "qwen-cpu",
                "q4",
                runs=[run(800.0, total=2.0), run(812.0, total=2.1), run(865.0, total=2.2)],
            ),
            cell("qwen-cpu", "q8", runs=[], gpu_fraction=None),
        ],
        repeat=3,
    )


def suites(xml: str) -> dict[str, ET.Element]:
    return {suite.get("name", ""): suite for suite in ET.fromstring(xml).iter("testsuite")}


def counts(element: ET.Element) -> tuple[str | None, ...]:
    return tuple(element.get(name) for name in ("tests", "failures", "errors", "skipped"))


def properties(case: ET.Element) -> dict[str, str | None]:
    return {p.get("name", ""): p.get("value") for p in case.iterfind("properties/property")}


# -- JUnit ------------------------------------------------------------------------------------


def test_junit_is_valid_against_the_schema(schema: xmlschema.XMLSchema, result: MatrixResult):
    xml = to_junit(result)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')
    schema.validate(xml)


def find(root: ET.Element, path: str) -> ET.Element:
    found = root.find(path)
    assert found is not None, path
    return found


def _without_case_name(root: ET.Element) -> None:
    del find(root, "testsuite/testcase").attrib["name"]


def _case_time(root: ET.Element) -> None:
    find(root, "testsuite/testcase").set("time", "fast")


def _negative_tests(root: ET.Element) -> None:
    find(root, "testsuite").set("tests", "-1")


def _without_hostname(root: ET.Element) -> None:
    del find(root, "testsuite").attrib["hostname"]


def _failure_before_properties(root: ET.Element) -> None:
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    failure = case.find("failure")
    assert failure is not None
    case.remove(failure)
    case.insert(0, failure)


def _failure_and_error(root: ET.Element) -> None:
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    case.insert(2, ET.Element("error", message="also", type="error"))


def _zoned_timestamp(root: ET.Element) -> None:
    find(root, "testsuite").set("timestamp", "2026-11-23T11:37:34+00:00")


def _unknown_element(root: ET.Element) -> None:
    ET.SubElement(find(root, "testsuite/testcase"), "verdict")


@pytest.mark.parametrize(
    "damage",
    [
        _without_case_name,
        _case_time,
        _negative_tests,
        _without_hostname,
        _failure_before_properties,
        _failure_and_error,
        _zoned_timestamp,
        _unknown_element,
    ],
)
def test_schema_rejects_broken_documents(
    schema: xmlschema.XMLSchema, result: MatrixResult, damage: Callable[[ET.Element], None]
):
    root = ET.fromstring(to_junit(result))
    assert schema.is_valid(ET.tostring(root, "unicode"))
    damage(root)
    assert not schema.is_valid(ET.tostring(root, "unicode"))


def test_junit_counts_failures_errors_and_skips_per_package(result: MatrixResult):
    xml = to_junit(result)
    root = ET.fromstring(xml)
    assert counts(root) == ("6", "1", "1", "1")
    assert root.get("time") == "42.300"
    by_name = suites(xml)
    assert list(by_name) == ["main-gpu", "qwen-cpu"]
    gpu, cpu = by_name["main-gpu"], by_name["qwen-cpu"]
    assert counts(gpu) == ("4", "1", "1", "0")
    assert counts(cpu) == ("2", "0", "0", "1")
    assert gpu.get("hostname") == "127.0.0.1"
    assert gpu.get("timestamp") == "2026-11-23T11:37:34"
    assert gpu.get("time") == "6.300"
    assert len(gpu.findall("testcase/failure")) == 1
    assert len(gpu.findall("testcase/error")) == 1
    assert len(cpu.findall("testcase/skipped")) == 1
    assert not cpu.findall("testcase/failure") + cpu.findall("testcase/error")


def test_junit_failure_and_error_say_why(result: MatrixResult):
    cases = {
        (c.get("classname"), c.get("name")): c
        for c in ET.fromstring(to_junit(result)).iter("testcase")
    }
    failure = cases["modelpack.main-gpu.simple", FRANCE].find("failure")
    assert failure is not None
    assert failure.get("message") == "empty answer"
    assert failure.text == "run 1: empty answer\nanswer:\n"
    error = cases["modelpack.main-gpu.lightweight", FRANCE].find("error")
    assert error is not None
    assert error.get("message") == OOM
    passed = cases["modelpack.main-gpu.full", HAIKU]
    assert passed.find("failure") is None
    assert passed.find("error") is None
    out = passed.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "Leaves fall\nsoftly down" in out.text


def test_junit_properties_carry_the_timings(result: MatrixResult):
    cases = {c.get("classname"): c for c in ET.fromstring(to_junit(result)).iter("testcase")}
    repeated = cases["modelpack.qwen-cpu.q4"]
    assert repeated.get("name") == FRANCE
    assert repeated.get("time") == "6.300"
    props = properties(repeated)
    assert props["tag"] == "smollm2:qwen-cpu-q4"
    assert props["runs"] == "3"
    assert props["ttft_ms"] == "812.000"
    assert props["ttft_ms_spread"] == f"{(865 - 800) / 812:.3f}"
    assert props["load_s"] == "0.850"
    assert props["decode_tps"] == "30.500"
    assert props["prompt_tps"] == "36.400"
    assert props["gpu_fraction"] == "1.000"
    single = properties(cases["modelpack.main-gpu.simple"])
    assert single["gpu_fraction"] == "0.000"
    assert "ttft_ms_spread" not in single


def test_junit_survives_hostile_answers(schema: xmlschema.XMLSchema):
    hostile = matrix(
        [
            cell(
                "main-gpu",
                "full",
                f'Say "{HOSTILE}"',
                runs=[run(passed=False, answer=HOSTILE, failures=(f"degenerate: {HOSTILE}",))],
            ),
            cell("main-gpu", "simple", runs=[], error=f"create failed:\n{HOSTILE}"),
        ]
    )
    xml = to_junit(hostile)
    xml.encode("utf-8")
    schema.validate(xml)
    cases = list(ET.fromstring(xml).iter("testcase"))
    failure, error = cases[0].find("failure"), cases[1].find("error")
    assert failure is not None
    assert error is not None
    assert failure.text is not None
    for text in (cases[0].get("name"), failure.get("message"), failure.text, error.text):
        assert text is not None
        assert ']]> "double" \'single\' <tag a="b"> & &amp; [bold]' in text
        assert "nul\\x00 bell\\x07 esc\\x1b[31mred" in text
        assert "del\\x7f" in text
        assert "\\ud800 \\uffff end" in text
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]", text)
    assert "answer:\nnul\\x00 bell" in failure.text
    assert "\n" not in (error.get("message") or "")


# -- Markdown ---------------------------------------------------------------------------------


def table_rows(markdown: str) -> list[list[str]]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [re.split(r"(?<!\\)\|", row.strip())[1:-1] for row in rows]


def rendered(markdown: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown)


def test_markdown_is_one_table_with_a_header(result: MatrixResult):
    markdown = to_markdown(result)
    header = markdown.splitlines()[0]
    assert "ollama 0.9.3" in header
    assert "http://127.0.0.1:54023" in header
    assert "2026-11-23 11:37 UTC" in header
    assert "**3/6 passed**, 2 failed, 1 not run" in header
    rows = table_rows(markdown)
    assert [text.strip() for text in rows[0]] == list(COLUMNS)
    assert re.fullmatch(r"\|(?:-{3,}:?\|){9}", "|" + "|".join(rows[1]) + "|")
    assert len(rows) == 2 + len(result.cells)
    assert {len(row) for row in rows} == {len(COLUMNS)}
    html = rendered(markdown)
    assert html.count("<table>") == 1
    assert html.count("<tr>") == 1 + len(result.cells)
    assert html.count("<td") == len(COLUMNS) * len(result.cells)


def test_markdown_rows_show_verdicts_medians_and_spread(result: MatrixResult):
    rows = {(r[1].strip(), r[2].strip()): r for r in table_rows(to_markdown(result))[2:]}
    full = [text.strip() for text in rows["full", FRANCE]]
    assert full == ["main-gpu", "full", FRANCE, "✅", "812", "0.85", "30.5", "100", ""]
    assert rows["simple", FRANCE][3].strip() == "❌"
    assert rows["simple", FRANCE][8].strip() == "empty answer"
    assert rows["lightweight", FRANCE][8].strip() == OOM
    assert rows["q8", FRANCE][3].strip() == "⏭️"
    # (865 - 800) / 812 = 8.0% of the median, half of it either side.
    assert rows["q4", FRANCE][4].strip() == "812 ±4%"
    assert rows["q4", FRANCE][5].strip() == "0.85 ±0%"


def test_markdown_escapes_pipes_newlines_and_markup():
    hostile = matrix(
        [
            cell(
                "main-gpu",
                "full",
                "Is a | b\nor *c*?",
                runs=[run(passed=False, failures=(f"degenerate: {HOSTILE}",))],
            ),
            cell("main-gpu", "simple", runs=[run(warnings=("line one\nline | two",))]),
        ]
    )
    markdown = to_markdown(hostile)
    rows = table_rows(markdown)
    assert {len(row) for row in rows} == {len(COLUMNS)}
    assert len(rows) == 4
    html = rendered(markdown)
    html = html[html.index("<table>") :]
    assert html.count("<tr>") == 3
    assert html.count("<td") == len(COLUMNS) * 2
    assert "<td>Is a | b or *c*?</td>" in html
    assert "&lt;tag a=&quot;b&quot;&gt; &amp; &amp;amp; [bold]markup[/bold] | pipe *star*" in html
    assert "<td>line one line | two</td>" in html
    for tag in ("<em>", "<strong>", "<code>", "<tag", "<a "):
        assert tag not in html
    assert "\x1b" not in markdown
    assert "\\x1b" in markdown


def test_markdown_includes_the_baseline_comparison(result: MatrixResult):
    slower = result.model_copy(deep=True)
    slower.cells[0].runs[0].ttft_ms = 1080.0
    markdown = to_markdown(slower, comparison=compare(slower, result))
    assert "### Compared with the baseline" in markdown
    assert '- ❌ main-gpu/full "What is the capital of France?": ttft\\_ms 812 -\\> 1080 ms' in (
        markdown
    )
    html = rendered(markdown)
    assert (
        "main-gpu/full &quot;What is the capital of France?&quot;: ttft_ms 812 -&gt; 1080 ms"
        in (html)
    )
    assert "Compared with the baseline" not in to_markdown(result)


# -- terminal ---------------------------------------------------------------------------------


def test_terminal_table_colours_verdicts_and_keeps_markup_literal(result: MatrixResult):
    result.cells[2].runs[0].failures = ["degenerate: [bold]x[/bold] \x1b[2J"]
    table, notes = terminal_table(result)
    assert [column.header for column in table.columns] == [c for c in COLUMNS if c != "reason"]
    out = io.StringIO()
    console = Console(file=out, width=250, force_terminal=True, color_system="standard")
    console.print(table)
    for note in notes:
        console.print(escape(note), highlight=False)
    text = out.getvalue()
    assert re.search(r"\x1b\[32mpass\b", text)
    assert re.search(r"\x1b\[31mFAIL\b", text)
    assert "main-gpu/simple #1: degenerate: [bold]x[/bold] \\x1b[2J" in text
    assert "\x1b[2J" not in text
    assert "812 ±4%" in text


def test_terminal_table_fits_80_columns_with_prompts_and_reasons_below(result: MatrixResult):
    """CI logs are 80 columns: prompts are numbered in the table and written out below it,
    and the reasons follow, each with the cells it applies to."""
    table, notes = terminal_table(result)
    console = Console(width=80, record=True, color_system=None)
    console.print(table)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if line[:1] == "│"]
    assert [row[:4] for row in rows if row[0]] == [
        ["main-gpu", "full", "#1", "pass"],
        ["main-gpu", "full", "#2", "pass"],
        ["main-gpu", "simple", "#1", "FAIL"],
        ["main-gpu", "lightweight", "#1", "FAIL"],  # names are never cut
        ["qwen-cpu", "q4", "#1", "pass"],
        ["qwen-cpu", "q8", "#1", "not run"],
    ]
    assert notes[:2] == [f"#1: {FRANCE}", f"#2: {HAIKU}"]
    assert f"main-gpu/lightweight #1: {OOM}" in notes


def test_one_package_goes_into_the_title_not_a_column():
    cells = [cell("main-gpu", "full", expect="Paris"), cell("main-gpu", "q4", expect="Paris")]
    table, notes = terminal_table(matrix(cells))
    assert [column.header for column in table.columns][:2] == ["variant", "prompt"]
    assert str(table.title).startswith("main-gpu on ollama 0.9.3")
    assert notes == [f"#1: {FRANCE}"]


def test_markdown_counts_the_passes_without_expect():
    cells = [cell("main-gpu", "full"), cell("main-gpu", "q4", expect="Paris")]
    markdown = to_markdown(matrix(cells))
    assert markdown.endswith(
        "\n1 passing cell(s) had no expect: a pass only proves the output is not degenerate.\n"
    )
    assert "no expect" not in to_markdown(matrix(cells[1:]))


def test_a_pass_without_expect_says_it_only_proves_not_degenerate():
    cells = [
        cell("main-gpu", "full"),
        cell("main-gpu", "q4"),
        cell("main-gpu", "full", HAIKU, expect="(?i)leaves"),
        cell("main-gpu", "tiny", runs=[run(passed=False, answer="", failures=("empty answer",))]),
    ]
    _, notes = terminal_table(matrix(cells))
    assert notes == [
        f"#1: {FRANCE}",
        f"#2: {HAIKU}",
        "full #1, q4 #1: no expect: a pass only proves the output is not degenerate",
        "tiny #1: empty answer",
    ]


# -- JSON -------------------------------------------------------------------------------------


def test_json_round_trips_and_is_stable(result: MatrixResult):
    text = to_json(result)
    assert MatrixResult.model_validate_json(text) == result
    assert load_result(text, source="matrix.json") == result
    assert to_json(MatrixResult.model_validate_json(text)) == text
    assert list(json.loads(text))[:2] == ["format", "version"]
    assert text.endswith("}\n")
    assert text.count("\n") > 20


def record() -> BuildRecord:
    def prompt(text: str, ttft: float, **fields: object) -> PromptRuns:
        values: dict[str, object] = {"passed": True, "answer": "Paris.", "load_s": 0.85}
        values |= {"ttft_ms": ttft, "ttft_warm_ms": 50.2, "decode_tps": 30.5, "total_s": 2.0}
        return PromptRuns(prompt=text, runs=[Run.model_validate({**values, **fields})])

    return BuildRecord(
        package="main-gpu",
        spec_digest="sha256:" + "c" * 64,
        ollama_version="0.9.3",
        host="http://127.0.0.1:54023",
        started_at="2026-11-23T11:37:34+00:00",
        finished_at="2026-11-23T11:37:50+00:00",
        variants=[
            VariantResult(
                variant="full",
                tag="smollm2:main-gpu-full",
                verdict="passed",
                gpu_fraction=1.0,
                prompts=[prompt(FRANCE, 1763.3), prompt(HAIKU, 61.0, load_s=0.0001)],
            ),
            VariantResult(
                variant="simple",
                tag="smollm2:main-gpu-simple",
                verdict="failed",
                reason=f"{FRANCE!r}: empty answer",
                prompts=[
                    prompt(FRANCE, 1700.0, passed=False, answer="", failures=["empty answer"])
                ],
            ),
            VariantResult(
                variant="lightweight",
                tag="smollm2:main-gpu-lightweight",
                verdict="failed",
                reason=OOM,
            ),
            VariantResult(
                variant="q8",
                tag="smollm2:main-gpu-q8",
                verdict="skipped",
                reason="smoke test skipped (--no-smoke)",
            ),
        ],
        stable_tag="smollm2:main-gpu",
        stable_variant="full",
    )


def test_build_record_loads_as_a_matrix(schema: xmlschema.XMLSchema):
    loaded = load_result(record().model_dump_json(indent=2), source="build.json")
    assert isinstance(loaded, BuildRecord)
    converted = as_matrix(loaded)
    assert converted == from_record(record())
    assert converted.server_version == "0.9.3"
    assert converted.wall_s == 16.0
    keys = [(c.variant, c.prompt, c.passed, c.error) for c in converted.cells]
    assert keys == [
        ("full", FRANCE, True, None),
        ("full", HAIKU, True, None),
        ("simple", FRANCE, False, None),
        ("lightweight", NOT_RUN, False, OOM),
        ("q8", NOT_RUN, False, None),
    ]
    first = converted.cells[0]
    assert first.tag == "smollm2:main-gpu-full"
    assert first.gpu_fraction == 1.0
    assert first.runs[0].ttft_ms == 1763.3
    assert first.runs[0].load_s == 0.85
    assert converted.cells[2].failure == "empty answer"
    xml = to_junit(converted)
    schema.validate(xml)
    assert counts(suites(xml)["main-gpu"]) == ("5", "1", "1", "1")
    assert "**2/5 passed**, 2 failed, 1 not run" in to_markdown(converted)


def test_a_variant_that_failed_after_passing_prompts_gets_an_error_cell():
    timed_out = (
        record()
        .variants[0]
        .model_copy(update={"verdict": "failed", "reason": "timeout: no first token within 30 s"})
    )
    converted = from_record(record().model_copy(update={"variants": [timed_out]}))
    assert [(c.prompt, c.error) for c in converted.cells] == [
        (FRANCE, None),
        (HAIKU, None),
        (NOT_RUN, "timeout: no first token within 30 s"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "modelpack-matrix",\n  "host": }', "results.json:2: not valid JSON"),
        ("", "results.json:1: not valid JSON"),
        ("[1, 2]", "results.json: expected a JSON object, found list"),
        ('{"hello": 1}', "results.json: not a modelpack matrix result"),
        (
            '{"format": "modelpack-matrix", "version": 3}',
            "results.json: matrix result version 3 is not supported (this modelpack reads 1, 2)",
        ),
        (
            json.dumps({"format": "modelpack-matrix", "started_at": "x", "finished_at": "y"}),
            "results.json: invalid matrix result: host: Field required (and 1 more)",
        ),
        (
            json.dumps({**json.loads(record().model_dump_json()), "variants": [{"verdict": "ok"}]}),
            "results.json: invalid build record: variants.0.variant: Field required",
        ),
    ],
)
def test_garbage_is_an_input_error_naming_the_file(text: str, message: str):
    with pytest.raises(InputError) as caught:
        load_result(text, source="results.json")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
