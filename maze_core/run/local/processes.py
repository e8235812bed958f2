"""Worker processes for CPU-bound Python: a pool fed through two one-way pipes per worker.

The call is shipped with cloudpickle where it must be (see
:func:`maze_core.run.worker.wire.dumps`), so lambdas, closures and functions defined in
``__main__`` or a notebook work; anything that cannot be pickled fails at ``submit`` with a
:class:`~maze_core.errors.SerializationError` that names it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from maze_core.errors import WorkerLostError
from maze_core.run.local.exits import before_interpreter_joins, kill_at_exit
from maze_core.run.local.worker_process import KILL_AFTER_S, WorkerProcess, decode
from maze_core.run.worker.wire import dumps_call

__all__ = ["ProcessExecutor"]

log = logging.getLogger("maze")


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
        self._interrupted: set[Future[Any]] = set()  # queued calls interrupted already
        self._killed: weakref.WeakSet[Future[Any]] = weakref.WeakSet()  # never to start
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
                worker.take(future, interrupted=False)
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
        result = decode(data)
        del data  # before the value is handed on: a big result is held once, not twice
        self._done(worker, result)

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
        if not wait:  # a worker ignoring SIGTERM would hold the interpreter's exit forever
            deadline = time.monotonic() + KILL_AFTER_S
            for worker in workers:
                worker.kill_when_stuck(max(0.0, deadline - time.monotonic()))

    def kill(self, future: Future[Any]) -> bool:
        """Stop the call of ``future`` (past its timeout: a process, unlike a thread, can be
        stopped, so its slot is not lost to a call that never returns): the worker running
        it is stopped and reported lost at once, a call still queued here never starts
        (the scheduler freed its CPU already: run later, it would take a CPU nobody counts).
        The call fails with WorkerLostError; False if it had ended."""
        queued: list[tuple[bytes, Future[Any]]] = []
        with self._lock:
            worker = next((w for w in self._workers if w.current is future), None)
            if worker is None and not future.done():
                self._killed.add(future)  # when it is queued, or comes back to the queue
                queued = [entry for entry in self._backlog if entry[1] is future]
                for entry in queued:
                    self._backlog.remove(entry)
        if worker is None:
            if future.done():
                return False
            if queued:
                self._drop(future)
            return True
        worker.stop(terminate=True)
        self._lost(worker)  # its reader would too, unless it saw the stop first
        timer = threading.Timer(KILL_AFTER_S, worker.kill_when_stuck, args=(0.0,))
        timer.daemon = True  # a worker that ignores SIGTERM gets SIGKILL
        timer.start()
        return True

    def _drop(self, future: Future[Any]) -> None:
        """Fail a killed call that never reached a worker."""
        self._killed.discard(future)
        if not future.done():
            future.set_exception(_killed_queued())

    def interrupt(self, future: Future[Any], hard: bool = False) -> bool:
        """Interrupt the call of ``future`` in its worker, as cancelling it in place would,
        or also in synchronous code (``hard``: see :mod:`maze_core.run.worker.interrupt`),
        now or when a worker takes it; False if it has ended."""
        with self._lock:  # held: the worker cannot be given another call meanwhile
            worker = next((w for w in self._workers if w.current is future), None)
            if worker is not None:
                worker.interrupt(hard)
                return True
            if any(queued is future for _, queued in self._backlog):
                self._interrupted.add(future)  # when a worker takes it
                return True
        return False

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
                if future in self._killed:
                    self._idle.append(worker)
                    killed = future
                else:
                    killed = None
                    worker.take(future, interrupted=future in self._interrupted)
                    self._interrupted.discard(future)
            if killed is not None:
                self._drop(killed)
                continue
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
        with self._lock:
            worker.current = None
            killed = future in self._killed
            if not killed:
                self._backlog.appendleft((payload, future))
        self._discard(worker)
        if killed:
            self._drop(future)
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
            before_interpreter_joins(kill_at_exit(weakref.ref(self)))
            self._hooked = True
        worker = WorkerProcess(self._context, self._done, self._lost, self.max_result)
        self._workers.add(worker)
        return worker

    def _done(self, worker: WorkerProcess, result: tuple[bool, Any]) -> None:
        with self._lock:  # the current call is taken once: by this, or by _lost
            future, worker.current = worker.current, None
            worker.served = True
            if worker in self._workers:
                self._idle.append(worker)
        self._feed()
        if future is None:
            return
        ok, value = result
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _lost(self, worker: WorkerProcess) -> None:
        """The worker is gone (or stopped): its call, if it had one, fails. Called by
        whoever sees it first (its reader, the thread collecting its result, ``kill``)."""
        with self._lock:
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


def _killed_queued() -> WorkerLostError:
    return WorkerLostError(
        "the task was stopped before a worker process took it (its timeout passed, or it"
        " was cancelled, while it waited for a worker)",
        fix="raise @tool(timeout=...) if the task needs longer",
        culprit="the task's call",
    )


def _shut_down() -> RuntimeError:
    return RuntimeError("the executor was shut down before the call started")
