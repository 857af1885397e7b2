"""The starter spec `modelpack init` writes for a GGUF: valid as written, commented for people."""

from __future__ import annotations

import re

from modelpack.core.package.schema import SCHEMA_FILE, modeline
from modelpack.core.package.spec import NAME

_STARTER = """\
{modeline}
# modelpack spec: what to build, declared once. `modelpack render {package}` writes the
# variants to modelfiles/{package}/; `modelpack lint modelfiles/` checks them.
schema_version: 1

ollama:
  version: "{version}"      # target Ollama version for rendering and checks

packages:
  {package}:
    model: {model}
    from: {source}
    chat_template: {chat_template}
    parameters:
      temperature: 0.7
    variants:               # the fallback chain, best first
      - full
      - simple
      - lightweight
    smoke:
      prompts:
        - prompt: What is the capital of France?
          expect: Paris
      gpu: prefer
"""


def model_name(stem: str) -> str:
    """A tag prefix from a GGUF file name: SmolLM2-135M-Instruct.Q4_1 -> smollm2-135m-instruct."""
    base = re.sub(r"[.-](?:[QqFf]\d.*|IQ\d.*|BF16|bf16)$", "", stem)
    name = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-._")
    return name[:63] or "model"


def starter_spec(
    *,
    package: str,
    model: str,
    source: str,
    chat_template: str,
    version: str,
    schema: str = SCHEMA_FILE,
) -> str:
    """The starter spec; its first line points editors at `schema` (a path relative to the
    spec, or a URL), the JSON Schema `init` writes next to it."""
    if not re.match(NAME, package):
        raise ValueError(f"{package!r} is not a valid package name")
    quoted = source if re.fullmatch(r"[A-Za-z0-9_./~-]+", source) else f'"{source}"'
    return _STARTER.format(
        modeline=modeline(schema),
        package=package,
        model=model,
        source=quoted,
        chat_template=chat_template,
        version=version,
    )
