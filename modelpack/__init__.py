"""modelpack: build, validate, smoke-test and publish Ollama models from declared packages.

This file holds the version only: importing the CLI imports it, so it must stay light.
"""

__version__ = "0.1.0"
