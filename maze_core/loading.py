"""Find a Workflow a user defined: ``path/to/file.py:attr`` or ``package.module:attr``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from maze_core.errors import ValidationError
from maze_core.graph import Workflow

__all__ = ["load_workflow"]

_FIX = (
    "give FILE.py:NAME or package.module:NAME, where NAME is a Workflow or a function returning one"
)


def load_workflow(target: str) -> Workflow:
    """Import ``target`` and return the Workflow it names (calling a factory if needed)."""
    location, _, attr = target.rpartition(":")
    if not location or not attr:
        raise ValidationError(f"{target!r} does not name a workflow", fix=_FIX, culprit=target)
    module = _import(location)
    try:
        value: Any = getattr(module, attr)
    except AttributeError:
        raise ValidationError(
            f"{location!r} has no attribute {attr!r}", fix=_FIX, culprit=target
        ) from None
    if callable(value) and not isinstance(value, Workflow):
        value = value()
    if not isinstance(value, Workflow):
        raise ValidationError(
            f"{target!r} is a {type(value).__name__}, not a Workflow", fix=_FIX, culprit=target
        )
    return value


def _import(location: str) -> Any:
    path = Path(location)
    if location.endswith(".py") or path.is_file():
        if not path.is_file():
            raise ValidationError(f"no file {location!r}", fix=_FIX, culprit=location)
        name = f"maze_user_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # so process workers and pickling can find it by name
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as exc:
        raise ValidationError(
            f"cannot import {location!r}: {exc}", fix=_FIX, culprit=location
        ) from None
