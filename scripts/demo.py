#!/usr/bin/env python3
"""The main job on the embedded default, until `modelpack build main-gpu` exists.

Makes a real Ollama available (the one answering at OLLAMA_HOST, else a managed one: the
`ollama` on PATH or the installed CPU build), uploads the real SmolLM2 GGUF once, creates
`smollm2-demo:latest` with a ChatML TEMPLATE through the create protocol the server speaks, and
streams its answer to "What is the capital of France?". A server it started is stopped at the end.

    python scripts/demo.py [--prompt TEXT] [--model PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))

import fetch_model  # noqa: E402
import ollama_server as rig  # noqa: E402

from modelpack.edge.client import OllamaClient  # noqa: E402
from modelpack.edge.server import OllamaBuild, OllamaServer, base_url, server_version  # noqa: E402
from modelpack.errors import ModelpackError  # noqa: E402

CHATML = (
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "<|im_start|>user\n{{ .Prompt }}<|im_end|>\n<|im_start|>assistant\n"
)
MODEL_NAME = "smollm2-demo:latest"


@contextlib.contextmanager
def ollama_host() -> Iterator[str]:
    """OLLAMA_HOST if a server answers there, else a managed server for the duration."""
    external = os.environ.get("OLLAMA_HOST")
    if external and server_version(base_url(external)):
        print(f"using the Ollama at {external}", file=sys.stderr)
        yield external
        return
    if external:
        print(
            f"nothing answers at OLLAMA_HOST={external}; starting a managed server", file=sys.stderr
        )
    build = OllamaBuild.on_path() or rig.install("current")
    with (
        tempfile.TemporaryDirectory(prefix="modelpack-demo-") as workdir,
        OllamaServer(build, Path(workdir)) as server,
    ):
        print(f"started Ollama {server.version} ({build.name}) at {server.host}", file=sys.stderr)
        yield server.host


def run(prompt: str, model_path: Path) -> None:
    with ollama_host() as host, OllamaClient(host) as client:
        digest = client.push_blob(model_path)
        stop = "<|im_end|>"
        if client.structured_create:
            request = {
                "model": MODEL_NAME,
                "files": {model_path.name: digest},
                "template": CHATML,
                "parameters": {"stop": [stop], "temperature": 0.0},
            }
        else:
            request = {
                "model": MODEL_NAME,
                "modelfile": f'FROM @{digest}\nPARAMETER stop "{stop}"\n'
                f'PARAMETER temperature 0\nTEMPLATE """{CHATML}"""\n',
            }
        client.create(request)
        print(f"created {MODEL_NAME} on Ollama {client.version()}", file=sys.stderr)
        print(f">>> {prompt}", file=sys.stderr)
        final: dict[str, object] = {}
        for chunk in client.generate(MODEL_NAME, prompt, options={"num_predict": 64}):
            print(chunk.get("response", ""), end="", flush=True)
            final = chunk
        print()
        eval_count = int(final.get("eval_count", 0))  # type: ignore[call-overload]
        eval_ns = int(final.get("eval_duration", 0)) or 1  # type: ignore[call-overload]
        load_ns = int(final.get("load_duration", 0))  # type: ignore[call-overload]
        print(
            f"{eval_count} tokens at {eval_count / eval_ns * 1e9:.1f} tokens/s, "
            f"load {load_ns / 1e9:.2f} s",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt", default="What is the capital of France?")
    parser.add_argument("--model", type=Path, default=None, help="default: the SmolLM2 GGUF")
    args = parser.parse_args(argv)
    try:
        run(args.prompt, args.model or fetch_model.fetch())
    except ModelpackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
