"""Ollama's name rules (core.package.names) against the real servers: every name modelpack
accepts, the server accepts as a copy's destination, and every name it refuses, the server
refuses too, on 0.9.3 and 0.5.4."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelpack.core.package.names import name_problem
from modelpack.edge.client import OllamaClient
from modelpack.edge.server import OllamaServer
from modelpack.errors import ServerError

pytestmark = pytest.mark.integration

NAMES = [
    # accepted
    "names-ok",
    "names-ok:pkg-full",
    "Names_Ok:Q4_K_M",
    "_n/_m:_t",
    "acme/qwen2.5:7b-instruct-q4_K_M",
    "127.0.0.1:5000/acme/names:main-gpu",
    "m" * 80 + ":" + "t" * 80,
    # refused
    "x/",
    "a//b",
    "a/b/c/d",
    "m:",
    "m" * 81,
    "m:" + "t" * 81,
    "acme:" + "p" * 40 + "-" + "v" * 40,
    "-m",
    "m:.t",
    "na.me/m",
    "host/name:space/m:t",
    "caf\u00e9",
    "a b",
]


def test_the_name_rules_are_the_servers(
    ollama_server: OllamaServer, tiny_gguf: Callable[..., Path]
) -> None:
    with OllamaClient(ollama_server.host) as client:
        digest = client.push_blob(tiny_gguf())
        if client.structured_create:
            client.create({"model": "names:base", "files": {"m.gguf": digest}})
        else:
            client.create({"model": "names:base", "modelfile": f"FROM @{digest}\n"})
        disagreements = []
        for name in NAMES:
            try:
                client.copy("names:base", name)
                server_says = None
            except ServerError as exc:
                server_says = exc.server_message or str(exc)
            ours = name_problem(name)
            if (ours is None) != (server_says is None):
                disagreements.append((name, ours, server_says))
            elif server_says is None:
                client.delete(name)
        client.delete("names:base")
    assert disagreements == []
    assert sum(name_problem(name) is None for name in NAMES) == 7
