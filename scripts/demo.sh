#!/usr/bin/env bash
# The main job on the embedded default: the real SmolLM2 model on a real local Ollama.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
