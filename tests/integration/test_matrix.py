"""`modelpack matrix` and `modelpack report` against the real server and the real model."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import xmlschema
from click.testing import CliRunner
from markdown_it import MarkdownIt

from modelpack.cli import cli
from modelpack.core.results.reports import JUNIT_XSD
from modelpack.edge.load import PSI_CPU
from modelpack.edge.server import OllamaServer

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: mx
    from: smol.gguf
    chat_template: chatml
    parameters: {{temperature: 0, stop: ["<|im_end|>"]}}
    variants:
      - {{name: a, template: lightweight}}
      - {{name: b, template: simple{b_extra}}}
    smoke:
      prompts:
        - {{prompt: "What is the capital of France?", expect: Paris, num_predict: 16}}
        - {{prompt: "What is the capital of Germany?", expect: Berlin, num_predict: 16}}
"""


@pytest.fixture
def project(
    tmp_path: Path,
    smollm2_path: Path,
    tiny_gguf: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    tiny_gguf("bogus.gguf", arch="bogusarch")  # written into tmp_path, beside the spec
    (tmp_path / "modelpack.yaml").write_text(SPEC.format(b_extra=""))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(host: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": host})


def test_matrix_writes_every_report_and_they_are_valid(
    ollama_current: OllamaServer, project: Path
) -> None:
    result = invoke(
        ollama_current.host,
        "matrix",
        "pkg",
        "--build",
        "--repeat",
        "2",
        "--json",
        "m.json",
        "--junit",
        "m.xml",
        "--markdown",
        "m.md",
    )
    assert result.exit_code == 0, result.output
    data = json.loads((project / "m.json").read_text())
    assert len(data["cells"]) == 4  # 2 variants x 2 prompts
    assert all(len(cell["runs"]) == 2 for cell in data["cells"])
    assert all(run["passed"] for cell in data["cells"] for run in cell["runs"])
    assert data["server_version"] == "0.9.3"
    # what served each variant: declared (the rendered Modelfile) and reported (/api/show)
    targets = {t["tag"]: t for t in data["targets"]}
    assert set(targets) == {"mx:pkg-a", "mx:pkg-b"}
    for target in targets.values():
        assert (target["engine"], target["version"]) == ("ollama", "0.9.3")
        assert target["declared"]["temperature"] == target["reported"]["temperature"] == "0"
        assert len(target["reported"]["digest"]) == 12
    if PSI_CPU.exists():  # how contended the CPU was, for the baseline comparison
        assert all(0 <= cell["cpu_pressure"] <= 1 for cell in data["cells"])

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(project / "m.xml"))
    cases = ET.parse(project / "m.xml").getroot().findall(".//testcase")
    assert len(cases) == 4
    assert {c.get("classname") for c in cases} == {"modelpack.pkg.a", "modelpack.pkg.b"}

    html = MarkdownIt().enable("table").render((project / "m.md").read_text())
    assert html.count("<tr>") == 5  # a header row and 4 cells

    again = invoke(ollama_current.host, "report", "m.json", "--markdown", "again.md")
    assert again.exit_code == 0
    assert (project / "again.md").read_text() == (project / "m.md").read_text()


def test_failing_variant_is_a_failed_testcase_and_exit_1(
    ollama_current: OllamaServer, project: Path
) -> None:
    """Variant b from a GGUF with an unknown architecture: a real 500 at load."""
    (project / "modelpack.yaml").write_text(
        SPEC.format(b_extra=", from: bogus.gguf, preflight: false")
    )
    result = invoke(ollama_current.host, "matrix", "pkg", "--build", "--junit", "m.xml")
    assert result.exit_code == 1, result.output
    root = ET.parse(project / "m.xml").getroot()
    failed = [
        c
        for c in root.iter("testcase")
        if c.find("failure") is not None or c.find("error") is not None
    ]
    assert {c.get("classname") for c in failed} == {"modelpack.pkg.b"}
    problem = (
        failed[0].find("failure")
        if failed[0].find("failure") is not None
        else failed[0].find("error")
    )
    assert problem is not None
    assert "500" in (problem.get("message") or "")


def test_report_renders_a_build_record(ollama_current: OllamaServer, project: Path) -> None:
    built = invoke(ollama_current.host, "build", "pkg")
    assert built.exit_code == 0, built.output
    result = invoke(ollama_current.host, "report", "modelfiles/pkg/build.json", "--junit", "b.xml")
    assert result.exit_code == 0, result.output
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(project / "b.xml"))
    assert len(ET.parse(project / "b.xml").getroot().findall(".//testcase")) == 4


def test_baseline_clean_on_identical_rerun_and_flags_a_new_failure(
    ollama_current: OllamaServer, project: Path
) -> None:
    first = invoke(
        ollama_current.host, "matrix", "pkg", "--build", "--repeat", "2", "--json", "base.json"
    )
    assert first.exit_code == 0, first.output
    # Timing on a shared 2-core CI machine varies by tens of percent between identical runs,
    # and by 3-30x when other work contends for the CPU: such cells are not judged on timing
    # (their measured contention says so). The regression injected below is a new failure,
    # which counts whatever the threshold and however busy the machine.
    rerun = invoke(
        ollama_current.host,
        "matrix",
        "pkg",
        "--repeat",
        "2",
        "--baseline",
        "base.json",
        "--threshold",
        "0.5",
    )
    assert rerun.exit_code == 0, rerun.output
    # An injected regression: variant b now stops at "Paris", so its expect for Rome fails
    # (a deterministic change; timing regressions are covered with synthetic data in unit tests).
    spec = SPEC.format(b_extra="").replace(
        "{name: b, template: simple}",
        '{name: b, template: simple, parameters: {stop: ["<|im_end|>", "Rome", "capital"]}}',
    )
    (project / "modelpack.yaml").write_text(spec)
    regressed = invoke(ollama_current.host, "matrix", "pkg", "--build", "--baseline", "base.json")
    assert regressed.exit_code == 1
    assert "pkg/b" in regressed.stdout
    # the changed config is named: b's stop list (declared and reported) and its new model
    assert "pkg (mx:pkg-b): config stop " in regressed.stdout
    assert "pkg (mx:pkg-a): config" not in regressed.stdout


def test_matrix_over_the_embedded_main_gpu(
    ollama_current: OllamaServer,
    smollm2_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The repo's own main-gpu: three variants x its prompts, every report format."""
    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / smollm2_path.name).symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text((repo / "modelpack.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    result = invoke(
        ollama_current.host,
        "matrix",
        "main-gpu",
        "--build",
        "--json",
        "m.json",
        "--junit",
        "m.xml",
        "--markdown",
        "m.md",
    )
    assert result.exit_code == 0, result.output
    cells = json.loads((tmp_path / "m.json").read_text())["cells"]
    assert [c["variant"] for c in cells] == ["full", "simple", "lightweight"]
    assert all("Paris" in c["runs"][0]["answer"] for c in cells)
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(tmp_path / "m.xml"))
    assert "<table>" in MarkdownIt().enable("table").render((tmp_path / "m.md").read_text())
