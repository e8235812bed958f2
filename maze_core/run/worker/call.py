"""The worker contract: one call of a tool, run where the runtime put it, reported as data.

Every place a task runs (a thread, a local worker process, a Ray task, lane, bundle or
model actor) runs :func:`run_call`: it enters the task's context (:func:`maze_core.current_task`),
its model (:func:`maze_core.current_model`) and the plugins' wrappers, measures the attempt
and turns the user's exception into data (:class:`Outcome`), so an exception *from the
executor* always means the infrastructure failed (a dead worker, an unpicklable result),
never the user's code.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from maze_core.run.worker.context import TaskContext, _current, _exported
from maze_core.run.worker.exceptions import portable_error
from maze_core.run.worker.interrupt import cancellation, run_coroutine
from maze_core.run.worker.models import ModelUse, serving

__all__ = ["Outcome", "run_call", "settle", "size_hint"]

log = logging.getLogger("maze")


@dataclass(slots=True)
class Outcome:
    """What one attempt did: its value, or the exception it raised with the traceback text."""

    ok: bool
    value: Any
    error: BaseException | None
    traceback: str
    started: float
    finished: float
    exported: dict[str, float] = field(default_factory=dict)
    output_size: int = 0
    held: bool = False  # the value is in the driver, not on the node that ran it
    cpu: float = 0.0  # CPU seconds of the thread that ran it (what tells computing from waiting)


def run_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    is_async: bool = False,
    env: Mapping[str, str] | None = None,
    portable: bool = False,
    context: TaskContext | None = None,
    model: ModelUse | None = None,
) -> Outcome:
    """Run one attempt of a task in the worker and report it as an :class:`Outcome`.

    ``env`` is applied to the process (only in process workers, where it is private);
    ``portable`` replaces an exception that cannot be pickled by a description of it;
    ``context`` is what :func:`maze_core.current_task` returns while the tool runs;
    ``model`` the model :func:`maze_core.current_model` returns (loaded once per process).
    """
    if env:
        os.environ.update(env)
    token = _current.set(context)
    exported: dict[str, float] = {}
    export_token = _exported.set(exported)
    around = _around(model, context)
    started = time.time()  # what a failure to enter ``around`` reports (a syscall: only then)
    cpu = 0.0 if around is _NOTHING else time.thread_time()
    try:
        with around:
            started, cpu = time.time(), time.thread_time()  # a model load is not the tool's
            value = fn(*args, **kwargs)
            if is_async:
                value = _run_coroutine(value)
    except BaseException as exc:
        if not isinstance(exc, Exception | SystemExit) and not isinstance(exc, cancellation()):
            raise  # KeyboardInterrupt: the worker's business, not the task's
        error = portable_error(exc) if portable else exc
        tb = traceback.format_exc()
        return Outcome(False, None, error, tb, started, time.time(), cpu=time.thread_time() - cpu)
    finally:
        _current.reset(token)
        _exported.reset(export_token)
    spent = time.thread_time() - cpu
    return Outcome(True, value, None, "", started, time.time(), exported, cpu=spent)


_NOTHING = contextlib.nullcontext()


def _around(
    model: ModelUse | None, context: TaskContext | None
) -> contextlib.AbstractContextManager[Any]:
    """What the call runs inside: its model and the plugins' wrappers, or (the usual case,
    and a few µs of every task) nothing."""
    if model is None and (context is None or not context.wrappers):
        return _NOTHING
    return _serving_wrapped(model, context)


@contextlib.contextmanager
def _serving_wrapped(model: ModelUse | None, context: TaskContext | None) -> Iterator[None]:
    with serving(model), _wrapped(context):
        yield


@contextlib.contextmanager
def _wrapped(context: TaskContext | None) -> Iterator[None]:
    """Enter what plugins asked the call to run inside (see the ``maze_task_wrap`` hook)."""
    if context is None or not context.wrappers:
        yield
        return
    with contextlib.ExitStack() as stack:
        for path, argument in context.wrappers:
            try:
                factory = _factory(path)
            except (ImportError, AttributeError, ValueError) as exc:
                log.warning("maze: cannot wrap task %s in %s here: %s", context.task_id, path, exc)
                continue
            stack.enter_context(factory(argument))
        yield


@functools.cache
def _factory(path: str) -> Callable[[Any], contextlib.AbstractContextManager[Any]]:
    module, _, name = path.partition(":")
    factory: Callable[[Any], contextlib.AbstractContextManager[Any]] = getattr(
        importlib.import_module(module), name
    )
    return factory


def settle(value: Any) -> Any:
    """``value``, or what it resolves to when it is awaitable (for worker-side code that
    calls a function which may be async: an adapter's node, task or tool)."""
    if not inspect.isawaitable(value):
        return value

    async def wait() -> Any:
        return await value

    return _run_coroutine(wait())


def _run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run``, interruptible in a worker process (see :mod:`.interrupt`)."""
    return run_coroutine(coroutine)


def size_hint(value: Any, depth: int = 3) -> int:
    """Roughly how many bytes ``value`` takes, cheaply: exact for bytes, strings and buffers
    with ``nbytes`` (NumPy, PyTorch, Arrow), summed over the first items of containers and
    the fields of objects (a dataclass, a pydantic model, a reply wrapping the value), a
    small constant otherwise. Data affinity only needs to tell kilobytes from gigabytes, and
    whether a value is small enough to ride in a report; serializing it a second time to
    weigh it would cost what it saves."""
    if value is None or isinstance(value, int | float):
        return 64
    if isinstance(value, bytes | bytearray | str):
        return len(value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, memoryview):
        return value.nbytes
    if depth > 0:
        items = _parts(value)
        if items is not None:
            sample = items[:_SIZE_SAMPLE]
            weight = sum(size_hint(item, depth - 1) for item in sample)
            return 64 + weight * len(items) // max(1, len(sample))
    return 64


_SIZE_SAMPLE = 8  # items weighed per level: at most 8**3 calls for a value


def _parts(value: Any) -> list[Any] | None:
    """The items of a container or the field values of an object; None for anything else."""
    if isinstance(value, list | tuple | set | frozenset):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, type) or callable(value):
        return None
    fields = getattr(value, "__dict__", None)
    if isinstance(fields, dict):
        return list(fields.values())
    slots = getattr(type(value), "__slots__", ())
    return [getattr(value, name, None) for name in slots] if slots else None
