"""The template gate on the real Ollama 0.9.3 and the real llama.cpp server, with SmolLM2.

SmolLM2's own chat template writes a default system prompt when a conversation has none; the
ChatML TEMPLATE does not. The gate must see that (unless SYSTEM fills the gap, as Ollama does
for clients that send no system message), and the prompt token counts of Ollama and
llama-server, both building the prompt from the same messages, must agree exactly with the
right TEMPLATE and disagree with a wrong one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelpack.edge.blobs import DigestCache
from modelpack.edge.client import OllamaClient
from modelpack.edge.project import open_project
from modelpack.edge.server import OllamaServer
from modelpack.jobs.build import Builder
from modelpack.jobs.events import Event
from modelpack.jobs.lifecycle import Lifecycle, PromotionFailed
from modelpack.jobs.matrix import MatrixRunner

pytestmark = pytest.mark.integration

CHATML = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)
SMOKE = """\
    smoke:
      prompts: [{prompt: "What is the capital of France?", num_predict: 4}]
      gpu: ignore
"""


# A package with the right template and, on purpose, a wrong one (zephyr for ChatML).
RIGHT_AND_WRONG = (
    "    chat_template: chatml\n"
    "    variants:\n"
    "      - {name: right, template: lightweight}\n"
    "      - {name: wrong, template: lightweight, chat_template: zephyr,"
    " chat_template_mismatch: allow}\n"
)


def project_with(folder: Path, smollm2: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "smol.gguf").symlink_to(smollm2)
    spec = f"packages:\n  pkg:\n    model: gate\n    from: smol.gguf\n{body}{SMOKE}"
    (folder / "modelpack.yaml").write_text(spec)
    return folder / "modelpack.yaml"


def build(spec: Path, host: str, events: list[Event] | None = None):  # type: ignore[no-untyped-def]
    project = open_project(spec)
    with OllamaClient(host) as client:
        builder = Builder(
            project,
            client,
            cache=DigestCache(spec.parent / "digests.json"),
            on_event=(events if events is not None else []).append,
        )
        return builder.build("pkg")


def test_the_default_system_prompt_case_is_caught(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    # A ChatML TEMPLATE given as text (no format vouched for, so no SYSTEM filled in).
    text = f"    chat_template: {{text: {json.dumps(CHATML)}}}\n"
    body = text + "    variants: [{name: bare, template: lightweight}]\n"
    record = build(project_with(tmp_path / "bare", smollm2_path, body), ollama_current.host)
    (bare,) = record.variants
    assert bare.verdict == "failed" and bare.template_parity is False
    assert bare.reason is not None
    assert bare.reason.startswith(
        "the TEMPLATE renders the conversation 'a single user turn, no system message' "
        "differently from the model's chat template, first at character 12: the chat template "
        "renders '…_start|>system\\nYou are a helpful…', the TEMPLATE '…_start|>user\\nUSER-PROBE-1"
    )
    # With a SYSTEM, Ollama sends it whenever a client sends none: no client can meet the
    # default any more, and the same TEMPLATE passes.
    body = text + "    system: Be brief.\n    variants: [{name: bare, template: lightweight}]\n"
    record = build(project_with(tmp_path / "system", smollm2_path, body), ollama_current.host)
    assert record.variants[0].template_parity is True
    assert record.variants[0].verdict == "passed"
    # A named format (or auto) writes the default as SYSTEM: the build passes honestly.
    body = "    chat_template: chatml\n    variants: [{name: named, template: lightweight}]\n"
    record = build(project_with(tmp_path / "named", smollm2_path, body), ollama_current.host)
    (named,) = record.variants
    assert "SYSTEM You are a helpful AI assistant named SmolLM, trained by Hugging Face" in (
        named.modelfile or ""
    )
    assert named.template_parity is True and named.verdict == "passed"


def test_warn_keeps_the_variant_and_says_why(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    body = (
        "    chat_template: zephyr\n    chat_template_mismatch: allow\n"
        "    variants: [{name: wrong, template: lightweight}]\n"
    )
    spec = project_with(tmp_path, smollm2_path, body)
    spec.write_text(spec.read_text() + "      template: warn\n")
    record = build(spec, ollama_current.host)
    (wrong,) = record.variants
    assert wrong.template_parity is False
    assert wrong.verdict == "passed"  # judged by its smoke test (no expect here)
    assert any(w.startswith("the TEMPLATE renders the conversation") for w in wrong.warnings)


def test_promote_runs_the_gate_before_the_smoke_test(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    """Built under warn, a wrong-template variant passes; promoted under require it fails the
    gate, the stable tag stays where it was, and its record says why."""
    spec = project_with(tmp_path, smollm2_path, RIGHT_AND_WRONG)
    spec.write_text(spec.read_text() + "      template: warn\n")
    record = build(spec, ollama_current.host)
    assert [v.verdict for v in record.variants] == ["passed", "passed"]
    assert record.stable_variant == "right"
    spec.write_text(spec.read_text().replace("      template: warn\n", ""))
    said: list[str] = []
    with OllamaClient(ollama_current.host) as client:
        stable_before = client.model_digest("gate:pkg")
        lifecycle = Lifecycle(open_project(spec), client, on_event=said.append)
        with pytest.raises(PromotionFailed) as failed:
            lifecycle.promote("pkg", "wrong")
        assert client.model_digest("gate:pkg") == stable_before
        assert "the TEMPLATE renders the conversation" in failed.value.message
        assert not any(line.startswith("smoke-testing") for line in said), said
        again = lifecycle.promote("pkg", "right")
    assert again.stable_variant == "right"
    assert said[-3:] == [
        "template parity: every probe conversation renders as the GGUF's",
        "smoke-testing gate:pkg-right",
        "gate:pkg -> gate:pkg-right",
    ], said
    saved = json.loads((tmp_path / "modelfiles" / "pkg" / "build.json").read_text())
    wrong = next(v for v in saved["variants"] if v["variant"] == "wrong")
    assert wrong["verdict"] == "failed" and wrong["template_parity"] is False


def test_prompt_tokens_match_llama_server_with_the_right_template_only(
    ollama_current: OllamaServer, smollm2_path: Path, tmp_path: Path
) -> None:
    spec = project_with(tmp_path, smollm2_path, RIGHT_AND_WRONG)
    spec.write_text(spec.read_text() + "      template: warn\n      reference: llama-server\n")
    events: list[Event] = []
    record = build(spec, ollama_current.host, events)
    right, wrong = record.variants
    assert right.prompt_token_parity is True, [e.message for e in events]
    assert right.template_parity is True
    assert wrong.prompt_token_parity is False
    token_warnings = [w for w in wrong.warnings if "prompt tokens differ" in w]
    assert token_warnings, wrong.warnings
    assert "(a template or tokenizer mismatch)" in token_warnings[0]
    # the matrix runs the same gate: under warn every run carries the warning
    project = open_project(spec)
    with OllamaClient(ollama_current.host) as client:
        result = MatrixRunner(project, client).run(["pkg"])
    by_variant = {c.variant: c for c in result.cells}
    assert not any("prompt tokens differ" in w for w in by_variant["right"].runs[0].warnings)
    assert any("prompt tokens differ" in w for w in by_variant["wrong"].runs[0].warnings)
    # under require the matrix fails the wrong variant's cells without running them
    spec.write_text(spec.read_text().replace("template: warn\n      reference: llama-server\n", ""))
    project = open_project(spec)
    with OllamaClient(ollama_current.host) as client:
        result = MatrixRunner(project, client).run(["pkg"], variants=["wrong"])
    (cell,) = result.cells
    assert not cell.passed and cell.runs == []
    assert cell.error is not None
    assert cell.error.startswith("the TEMPLATE renders the conversation 'multi-turn with a system")
