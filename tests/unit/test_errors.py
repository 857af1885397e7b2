"""The exception tree drawn in modelpack/errors.py names every error class modelpack has."""

from __future__ import annotations

import importlib
import pkgutil

import modelpack
from modelpack import errors


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_class_is_in_the_tree() -> None:
    for module in pkgutil.walk_packages(modelpack.__path__, "modelpack."):
        if not module.name.startswith("modelpack.cli"):
            importlib.import_module(module.name)
    names = {cls.__name__ for cls in _subclasses(errors.ModelpackError)}
    assert names >= {"GGUFError", "PushFailed", "RegistryUnavailable"}  # the walk reached them
    missing = sorted(name for name in names if name not in (errors.__doc__ or ""))
    assert missing == []
