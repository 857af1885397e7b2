"""Modelfiles as Ollama reads them: syntax, parameters by version, lint, create requests, drift."""
