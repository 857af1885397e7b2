"""The real llama.cpp server for tests: modelpack's own (`modelpack.edge.llama_server`)."""

from modelpack.edge.llama_server import LlamaServer

__all__ = ["LlamaServer"]
