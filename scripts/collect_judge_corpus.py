"""Collect real model answers for the degenerate-output calibration corpus (tests/data/judge/).

Runs the real Ollama servers of the test rig (0.9.3 and 0.5.4, CPU) and asks:

- SmolLM2-135M-Instruct with its own ChatML template (the good answers);
- the same weights under wrong templates (bare prompt, Mistral, Llama 2, Gemma, Llama 3,
  Alpaca, Vicuna, Phi-3, Zephyr, ChatML without its stop): some answers are fine, many are
  empty, leak turn markers, loop or ramble;
- random-weight GGUFs from tests/helpers/tiny_gguf.py (several seeds and shapes), at
  temperature 0 and 0.9: pure gibberish.

Every answer is written as one JSON line: text, prompt, lang, origin
(`real:<server-version>:<model>:<how>`), done_reason, and a proposed label (`good` for the
right template, `degenerate` for random weights, `review` for wrong templates). The labels in
the committed corpus were then checked by hand, answer by answer (docs/judge.md says how);
this script never looks at modelpack's own judgement, so the corpus does not grade itself.

    .venv/bin/python scripts/collect_judge_corpus.py --out /tmp/real.jsonl [--servers current]

Generation is deterministic (seed 1), so a rerun on the same builds gives the same answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))
sys.path.insert(0, str(SCRIPTS.parent / "tests"))

import fetch_model  # noqa: E402
import ollama_server as rig  # noqa: E402
from helpers.tiny_gguf import write_tiny_gguf  # noqa: E402

from modelpack.edge.client import OllamaClient  # noqa: E402
from modelpack.edge.server import OllamaServer  # noqa: E402

PROMPTS: list[tuple[str, str]] = [
    ("en", "What is the capital of France?"),
    ("en", "Name three primary colors."),
    ("en", "Write a Python function that returns the square of a number."),
    ("en", "Write a short poem about the sea."),
    ("en", "Give me three tips for learning a new language."),
    ("en", "Explain what a CPU is in one sentence."),
    ("fr", "Quelle est la capitale de la France ?"),
    ("de", "Was ist die Hauptstadt von Deutschland?"),
    ("ja", "日本の首都はどこですか？"),  # noqa: RUF001
    ("zh", "中国的首都是哪里？"),  # noqa: RUF001
]
CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
WRONG: dict[str, str] = {
    "bare": "{{ .Prompt }}",
    "mistral": "[INST] {{ .Prompt }} [/INST]",
    "llama2": "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\n{{ .Prompt }} [/INST]",
    "gemma": "<start_of_turn>user\n{{ .Prompt }}<end_of_turn>\n<start_of_turn>model\n",
    "gemma-repeated-end": (
        "<start_of_turn>user\n{{ .Prompt }}<end_of_turn>\n<end_of_turn>\n<end_of_turn>\n"
        "<start_of_turn>model\n"
    ),
    "llama3": (
        "<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "alpaca": "### Instruction:\n{{ .Prompt }}\n\n### Response:\n",
    "vicuna": "USER: {{ .Prompt }}\nASSISTANT:",
    "phi3": "<|user|>\n{{ .Prompt }}<|end|>\n<|assistant|>\n",
    "zephyr": "<|user|>\n{{ .Prompt }}</s>\n<|assistant|>\n",
    "chatml-no-stop": CHATML,
}
TINY_SHAPES: list[dict[str, Any]] = [
    {"seed": seed, "n_embd": embd, "n_layer": layers}
    for seed, embd, layers in [(0, 64, 2), (1, 64, 2), (2, 128, 2), (3, 32, 1), (4, 64, 4)]
]


def _create(client: OllamaClient, model: str, digest: str, template: str, stop: list[str]) -> None:
    """Create through the server's own protocol: structured on 0.9.3, Modelfile text on 0.5.4."""
    if client.structured_create:
        parameters: dict[str, Any] = {"num_ctx": 2048, **({"stop": stop} if stop else {})}
        request: dict[str, Any] = {
            "model": model,
            "files": {"model.gguf": digest},
            "template": template,
            "parameters": parameters,
        }
    else:
        modelfile = f'FROM @{digest}\nTEMPLATE """{template}"""\nPARAMETER num_ctx 2048\n'
        modelfile += "".join(f'PARAMETER stop "{s}"\n' for s in stop)
        request = {"model": model, "modelfile": modelfile}
    reply = client.create(request)
    if reply[-1] != {"status": "success"}:
        raise SystemExit(f"create {model} failed: {reply[-1]}")


