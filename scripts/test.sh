#!/usr/bin/env bash
# The whole test suite on a fresh clone: setup, lint, then every test, the real-server ones
# included (they start their own Ollama servers on free loopback ports and stop them).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not integration"` for a quick loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
# Type-check the package, strict ([tool.mypy] in pyproject.toml).
.venv/bin/mypy
# The committed Modelfiles of the embedded default must be what its spec renders.
.venv/bin/modelpack render --check
# The committed JSON Schema of modelpack.yaml must be what the spec models generate.
.venv/bin/modelpack schema --check --output schemas/modelpack.schema.json
# The whole suite (no arguments: what .ci/run runs) fuzzes with every example and runs the
# `heavy` worst cases; a selection such as the quick `-m "not integration"` loop runs a tenth of
# the examples and leaves the heavy cases out (tests/helpers/budget.py, tests/conftest.py).
if [ $# -eq 0 ]; then export MODELPACK_SUITE=full; fi
exec .venv/bin/python -m pytest "$@"
