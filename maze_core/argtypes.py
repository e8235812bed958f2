"""Arguments against their annotations: a value given to a tool when a workflow is built
is checked against the parameter's built-in class, so a wrong type fails at ``add`` with
the parameter named, not in a worker minutes later."""

from __future__ import annotations

import contextlib
import numbers
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from maze_core.errors import ValidationError
from maze_core.tools import ToolSpec

__all__ = ["check_types"]


def check_types(spec: ToolSpec, arguments: Mapping[str, Any], skip: Callable[[Any], bool]) -> None:
    """A value given for a parameter annotated with a built-in class (or a union of them,
    or a generic whose origin is one) must be an instance of it, unless ``skip`` says it is
    not given yet (it holds a ref); anything else is left to the tool. Numbers follow
    Python's tower (an ``int``, or a NumPy integer, passes for ``float``) and ``bytearray``
    passes for ``bytes``."""
    hints = _hints(spec.fn)
    for name, value in arguments.items():
        expected = _classes(hints.get(name))
        if not expected or skip(value):
            continue
        if not isinstance(value, tuple(c for cls in expected for c in _ACCEPTS.get(cls, (cls,)))):
            wanted = " | ".join(cls.__name__ for cls in expected)
            raise ValidationError(
                f"tool {spec.name!r} takes {name}: {wanted}, but was given"
                f" {type(value).__name__} {value!r:.60}",
                fix=f"pass {name} as {wanted} (or convert it in the tool, annotated as such)",
                culprit=f"{spec.name}.{name}",
            )


_ACCEPTS: dict[type, tuple[type, ...]] = {  # what type checkers let pass for these
    int: (numbers.Integral,),
    float: (numbers.Real,),
    complex: (numbers.Complex,),
    bytes: (bytes, bytearray, memoryview),
}


_HINTS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s resolved annotations, cached while ``fn`` lives (tools made on the fly, such
    as lambdas, must not be kept alive by the cache)."""
    try:
        return _HINTS[fn]
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable (builtins)
        pass
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # forward references that do not resolve: check nothing
        hints = {}
    with contextlib.suppress(TypeError):
        _HINTS[fn] = hints
    return hints


def _classes(annotation: Any) -> tuple[type, ...]:
    """The classes ``annotation`` admits, or () when it is not simple enough to check."""
    if annotation is None or annotation is Any:
        return ()
    if annotation is type(None):
        return (type(None),)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        parts = [_classes(arg) for arg in typing.get_args(annotation)]
        return () if any(not part for part in parts) else tuple(c for p in parts for c in p)
    if origin is not None:
        return (origin,) if isinstance(origin, type) else ()
    if isinstance(annotation, type) and annotation.__module__ == "builtins":
        return (annotation,)
    return ()  # user classes, protocols, TypeVars: duck typing is the tool's business
