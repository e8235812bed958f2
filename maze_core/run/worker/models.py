"""Resident models: a worker process builds each model once and keeps it for many calls.

A tool declared ``@tool(model="bert", load=load_bert)`` gets the object ``load_bert()``
returned from :func:`current_model`. Each worker process (the local runtime's process, a
process-pool worker, a Ray model actor) keeps one copy per model name; concurrent first
calls load it once. A model unused for ``idle_s`` seconds is dropped at the next call that
looks (on Ray, its actor is stopped, which frees its memory and devices).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from maze_core.errors import TaskFailedError, ValidationError

__all__ = ["ModelCache", "ModelUse", "current_model"]


@dataclass(frozen=True, slots=True)
class ModelUse:
    """What a call needs resident: the model's name, how to build it, when to drop it."""

    name: str
    load: Callable[[], Any]
    idle_s: float = 300.0


@dataclass(slots=True)
class _Resident:
    value: Any
    last_used: float
    users: int = 0


class ModelCache:
    """The models resident in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self._models: dict[str, _Resident] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._models

    @contextmanager
    def using(self, use: ModelUse) -> Iterator[Any]:
        """The model, loaded on first use, held (never evicted) while the block runs."""
        self.evict_idle(use.idle_s)
        resident = self._acquire(use)
        try:
            yield resident.value
        finally:
            with self._lock:
                resident.users -= 1
                resident.last_used = time.monotonic()

    def _acquire(self, use: ModelUse) -> _Resident:
        with self._lock:
            resident = self._models.get(use.name)
            if resident is not None:
                resident.users += 1
                return resident
            loading = self._loading.setdefault(use.name, threading.Lock())
        with loading:  # one thread loads; the others wait for it, then find it resident
            with self._lock:
                resident = self._models.get(use.name)
                if resident is not None:
                    resident.users += 1
                    return resident
            value = _load(use)
            with self._lock:
                resident = self._models[use.name] = _Resident(value, time.monotonic(), 1)
                return resident

    def evict_idle(self, idle_s: float) -> list[str]:
        """Drop the models no call has used for ``idle_s`` seconds; return their names."""
        cutoff = time.monotonic() - idle_s
        with self._lock:
            idle = [
                name
                for name, resident in self._models.items()
                if resident.users == 0 and resident.last_used < cutoff
            ]
            for name in idle:
                del self._models[name]
        return idle

    def clear(self) -> None:
        with self._lock:
            self._models.clear()


def _load(use: ModelUse) -> Any:
    try:
        return use.load()
    except Exception as exc:
        loader = getattr(use.load, "__qualname__", repr(use.load))
        raise TaskFailedError(
            f"loading model {use.name!r} with {loader}() failed: {type(exc).__name__}: {exc}",
            fix="fix the loader; every call of the tool needs it (it is tried again next call)",
            culprit=use.name,
        ) from exc


CACHE = ModelCache()  # this process's models
_current: ContextVar[Any] = ContextVar("maze_current_model")


@contextmanager
def serving(use: ModelUse | None) -> Iterator[None]:
    """Make ``use``'s model what :func:`current_model` returns while the block runs."""
    if use is None:
        yield
        return
    with CACHE.using(use) as value:
        token = _current.set(value)
        try:
            yield
        finally:
            _current.reset(token)


def current_model() -> Any:
    """Inside a tool declared with ``load=``: its model, as this worker process loaded it."""
    try:
        return _current.get()
    except LookupError:
        raise ValidationError(
            "current_model() was called outside a tool that declares a model loader",
            fix='declare the tool with @tool(model="name", load=build_fn) and call'
            " current_model() while it runs",
            culprit="current_model",
        ) from None
