"""Executors: where a task's code runs. Each follows ``concurrent.futures.Executor``.

* ``inline``: in the caller's thread at ``submit`` (for debugging; the future is done on return).
* ``threads``: a pool of daemon threads; the default, right for I/O-bound and GIL-releasing
  code.
* ``processes``: a process pool for CPU-bound Python. The call is shipped with cloudpickle
  where it must be (see :func:`dumps`), so lambdas, closures and functions defined in
  ``__main__`` or a notebook work; anything that cannot be pickled fails at ``submit`` with a
  :class:`SerializationError` that names it.

The runtime never hands user code to an executor directly: it submits :func:`run_call`,
which measures the attempt and turns the user's exception into data (:class:`Outcome`), so
an exception *from the future* always means the infrastructure failed (a dead worker, an
unpicklable result), never the user's code.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import inspect
import logging
import math
import multiprocessing
import os
import pickle
import queue
import select
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Literal

import cloudpickle

from maze_core.errors import SerializationError, TaskFailedError, ValidationError, WorkerLostError
from maze_core.run.context import TaskContext, _current, _exported
from maze_core.run.machine import detect_cpus
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
    "settle",
]

log = logging.getLogger("maze")

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
    held: bool = False  # the value is in the driver, not on the node that ran it


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
        with _around(model, context):
            started = time.time()  # a model load is not the tool's duration
            value = fn(*args, **kwargs)
            if is_async:
                value = _run_coroutine(value)
    except Exception as exc:
        error = _portable_error(exc) if portable else exc
        return Outcome(False, None, error, traceback.format_exc(), started, time.time())
    finally:
        _current.reset(token)
        _exported.reset(export_token)
    return Outcome(True, value, None, "", started, time.time(), exported)


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
    """``asyncio.run`` (asyncio is imported here, not with Maze: ~35 ms of every start)."""
    import asyncio

    return asyncio.run(coroutine)


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
    """A pool of worker processes fed with cloudpickle, two one-way pipes per worker.

    Workers are forked where the platform can (Linux): with every call shipped by value,
    a forked worker never has to re-import the user's ``__main__`` (which ``spawn`` and
    ``forkserver`` do, breaking scripts without a ``__main__`` guard and code run from stdin).

    Why not ``ProcessPoolExecutor``: a call there crosses a management thread and a queue
    feeder thread each way, about a millisecond per call on a busy machine. Here the
    submitting thread writes the call into an idle worker's pipe and that worker's reader
    thread completes the future: one hand-off each way. A caller that will wait for the
    call anyway can read the result itself (:meth:`submit_collected`, :meth:`collect`), which
    saves waking the reader thread and then the caller. A worker that dies fails its call
    with WorkerLostError and is replaced on demand.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        start_method: str | None = None,
        max_result: int | None = None,
    ) -> None:
        self.max_result = max_result  # bytes a result may take, pickled; None: no limit
        if start_method is None:
            methods = multiprocessing.get_all_start_methods()
            start_method = "fork" if "fork" in methods else "spawn"
        self._max_workers = max_workers or os.cpu_count() or 1
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._idle: list[WorkerProcess] = []
        self._workers: set[WorkerProcess] = set()
        self._backlog: deque[tuple[bytes, Future[Any]]] = deque()
        self._closed = False
        self._hooked = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._submit(fn, args, kwargs, collected=False)[0]

    def submit_collected(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> tuple[Future[Any], WorkerProcess | None]:
        """Like :meth:`submit`; when a worker takes the call at once, also that worker, whose
        reader thread then leaves the result in the pipe: the caller must :meth:`collect` it
        (None: the call waits for a worker, and the reader thread completes it as usual)."""
        return self._submit(fn, args, kwargs, collected=True)

    def _submit(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        collected: bool,
    ) -> tuple[Future[Any], WorkerProcess | None]:
        payload = dumps_call(fn, args, kwargs)
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot submit to a ProcessExecutor that was shut down")
            worker = self._take_worker() if collected and not self._backlog else None
            if worker is None:
                self._backlog.append((payload, future))
            else:
                worker.current = future
        if worker is None or not self._send(worker, payload, future, collected=True):
            self._feed()
            return future, None
        return future, worker

    def collect(self, worker: WorkerProcess, spin_s: float = 0.0) -> None:
        """Read, in this thread, the result of the call :meth:`submit_collected` gave
        ``worker``, and complete its future (WorkerLostError if the worker died); poll for
        it for up to ``spin_s`` before sleeping (for a call expected to end by then)."""
        try:
            worker.wait(spin_s)
        except BaseException:  # interrupted (Ctrl-C) before reading: the reader takes it
            worker.hand_over()
            raise
        try:
            data = worker.receive()
        except Exception:  # EOF (it died, or was killed past a timeout), or shut down
            self._lost(worker)
            return
        except BaseException:  # interrupted mid-message: the pipe is unusable
            self._lost(worker)
            raise
        self._done(worker, data)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers; calls not started yet fail. ``wait=False`` also terminates busy
        workers, so an abandoned call that never returns cannot hold the interpreter at exit
        (their calls fail with WorkerLostError)."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            self._idle.clear()
            backlog, self._backlog = list(self._backlog), deque()
        for _, future in backlog:  # never to run: they fail (marked running, so not cancelled)
            future.set_exception(_shut_down())
        for worker in workers:
            worker.stop(terminate=not wait)

    def kill(self, future: Future[Any]) -> bool:
        """Stop the worker running ``future`` (a call past its timeout: a process, unlike a
        thread, can be stopped, so its slot is not lost to a call that never returns).
        The call fails with WorkerLostError; True if a worker was running it."""
        with self._lock:
            worker = next((w for w in self._workers if w.current is future), None)
        if worker is None:
            return False
        worker.stop(terminate=True)  # whoever reads its results sees the end: _lost
        return True

    def _feed(self) -> None:
        """Give queued calls to idle workers, starting workers up to ``max_workers``."""
        while True:
            with self._lock:
                if not self._backlog or self._closed:
                    return
                worker = self._take_worker()
                if worker is None:
                    return
                payload, future = self._backlog.popleft()
                worker.current = future
            self._send(worker, payload, future)

    def _send(
        self, worker: WorkerProcess, payload: bytes, future: Future[Any], collected: bool = False
    ) -> bool:
        """Give ``worker`` the call (its ``current`` already); False if it was dead. One
        that died idle (killed, say) never took the call, which goes back to the front of
        the backlog; a new worker that cannot take its first call fails it (no retry loop
        when workers die at start)."""
        if worker.send(payload, collected):
            return True
        if not worker.served:
            self._lost(worker)
            return False
        worker.current = None
        self._discard(worker)
        with self._lock:
            self._backlog.appendleft((payload, future))
        return False

    def _take_worker(self) -> WorkerProcess | None:
        """An idle worker, or a new one while under ``max_workers`` (lock held)."""
        if self._idle:
            return self._idle.pop()
        if len(self._workers) < self._max_workers:
            return self._start()
        return None

    def _start(self) -> WorkerProcess:
        """A new worker (called with the lock held)."""
        if not self._hooked:
            _before_interpreter_joins(_kill_at_exit(weakref.ref(self)))
            self._hooked = True
        worker = WorkerProcess(self._context, self._done, self._lost, self.max_result)
        self._workers.add(worker)
        return worker

    def _done(self, worker: WorkerProcess, data: bytes) -> None:
        future, worker.current = worker.current, None
        worker.served = True
        with self._lock:
            if worker in self._workers:
                self._idle.append(worker)
        self._feed()
        if future is None:
            return
        try:
            ok, value = cloudpickle.loads(data)
        except Exception as exc:  # a result class this process cannot import, say
            future.set_exception(
                SerializationError(
                    f"the task's result could not be unpickled here: {exc!r}",
                    fix="return plain data, or types importable in the submitting process",
                    culprit=type(exc).__name__,
                )
            )
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _lost(self, worker: WorkerProcess) -> None:
        future, worker.current = worker.current, None
        self._discard(worker)
        if future is not None and not future.done():
            future.set_exception(
                WorkerLostError(
                    "the worker process running the task died (killed, out of memory, or the"
                    " code called os._exit)",
                    fix="find what killed the process; set retries= to try again in a new worker",
                    culprit=f"pid {worker.pid}",
                )
            )
        self._feed()

    def _discard(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._workers.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
        worker.stop(terminate=True)


class WorkerProcess:
    """One worker process, its pipes, and the thread that reads its results.

    Two one-way pipes, not ``multiprocessing.Pipe()``'s socket pair: the lighter kernel
    path (a round trip with both ends polling: ~11 against ~17 µs here).

    The reader thread reads one result per turn it is given: a call sent for
    :meth:`ProcessExecutor.collect` gives none, so its result stays in the pipe for the
    caller (two readers of one pipe could split a message)."""

    def __init__(
        self,
        context: Any,
        done: Callable[[WorkerProcess, bytes], None],
        lost: Callable[[WorkerProcess], None],
        max_result: int | None = None,
    ) -> None:
        self.current: Future[Any] | None = None
        self.served = False  # it has returned a result: it was alive after starting
        calls_in, self._calls = context.Pipe(duplex=False)
        self._results, results_out = context.Pipe(duplex=False)
        self._turns = threading.Semaphore(0)
        self._stopped = False
        parent_ends = (self._calls, self._results)
        self._process = context.Process(
            target=_serve, args=(calls_in, results_out, max_result, parent_ends), daemon=True
        )
        self._process.start()
        calls_in.close()
        results_out.close()
        self.pid = self._process.pid
        self._reader = threading.Thread(
            target=self._read, args=(done, lost), name=f"maze-process-{self.pid}", daemon=True
        )
        self._reader.start()

    def send(self, payload: bytes, collected: bool = False) -> bool:
        try:
            self._calls.send_bytes(payload)
        except (OSError, ValueError):  # the worker is gone
            return False
        if not collected:
            self._turns.release()
        return True

    def hand_over(self) -> None:
        """Let the reader thread read the next result after all."""
        self._turns.release()

    def wait(self, spin_s: float = 0.0) -> None:
        """Block until a result (or the pipe's end) can be read, polling for it for up to
        ``spin_s`` first (see :data:`SPIN_S`)."""
        with contextlib.suppress(OSError, ValueError):  # closed: receive() raises
            if not _poll_for(self._results, spin_s):
                self._results.poll(None)

    def receive(self) -> bytes:
        return bytes(self._results.recv_bytes())

    def stop(self, terminate: bool) -> None:
        self._stopped = True
        self._turns.release()  # a reader waiting for its turn ends
        for end in (self._calls, self._results):
            with contextlib.suppress(OSError):
                end.close()
        if terminate and self._process.is_alive():
            self._process.terminate()

    def _read(
        self, done: Callable[[WorkerProcess, bytes], None], lost: Callable[[WorkerProcess], None]
    ) -> None:
        while True:
            self._turns.acquire()
            if self._stopped:
                return
            try:
                data = self.receive()
            except Exception:  # EOF (it died), or the pipe closed under us by stop()
                lost(self)
                return
            done(self, data)


SPIN_S = 0.0005
"""How long a side of a worker's pipes that expects a message soon polls for it before it
sleeps. A message to a process asleep on a CPU that went idle waits for that CPU to wake:
~50 µs in a VM (a halted vCPU; deep C-states do the like on metal), twice per call. A
worker polls for its next call while calls come close together; the caller reading a
result itself (:meth:`ProcessExecutor.collect`), while the call is predicted to end soon.
A 200-node LangGraph chain: 0.46 against 0.59 ms a node with the caller polling, ~0.08 ms
less again with workers polling. The cost: up to this much CPU time per call. Nothing polls
where the process may run on one CPU only (see :func:`spin_budget`)."""


def spin_budget() -> float:
    """How long to poll for a message due soon: :data:`SPIN_S` where this process may run
    on two CPUs or more; 0 on one, where a poller only keeps the process it waits for off
    the CPU (a 200-node chain pinned to one CPU: 0.82 against 0.50 ms a node)."""
    return SPIN_S if detect_cpus() >= 2 else 0.0


def _serve(
    calls: Any, results: Any, max_result: int | None = None, parent_ends: tuple[Any, ...] = ()
) -> None:
    """A worker process: run calls from one pipe, answer on the other, until it closes;
    poll for the next call (for :func:`spin_budget`) while the last came within that time
    of the result before it.

    A forked worker first closes its copies of the parent's ends (``parent_ends``): holding
    the write end of its own call pipe, it would never see that pipe close, and would
    outlive a parent that died without its exit hooks (killed, ``os._exit``)."""
    for end in parent_ends:
        end.close()
    spin_s = spin_budget()
    idle_since, spin = -math.inf, False
    while True:
        if spin:
            _poll_for(calls, spin_s)
        try:
            payload = calls.recv_bytes()
        except (EOFError, OSError):
            return
        spin = time.monotonic() - idle_since < spin_s
        results.send_bytes(_run_payload(payload, max_result))
        idle_since = time.monotonic()


def _poll_for(conn: Any, seconds: float) -> bool:
    """Whether ``conn`` became readable within ``seconds``, polled without sleeping."""
    if seconds <= 0:
        return False
    readable = _readable(conn)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if readable():
            return True
    return False


def _readable(conn: Any) -> Callable[[], bool]:
    """A cheap check that ``conn`` can be read now (``select.poll`` where there is one:
    ``Connection.poll(0)`` builds a selector per call)."""
    if not hasattr(select, "poll"):
        return functools.partial(conn.poll, 0)
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return lambda: bool(poller.poll(0))


def _shut_down() -> RuntimeError:
    return RuntimeError("the executor was shut down before the call started")


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
        return bytes(cloudpickle.dumps(value))
    if b"__main__" in data or any(
        name.encode() in data for name in cloudpickle.list_registry_pickle_by_value()
    ):
        return bytes(cloudpickle.dumps(value))
    return data


def dumps_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bytes:
    """Pickle a call for another process; on failure, name the part that cannot travel."""
    try:
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


def _fails_to_pickle(value: Any) -> bool:
    try:
        cloudpickle.dumps(value)
    except Exception:
        return True
    return False


def _run_payload(payload: bytes, max_result: int | None = None) -> bytes:
    """Worker side of :class:`ProcessExecutor`: run the call, pickle what it returned
    (refused when that is over ``max_result`` bytes)."""
    fn, args, kwargs = cloudpickle.loads(payload)
    try:
        result: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:
        result = (False, _portable_error(exc) if isinstance(exc, Exception) else exc)
    try:
        data = dumps(result)
    except Exception as exc:
        error = SerializationError(
            f"the result ({type(result[1]).__name__}) cannot be pickled to send it back: {exc}",
            fix="return plain data from the task, or use the 'threads' executor",
            culprit=type(result[1]).__name__,
        )
        return bytes(cloudpickle.dumps((False, error)))
    if max_result is not None and len(data) > max_result:
        value = getattr(result[1], "value", result[1])  # an Outcome carries the tool's value
        return bytes(cloudpickle.dumps((False, result_too_large(value, len(data), max_result))))
    return data


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


def make_executor(name: str, *, max_workers: int, max_result: int | None = None) -> Executor:
    """An executor by name: ``inline``, ``threads`` or ``processes`` (``max_result``
    bounds what a result may take to come back from a process)."""
    if name == "inline":
        return InlineExecutor()
    if name == "threads":
        return ThreadExecutor(max_workers)
    if name == "processes":
        return ProcessExecutor(max_workers, max_result=max_result)
    raise ValidationError(
        f"unknown executor {name!r}",
        fix=f"use one of {', '.join(EXECUTORS)}",
        culprit=name,
    )
