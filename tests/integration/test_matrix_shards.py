"""A sharded matrix on two real servers merges to the unsharded matrix, cell for cell.

Four `modelpack matrix --shard I/4` runs, shards 1 and 3 on Ollama 0.9.3 and 2 and 4 on 0.5.4
(as four CI jobs on two machines would), joined by `modelpack report merge`, give the same
cells in the same order with the same verdicts as one unsharded run; timings differ and are not
compared. One prompt expects what the model never says, so verdicts are mixed and a wrong
split or merge would show. Three cells in four shards leave shard 1 empty, which passes. One
variant keeps the builds and loads, most of the test's time on a CPU server, to a minimum; the
split itself is tested on larger plans in tests/unit/test_shard.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
from click.testing import CliRunner

from modelpack.cli import cli
from modelpack.core.results.reports import JUNIT_XSD
from modelpack.edge.server import OllamaServer, base_url

pytestmark = pytest.mark.integration

SPEC = """\
packages:
  pkg:
    model: shards
    from: smol.gguf
    chat_template: chatml
    parameters: {temperature: 0, stop: ["<|im_end|>"]}
    variants: [{name: a, template: lightweight}]
    smoke:
      prompts:
        - {prompt: "What is the capital of France?", expect: Paris, num_predict: 12}
        - {prompt: "What is the capital of Germany?", expect: Berlin, num_predict: 12}
"""
NEVER = '        - {prompt: "Name a colour.", expect: "^Zebra-42$", num_predict: 4}\n'


def invoke(host: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OLLAMA_HOST": host})


def verdicts(data: dict[str, Any]) -> list[tuple[str, str, str, bool, str | None]]:
    return [
        (c["package"], c["variant"], c["prompt"], all(r["passed"] for r in c["runs"]), c["error"])
        for c in data["cells"]
    ]


def test_four_shards_on_two_servers_merge_to_the_unsharded_matrix(
    tmp_path: Path,
    smollm2_path: Path,
    ollama_current: OllamaServer,
    ollama_legacy: OllamaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "smol.gguf").symlink_to(smollm2_path)
    (tmp_path / "modelpack.yaml").write_text(SPEC)
    monkeypatch.chdir(tmp_path)
    servers = {1: ollama_current, 2: ollama_legacy, 3: ollama_current, 4: ollama_legacy}
    for server in (ollama_current, ollama_legacy):
        built = invoke(server.host, "build", "pkg")
        assert built.exit_code == 0, built.output
    # The failing prompt is added after the builds, whose smoke test it would fail.
    (tmp_path / "modelpack.yaml").write_text(SPEC + NEVER)

    whole = invoke(ollama_current.host, "matrix", "pkg", "--json", "whole.json")
    assert whole.exit_code == 1, whole.output  # the Zebra prompt fails
    for index, server in servers.items():
        shard = invoke(
            server.host, "matrix", "pkg", "--shard", f"{index}/4", "--json", f"s{index}.json"
        )
        assert shard.exit_code == (1 if index == 4 else 0), shard.output  # 4 has the Zebra
    # Given out of order, as CI artifacts may be downloaded.
    merged = invoke(
        ollama_current.host,
        "report",
        "merge",
        *(f"s{i}.json" for i in (4, 2, 3, 1)),
        "--json",
        "all.json",
        "--junit",
        "all.xml",
        "--markdown",
        "all.md",
    )
    assert merged.exit_code == 1, merged.output  # a failed cell fails the merged matrix

    expected = json.loads((tmp_path / "whole.json").read_text())
    got = json.loads((tmp_path / "all.json").read_text())
    assert len(expected["cells"]) == 3  # 1 variant x 3 prompts
    assert verdicts(got) == verdicts(expected)
    assert [v[3] for v in verdicts(got)] == [True, True, False]

    # Every shard ran its share (3 cells in 4: 0, 1, 1, 1), on its own server.
    shards = {i: json.loads((tmp_path / f"s{i}.json").read_text()) for i in servers}
    for index, server in servers.items():
        assert shards[index]["shard"] == {"index": index, "count": 4, "planned": 3}
        assert {c["host"] for c in shards[index]["cells"]} <= {base_url(server.host)}
    assert [len(shards[i]["cells"]) for i in servers] == [0, 1, 1, 1]
    # Each merged cell says which server ran it: shards 2 and 4 on 0.5.4, 3 on 0.9.3.
    versions = [c["server_version"] for c in got["cells"]]
    assert versions == [shards[i]["server_version"] for i in (2, 3, 4)]
    assert versions[0].startswith("0.5.4") and versions[1] == "0.9.3"
    assert got["shard"] is None
    assert set(got["server_version"].split(", ")) == set(versions)

    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(tmp_path / "all.xml"))
    cases = ET.parse(tmp_path / "all.xml").getroot().findall(".//testcase")
    assert len(cases) == 3
    assert sum(c.find("failure") is not None for c in cases) == 1
    assert "Cells by server:" in (tmp_path / "all.md").read_text()

    # A shard missing from the merge is an error, never a smaller green report.
    partial = invoke(ollama_current.host, "report", "merge", "s1.json", "s2.json", "s3.json")
    assert partial.exit_code == 2
    assert "shard(s) 4 of 4 missing" in partial.output
