#!/usr/bin/env bash
# The main job on the embedded default: `modelpack build main-gpu`, which creates the three
# variants of the real SmolLM2 model on a real Ollama, smoke-tests them, points
# smollm2:main-gpu at the first that passed and prints its answer. It uses the Ollama at
# OLLAMA_HOST when one answers there; otherwise modelpack runs a managed one (--serve) for the
# build and stops it afterwards (its models stay in .modelpack/run/, so a rebuild is quick).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if .venv/bin/python - <<'PY'
import os, sys
from modelpack.edge.server import base_url, server_version
host = os.environ.get("OLLAMA_HOST")
sys.exit(0 if host and server_version(base_url(host)) else 1)
PY
then
    exec .venv/bin/modelpack build main-gpu "$@"
else
    exec .venv/bin/modelpack build main-gpu --serve "$@"
fi
