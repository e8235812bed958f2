"""The wire format of calls and results between a driver and its worker processes.

A call travels as ``(function, args, kwargs)`` and a result as ``(ok, value)``, pickled by
:func:`dumps`: the C pickler where what it writes names only code both sides import,
cloudpickle otherwise. Errors name the part that cannot travel.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle

from maze_core.errors import SerializationError

__all__ = [
    "BY_VALUE",
    "dumps",
    "dumps_call",
    "own_uuid4",
    "result_too_large",
    "unpicklable_part",
]


def own_uuid4(module_name: str = "cloudpickle.cloudpickle") -> None:
    """cloudpickle names each class it pickles by value with ``uuid.uuid4()`` (once per
    class), drawing from the application's own ``uuid4``, which its tests may script
    (LangGraph's own do, and a distributed graph shifted their ids): cloudpickle (or Ray's
    copy of it, ``ray.cloudpickle.cloudpickle``) gets the ``uuid4`` there was when Maze was
    imported instead. It calls it nowhere else."""
    module: Any = sys.modules.get(module_name)
    if module is not None and getattr(module, "uuid", None) is uuid:
        module.uuid = types.SimpleNamespace(uuid4=_UUID4)


_UUID4 = uuid.uuid4
own_uuid4()


def dumps(value: Any) -> bytes:
    """``value`` pickled for a worker forked from this process, or for this process from it.

    The C pickler when what it wrote names only code both sides import (about 3x faster
    than cloudpickle: ~25 against ~65 µs for a LangGraph node's call), cloudpickle
    otherwise: for lambdas, closures and local classes, which only it can pickle, and for
    anything of ``__main__`` or a module registered to travel by value, which it ships by
    value (a notebook may have redefined a function since the worker was forked)."""
    try:
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return _by_value(value)
    if b"__main__" in data or any(
        name.encode() in data for name in cloudpickle.list_registry_pickle_by_value()
    ):
        del data  # before pickling again: a big argument is held once, not twice
        return _by_value(value)
    return data


def _by_value_code(fn: Any) -> bool:
    """Whether ``fn``'s code must travel by value: it is of ``__main__`` or of a module
    registered to travel so (a closure or lambda elsewhere is found by trying)."""
    module = getattr(fn, "__module__", None)
    if not isinstance(module, str):
        return False
    return module == "__main__" or (
        module.partition(".")[0] in cloudpickle.list_registry_pickle_by_value()
    )


def _by_value(value: Any) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()


class _ByValue:
    """cloudpickle as shipping uses it (see ``shipping.Pickler``), through :class:`_Pickler`."""

    dumps = staticmethod(_by_value)
    list_registry_pickle_by_value = staticmethod(cloudpickle.list_registry_pickle_by_value)
    register_pickle_by_value = staticmethod(cloudpickle.register_pickle_by_value)


BY_VALUE = _ByValue()


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, leaving out what a class shipped by value keeps of the function that
    defined it: a pydantic model made in a function holds that function's local variables
    (``__pydantic_parent_namespace__``, to resolve forward references while it is built),
    which may be anything, a live connection or an object that pickles but does not
    unpickle. A finished model does not need them."""

    def reducer_override(self, obj: Any) -> Any:
        reduced = super().reducer_override(obj)
        if isinstance(obj, type) and isinstance(reduced, tuple) and len(reduced) > 2:
            state = reduced[2]
            if isinstance(state, tuple) and state and isinstance(state[0], dict):
                state[0].pop("__pydantic_parent_namespace__", None)  # the pickler's copy
        return reduced


def dumps_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
    """Pickle a call for another process, once (a script's function goes by value at
    once, without a C pickle first); on failure, name the part that cannot travel."""
    try:
        if _by_value_code(fn):
            return _by_value((fn, args, kwargs))
        return dumps((fn, args, kwargs))
    except Exception as exc:
        culprit = unpicklable_part(fn, args, kwargs)
        raise SerializationError(
            f"{culprit} cannot be pickled to send it to a worker process: {exc}",
            fix="pass plain data (or use the 'threads' executor for objects tied to this process)",
            culprit=culprit,
        ) from None


def unpicklable_part(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    names: tuple[str, ...] = (),
) -> str:
    """Which part of a call cannot be pickled: the function, or an argument by name
    (positional arguments are named after ``names`` when given)."""
    parts: list[tuple[str, Any]] = [(f"function {getattr(fn, '__qualname__', fn)!r}", fn)]
    parts += [
        (f"argument {names[i]!r}" if i < len(names) else f"positional argument {i}", value)
        for i, value in enumerate(args)
    ]
    parts += [(f"argument {name!r}", value) for name, value in kwargs.items()]
    for label, value in parts:
        if _fails_to_pickle(value):
            return f"{label} ({type(value).__name__})"
    return "the call"


def unpicklable_in_result(value: Any) -> str:
    """Which part of a result cannot be pickled: the value itself, or the first item (of
    a list, tuple, set or dict's values, one level down) that cannot, by its place."""
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(f"[{key!r}]", item) for key, item in value.items()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = [(f"[{index}]", item) for index, item in enumerate(value)]
    for place, item in items:
        if _fails_to_pickle(item):
            return f"the result's item {place} ({type(item).__name__})"
    return f"the result ({type(value).__name__})"


def _fails_to_pickle(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return True
    return False


def result_too_large(value: Any, size: int, limit: int) -> SerializationError:
    """The error of a task whose result is over the runtime's ``max_result``."""
    kind = type(value).__name__
    return SerializationError(
        f"the task's result ({kind}, {size:,} bytes) is over the runtime's limit of"
        f" {limit:,} bytes (max_result)",
        fix="return less (write big data to storage and return where it is), or raise"
        " max_result= of the runtime",
        culprit=kind,
    )
