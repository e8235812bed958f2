"""Exceptions across a process boundary, as the caller would have seen them in place.

An exception a tool raised travels back pickled. Many do not pickle: a library's exception
whose ``__init__`` takes keyword-only arguments (``openai.RateLimitError``), or one holding
a response object with a lock. Such an exception travels as a stand-in that unpickles in
the caller into an exception of the original class, made without calling its
``__init__`` (as pickle makes other objects), with its ``args`` and the attributes that
pickle (the others as their ``repr``), so ``except`` clauses and ``RetryPolicy(retry_on=)``
match as they would in place. One that pickles but loses attributes on the way (pydantic's
``ValidationError`` pickles as its errors only) travels with them, set again on arrival.
Where the class cannot be imported in the caller, a TaskFailedError describes it. (The
worker's formatted traceback travels beside it, in the outcome: see
:func:`maze_core.errors.user_exception`.)
"""

from __future__ import annotations

import importlib
from typing import Any

import cloudpickle

from maze_core.errors import TaskFailedError

__all__ = ["portable_error"]


def portable_error(exc: BaseException) -> BaseException:
    """``exc`` when it pickles whole, else its stand-in (see the module docstring)."""
    try:
        copy = cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:
        return _StandIn(exc)
    kept = getattr(copy, "__dict__", {})
    lost = {k: _portable(v) for k, v in getattr(exc, "__dict__", {}).items() if k not in kept}
    return _WithAttributes(exc, lost) if lost else exc


class _WithAttributes(Exception):
    """What travels in place of an exception whose own pickling drops attributes."""

    def __init__(self, exc: BaseException, attributes: dict[str, Any]) -> None:
        super().__init__(type(exc).__qualname__)
        self.parts = (exc, attributes)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_with_attributes, self.parts)


def _with_attributes(exc: BaseException, attributes: dict[str, Any]) -> BaseException:
    for name, value in attributes.items():
        try:
            setattr(exc, name, value)
        except Exception:  # a class that refuses the attribute: as it would be unpickled
            continue
    return exc


class _StandIn(Exception):
    """What travels in place of an exception that does not pickle."""

    def __init__(self, exc: BaseException) -> None:
        cls = type(exc)
        super().__init__(cls.__module__, cls.__qualname__)
        self.parts = (
            cls.__module__,
            cls.__qualname__,
            tuple(_portable(arg) for arg in exc.args),
            {name: _portable(value) for name, value in getattr(exc, "__dict__", {}).items()},
            _text(exc),
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, self.parts)


def _rebuild(
    module: str, qualname: str, args: tuple[Any, ...], state: dict[str, Any], text: str
) -> BaseException:
    """In the caller: an exception of the original class, or a TaskFailedError saying why
    not."""
    cls = _find(module, qualname)
    if isinstance(cls, type) and issubclass(cls, BaseException):
        try:
            error = cls.__new__(cls)
            error.args = args
            if hasattr(error, "__dict__"):
                error.__dict__.update(state)
            return error
        except Exception:  # a class that refuses to be made this way
            pass
    return TaskFailedError(
        f"the task raised {module}.{qualname}: {text} (that exception could not be"
        " rebuilt here: its class is not importable in this process)",
        fix=f"make {module} importable where the run was submitted",
        culprit=qualname,
    )


def _find(module: str, qualname: str) -> Any:
    try:
        found: Any = importlib.import_module(module)
        for name in qualname.split("."):
            found = getattr(found, name)
    except Exception:
        return None
    return found


def _travels(value: Any) -> bool:
    """Whether ``value`` survives a pickle round trip."""
    try:
        cloudpickle.loads(cloudpickle.dumps(value))
    except Exception:
        return False
    return True


def _portable(value: Any) -> Any:
    """``value`` when it pickles, else its repr."""
    return value if _travels(value) else _text(value, repr)


def _text(value: Any, show: Any = str) -> str:
    """``str(value)`` (or ``show``), even when it is broken."""
    try:
        return str(show(value))
    except Exception:
        return f"<{type(value).__name__}>"