def _answer(
    client: OllamaClient, model: str, prompt: str, options: dict[str, Any]
) -> tuple[str, str | None]:
    parts: list[str] = []
    final: dict[str, Any] = {}
    for chunk in client.generate(model, prompt, options=options, timeout=300):
        parts.append(chunk.get("response", ""))
        final = chunk
    return "".join(parts), final.get("done_reason")


def _collect(
    client: OllamaClient, smollm2: Path, tiny_dir: Path, *, full: bool
) -> Iterator[dict[str, Any]]:
    """Random weights first (fast), then the right template, then the wrong ones. The first
    server gets more prompts than the others: SmolLM2 makes a token or two a second on two busy
    cores, and a run should stay within half an hour."""
    version = client.version()
    digest = client.push_blob(smollm2)
    greedy = {"temperature": 0, "seed": 1, "num_predict": 48, "num_thread": 1}
    short = {**greedy, "num_predict": 32}
    prompts = PROMPTS[::5] if full else PROMPTS[2:3]

    def record(text: str, done: str | None, lang: str, prompt: str, how: str, label: str) -> Any:
        model = "smollm2-135m" if not how.startswith("tiny") else "tiny-random"
        print(f"{version} {how}: {text[:60]!r}", file=sys.stderr)
        return {
            "text": text,
            "prompt": prompt,
            "label": label,
            "lang": lang,
            "origin": f"real:{version}:{model}:{how}",
            "done_reason": done,
        }

    for shape in TINY_SHAPES if full else TINY_SHAPES[:3]:
        path = write_tiny_gguf(tiny_dir / f"tiny-{shape['seed']}.gguf", **shape)
        model = f"judge-tiny-{shape['seed']}:c"
        tiny_digest = client.push_blob(path)
        _create(client, model, tiny_digest, "{{ .Prompt }}", [])
        for temperature in (0, 0.9):
            options = {"temperature": temperature, "seed": 1, "num_predict": 48, "num_thread": 1}
            for lang, prompt in PROMPTS[:: 3 if temperature else 4]:
                text, done = _answer(client, model, prompt, options)
                how = f"tiny-seed{shape['seed']}-t{temperature}"
                yield record(text, done, lang, prompt, how, "degenerate")
        client.delete(model)
    _create(client, "judge-chatml:c", digest, CHATML, ["<|im_end|>"])
    for lang, prompt in PROMPTS[:8] if full else PROMPTS[1::3]:
        text, done = _answer(client, "judge-chatml:c", prompt, greedy)
        yield record(text, done, lang, prompt, "chatml", "good")
    for name, template in WRONG.items():
        model = f"judge-{name}:c"
        _create(client, model, digest, template, [])
        for lang, prompt in prompts:
            text, done = _answer(client, model, prompt, short)
            yield record(text, done, lang, prompt, f"template-{name}", "review")
        client.delete(model)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--servers", default="current,legacy", help="rig builds to ask")
    args = parser.parse_args(argv)
    smollm2 = fetch_model.fetch()
    count = 0
    with (
        tempfile.TemporaryDirectory(prefix="judge-corpus-") as tmp,
        args.out.open("w", encoding="utf-8") as out,
    ):
        for index, name in enumerate(args.servers.split(",")):
            work = Path(tmp) / name
            work.mkdir()
            with (
                OllamaServer(rig.install(name), work, ready_timeout=60) as server,
                OllamaClient(server.host, api_timeout=300) as client,
            ):
                for item in _collect(client, smollm2, work, full=index == 0):
                    out.write(json.dumps(item, ensure_ascii=False) + "\n")
                    out.flush()
                    count += 1
    print(f"wrote {count} answers to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
