"""Arguments against a tool's signature and annotations: a call given to a tool when a
workflow is built must bind to its parameters, and each value must be an instance of its
parameter's built-in class, so a wrong call fails at ``add`` with the parameter named, not
in a worker minutes later. Numbers follow Python's tower (an ``int``, or a NumPy integer,
passes for ``float``) and ``bytearray`` passes for ``bytes``."""

from __future__ import annotations

import contextlib
import inspect
import numbers
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from maze_core.errors import ValidationError
from maze_core.tools import ToolSpec

__all__ = ["RESERVED", "Binder"]

RESERVED = frozenset({"after", "task_name"})  # keywords of Workflow.add itself


class Binder:
    """How calls of one tool bind to its parameters, worked out once per tool: the common
    call (positional arguments only, for a function of plain parameters) binds without
    ``inspect``, whose binder cost more than the rest of adding a task."""

    __slots__ = ("_checks", "_plain", "_required", "name", "signature")

    def __init__(self, spec: ToolSpec) -> None:
        self.name = spec.name
        self.signature, self._plain, self._required, self._checks = _shape(spec.fn)
        clash = RESERVED & set(self.signature.parameters)
        if clash:
            raise ValidationError(
                f"tool {spec.name!r} has a parameter named {sorted(clash)[0]!r}, which"
                " Workflow.add reserves",
                fix="rename that parameter of the tool",
                culprit=spec.name,
            )

    def bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], skip: Callable[[Any], bool]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call as positional and keyword arguments the way the signature binds them,
        each value checked against its parameter's annotation (unless ``skip`` says it
        is not given yet: it holds a ref), or a ValidationError saying what is wrong."""
        plain = self._plain
        if plain is not None and not kwargs and self._required <= len(args) <= len(plain):
            arguments: Mapping[str, Any] = dict(zip(plain, args, strict=False))
        else:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                wrong = self._mismatch(kwargs, exc)
                raise ValidationError(
                    f"cannot call tool {self.name!r}{self.signature}: {wrong}",
                    fix="pass exactly the parameters the tool declares",
                    culprit=self.name,
                ) from None
            args, kwargs, arguments = bound.args, bound.kwargs, bound.arguments
        checks = self._checks
        for name, value in arguments.items():
            accepted = checks.get(name)
            if accepted and not isinstance(value, accepted[0]) and not skip(value):
                wanted = " | ".join(cls.__name__ for cls in accepted[1])
                raise ValidationError(
                    f"tool {self.name!r} takes {name}: {wanted}, but was given"
                    f" {type(value).__name__} {value!r:.60}",
                    fix=f"pass {name} as {wanted} (or convert it in the tool, annotated as such)",
                    culprit=f"{self.name}.{name}",
                )
        return args, kwargs

    def _mismatch(self, kwargs: dict[str, Any], error: TypeError) -> str:
        """What is wrong: unknown arguments first (the likelier typo), then the binder's word."""
        params = self.signature.parameters
        if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
            unknown = [name for name in kwargs if name not in params]
            if unknown:
                return f"unexpected keyword argument {', '.join(map(repr, unknown))}"
        return str(error)


def _accepted(annotation: Any) -> tuple[tuple[type, ...], tuple[type, ...]] | None:
    """For a parameter annotated with a built-in class (or a union of them, or a generic
    whose origin is one): the classes its values may be instances of, and the classes
    to name in an error; None where anything goes (it is the tool's business)."""
    expected = _classes(annotation)
    if not expected:
        return None
    return tuple(c for cls in expected for c in _ACCEPTS.get(cls, (cls,))), expected


_ACCEPTS: dict[type, tuple[type, ...]] = {  # what type checkers let pass (exact class first)
    int: (int, numbers.Integral),
    float: (float, int, numbers.Real),
    complex: (complex, numbers.Complex),
    bytes: (bytes, bytearray, memoryview),
}


_Shape = tuple[inspect.Signature, tuple[str, ...] | None, int, dict[str, Any]]
_SHAPES: weakref.WeakKeyDictionary[Any, _Shape] = weakref.WeakKeyDictionary()


def _shape(fn: Callable[..., Any]) -> _Shape:
    """``fn``'s signature, its parameter names if all are plain (positional or keyword),
    how many are required, and each one's accepted classes: worked out once while ``fn``
    lives (each workflow binds its own tools; an adapter makes two per node), and not kept
    alive by the cache (tools made on the fly, such as lambdas)."""
    try:
        return _SHAPES[fn]
    except (KeyError, TypeError):  # not seen yet, or not weak-referenceable (builtins)
        pass
    signature = inspect.signature(fn)
    params = signature.parameters
    plain = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params.values())
    required = sum(p.default is p.empty for p in params.values())
    hints = _hints(fn)
    checks = {name: _accepted(hints.get(name)) for name in params}
    shape = (signature, tuple(params) if plain else None, required, checks)
    with contextlib.suppress(TypeError):
        _SHAPES[fn] = shape
    return shape


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s resolved annotations (:func:`_shape` keeps what it needs of them)."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # forward references that do not resolve: check nothing
        return {}


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
