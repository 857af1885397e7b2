"""Why the adapter check runs before create: the real servers accept any ADAPTER at create time
and fail only when the model loads. A matching adapter loads and answers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.tiny_gguf import write_tiny_lora

from modelpack.core.gguf.adapter import adapter_problems
from modelpack.core.gguf.reader import read_gguf
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError

pytestmark = pytest.mark.integration


def create_with_adapter(client: OllamaClient, name: str, base: Path, adapter: Path) -> None:
    base_digest = client.push_blob(base)
    adapter_digest = client.push_blob(adapter)
    if client.structured_create:
        client.create(
            {
                "model": name,
                "files": {base.name: base_digest},
                "adapters": {adapter.name: adapter_digest},
            }
        )
    else:
        client.create(
            {"model": name, "modelfile": f"FROM @{base_digest}\nADAPTER @{adapter_digest}\n"}
        )


def first_chunk(client: OllamaClient, name: str) -> dict[str, object]:
    return next(iter(client.generate(name, "the", options={"num_predict": 1, "temperature": 0})))


def test_matching_adapter_loads_and_mismatched_one_fails_only_at_load(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path], tmp_path: Path
) -> None:
    base = tiny_gguf(name="base.gguf", n_embd=64, n_head=4)
    good = write_tiny_lora(tmp_path / "good-lora.gguf", n_embd=64, n_head=4)
    bad = write_tiny_lora(tmp_path / "bad-lora.gguf", n_embd=32, n_head=4)
    base_info = read_gguf(base)
    assert adapter_problems(read_gguf(good), base_info) == []
    assert adapter_problems(read_gguf(bad), base_info)[0].startswith(
        "embedding length 32 does not match the base's 64"
    )

    with OllamaClient(ollama_server.host, api_timeout=120) as client:
        create_with_adapter(client, "adapter-good:test", base, good)
        assert "response" in first_chunk(client, "adapter-good:test")

        create_with_adapter(client, "adapter-bad:test", base, bad)  # accepted: no check
        with pytest.raises(ServerError) as failed:
            first_chunk(client, "adapter-bad:test")
        assert failed.value.status_code == 500
        assert "llama runner process has terminated" in str(failed.value)
        assert ollama_server.alive
