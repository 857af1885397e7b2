#!/usr/bin/env bash
# Set up a fresh clone, idempotently: a virtualenv in .venv with modelpack and its pinned test
# dependencies (requirements-dev.lock), both real Ollama CPU builds (scripts/ollama_server.py),
# the real SmolLM2 model in gguf/ (scripts/fetch_model.py), and the registry rig
# (scripts/registry_rig.py: Debian's docker-registry and nginx unpacked into .modelpack/registry,
# nothing installed system-wide).
# A second run only checks that everything is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: modelpack needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv

# The Python dependencies and the test and development tools at the versions pinned in
# requirements-dev.lock (made by scripts/lock.sh with pip-tools), so that a new release of a
# linter or type checker changes nothing until the lock is regenerated; then modelpack itself,
# editable, built with the pinned setuptools. Reinstalled only when pyproject.toml or the lock
# changed.
stamp=.venv/.modelpack-deps
want=$(cat pyproject.toml requirements-dev.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the pinned dependencies (requirements-dev.lock) and modelpack" >&2
    pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
    if ! "${pip[@]}" -r requirements-dev.lock; then
        echo "error: pip could not install requirements-dev.lock (its message is above)" >&2
        exit 2
    fi
    if ! "${pip[@]}" --no-deps --no-build-isolation -e .; then
        echo "error: pip could not install modelpack itself (its message is above)" >&2
        exit 2
    fi
    echo "$want" > "$stamp"
fi

.venv/bin/python scripts/ollama_server.py install all >/dev/null
.venv/bin/python scripts/fetch_model.py >/dev/null
# The registry rig needs Debian's apt-get and dpkg-deb: elsewhere the registry tests skip, but
# never under CI=true.
if ! .venv/bin/python scripts/registry_rig.py install >/dev/null; then
    [ "${CI:-}" != true ] || exit 2
    echo "setup: warning: no registry rig (the error is above); its tests will skip" >&2
fi
echo "setup: ready (.venv, Ollama builds in .modelpack/ollama, registry rig in" \
    ".modelpack/registry, model in gguf/)" >&2
