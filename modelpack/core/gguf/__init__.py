"""GGUF files: the format as data, the header reader, facts, memory estimates, adapters."""
