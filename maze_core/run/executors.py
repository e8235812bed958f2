"""Executors: where a task's code runs. Each follows ``concurrent.futures.Executor``.

* ``inline``: in the caller's thread at ``submit`` (for debugging; the future is done on return).
* ``threads``: a pool of daemon threads; the default, right for I/O-bound and GIL-releasing
  code.
* ``processes``: a process pool for CPU-bound Python. The call is shipped with cloudpickle,
  so lambdas, closures and functions defined in ``__main__`` or a notebook work; anything
  that cannot be pickled fails at ``submit`` with a :class:`SerializationError` that names it.

The runtime never hands user code to an executor directly: it submits :func:`run_call`,
which measures the attempt and turns the user's exception into data (:class:`Outcome`), so
an exception *from the future* always means the infrastructure failed (a dead worker, an
unpicklable result), never the user's code.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import queue
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Literal

import cloudpickle

from maze_core.errors import SerializationError, TaskFailedError, ValidationError, WorkerLostError
from maze_core.run.context import TaskContext, _current, _exported
from maze_core.run.models import ModelUse, serving

__all__ = [
    "EXECUTORS",
    "ExecutorName",
    "InlineExecutor",
    "Outcome",
    "ProcessExecutor",
    "ThreadExecutor",
    "make_executor",
    "run_call",
]

ExecutorName = Literal["inline", "threads", "processes"]
EXECUTORS: tuple[ExecutorName, ...] = ("inline", "threads", "processes")


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


def size_hint(value: Any, depth: int = 2) -> int:
    """Roughly how many bytes ``value`` takes, cheaply: exact for bytes, strings and buffers
    with ``nbytes`` (NumPy, PyTorch, Arrow), summed over the first items of containers, a
    small constant otherwise. Data affinity only needs to tell kilobytes from gigabytes,
    and serializing the value a second time to weigh it would cost what it saves."""
    if isinstance(value, bytes | bytearray | str):
        return len(value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, memoryview):
        return value.nbytes
    if depth > 0 and isinstance(value, list | tuple | set | frozenset | dict):
        items = list(value.values() if isinstance(value, dict) else value)
        sample = items[:_SIZE_SAMPLE]
        weight = sum(size_hint(item, depth - 1) for item in sample)
        return 64 + weight * len(items) // max(1, len(sample))
    return 64


_SIZE_SAMPLE = 32


def run_call(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
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
    started = time.time()
    try:
        with serving(model):
            started = time.time()  # a model load is not the tool's duration
            value = fn(*args, **kwargs)
            if is_async:
                value = asyncio.run(value)
    except Exception as exc:
        error = _portable_error(exc) if portable else exc
        return Outcome(False, None, error, traceback.format_exc(), started, time.time())
    finally:
        _current.reset(token)
        _exported.reset(export_token)
    return Outcome(True, value, None, "", started, time.time(), exported)


def _portable_error(exc: Exception) -> Exception:
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:
        return TaskFailedError(
            f"the task raised {type(exc).__qualname__}: {exc} (the exception could not be"
            " pickled, so this describes it)",
            fix="make the exception picklable (pass all __init__ arguments to super().__init__)",
            culprit=type(exc).__qualname__,
        )
    return exc


class InlineExecutor(Executor):
    """Runs each call in the caller's thread during ``submit``: deterministic, for debugging."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        _fulfil(future, fn, args, kwargs)
        return future


