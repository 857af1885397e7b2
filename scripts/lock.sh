#!/usr/bin/env bash
# Regenerate requirements-dev.lock, the pinned versions of modelpack's dependencies and its test
# and development tools (pyproject.toml's `test` extra) that scripts/setup.sh installs, with
# pip-tools' pip-compile. Extra arguments go to pip-compile: `scripts/lock.sh --upgrade` moves
# every pin to the newest release, `--upgrade-package ruff` just one. Commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
tools=.modelpack/lock-tools
if [ ! -x "$tools/bin/pip-compile" ]; then
    "$python" -m venv "$tools"
    "$tools/bin/python" -m pip install -q --disable-pip-version-check "pip-tools==7.7.0"
fi
# The lock's header names this script as the command that made it.
export CUSTOM_COMPILE_COMMAND=scripts/lock.sh
exec "$tools/bin/pip-compile" --quiet --extra test --strip-extras --allow-unsafe \
    --no-emit-index-url --no-emit-find-links \
    --output-file requirements-dev.lock "$@" pyproject.toml