def _fulfil(
    future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """Run the call into ``future`` unless it was cancelled while queued."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


class ThreadExecutor(Executor):
    """A pool of daemon threads, started on demand up to ``max_workers``.

    Unlike ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, an abandoned
    call here (timed out, or never returning) cannot keep the program from exiting.
    """

    def __init__(self, max_workers: int, name: str = "maze-worker") -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot submit to an executor that was shut down")
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max_workers:
                name = f"{self._name}-{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
            threads = list(self._threads)
        while cancel_futures:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            _fulfil(*item)
            del item  # drop references before idling
            self._idle.release()


_WorkItem = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ProcessExecutor(Executor):
    """A process pool fed with cloudpickle, that replaces itself when a worker dies.

    Workers are forked where the platform can (Linux): with every call shipped by value,
    a forked worker never has to re-import the user's ``__main__`` (which ``spawn`` and
    ``forkserver`` do, breaking scripts without a ``__main__`` guard and code run from stdin).
    """

    def __init__(self, max_workers: int | None = None, start_method: str | None = None) -> None:
        if start_method is None:
            methods = multiprocessing.get_all_start_methods()
            start_method = "fork" if "fork" in methods else "spawn"
        self._max_workers = max_workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        payload = dumps_call(fn, args, kwargs)
        outer: Future[Any] = Future()
        outer.set_running_or_notify_cancel()
        pool = self._live_pool()
        try:
            inner = pool.submit(_run_payload, payload)
        except BrokenProcessPool:
            self._discard(pool)
            inner = self._live_pool().submit(_run_payload, payload)
        inner.add_done_callback(lambda done: self._transfer(pool, done, outer))
        return outer

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the pool. ``wait=False, cancel_futures=True`` also terminates the workers, so
        an abandoned call that never returns cannot hold the interpreter at exit."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=wait, cancel_futures=cancel_futures)
        if not wait and cancel_futures:
            for process in processes:
                process.terminate()

    def _live_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self._max_workers, mp_context=self._context)
                _before_interpreter_joins(_kill_at_exit(weakref.ref(self)))
            return self._pool

    def _discard(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _transfer(
        self, pool: ProcessPoolExecutor, inner: Future[bytes], outer: Future[Any]
    ) -> None:
        error = inner.exception()
        if isinstance(error, BrokenProcessPool):
            self._discard(pool)
            outer.set_exception(
                WorkerLostError(
                    "the worker process running the task died (killed, out of memory, or the code"
                    " called os._exit)",
                    fix="find what killed the process; set retries= to try again in a new worker",
                    culprit=pool,
                )
            )
            return
        if error is not None:
            outer.set_exception(error)
            return
        ok, value = cloudpickle.loads(inner.result())
        if ok:
            outer.set_result(value)
        else:
            outer.set_exception(value)


def _kill_at_exit(executor: weakref.ref[ProcessExecutor]) -> Callable[[], None]:
    """The exit hook of one pool. Forked workers inherit the hook list, so it checks that it
    runs in the process that created the pool (a worker must not touch its parent's pool)."""
    owner = os.getpid()

    def kill() -> None:
        live = executor()
        if live is not None and os.getpid() == owner:
            live.shutdown(wait=False, cancel_futures=True)

    return kill


def _before_interpreter_joins(callback: Callable[[], None]) -> None:
    """Run ``callback`` at exit *before* concurrent.futures joins its pools' workers.

    ``concurrent.futures`` waits for every pool worker through ``threading``'s exit hooks,
    which run before ``atexit`` and in reverse order of registration; registering there,
    later than it did, puts us first. Falls back to ``atexit`` where the hook is missing.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(callback)
    except RuntimeError:  # no such hook, or the interpreter is already shutting down
        import atexit

        atexit.register(callback)


def dumps_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
    """Pickle a call for another process; on failure, name the part that cannot travel."""
    try:
        return bytes(cloudpickle.dumps((fn, args, kwargs)))
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


def _fails_to_pickle(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return True
    return False


def _run_payload(payload: bytes) -> bytes:
    """Worker side of :class:`ProcessExecutor`: run the call, pickle what it returned."""
    fn, args, kwargs = cloudpickle.loads(payload)
    try:
        result: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:
        result = (False, _portable_error(exc) if isinstance(exc, Exception) else exc)
    try:
        return bytes(cloudpickle.dumps(result))
    except Exception as exc:
        error = SerializationError(
            f"the result ({type(result[1]).__name__}) cannot be pickled to send it back: {exc}",
            fix="return plain data from the task, or use the 'threads' executor",
            culprit=type(result[1]).__name__,
        )
        return bytes(cloudpickle.dumps((False, error)))


def make_executor(name: str, *, max_workers: int) -> Executor:
    """An executor by name: ``inline``, ``threads`` or ``processes``."""
    if name == "inline":
        return InlineExecutor()
    if name == "threads":
        return ThreadExecutor(max_workers)
    if name == "processes":
        return ProcessExecutor(max_workers)
    raise ValidationError(
        f"unknown executor {name!r}",
        fix=f"use one of {', '.join(EXECUTORS)}",
        culprit=name,
    )
