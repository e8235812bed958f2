"""Executors in this process: ``inline`` (in the caller's thread, for debugging) and
``threads`` (daemon threads: the default, right for I/O-bound and GIL-releasing code); and
:func:`make_executor`, which names every local executor. Each follows
``concurrent.futures.Executor``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Literal

from maze_core.errors import ValidationError

__all__ = ["EXECUTORS", "ExecutorName", "InlineExecutor", "ThreadExecutor", "make_executor"]

log = logging.getLogger("maze")


ExecutorName = Literal["inline", "threads", "processes"]

EXECUTORS: tuple[ExecutorName, ...] = ("inline", "threads", "processes")


class InlineExecutor(Executor):
    """Runs each call in the caller's thread during ``submit``: deterministic, for debugging."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        _fulfil(future, fn, args, kwargs)
        return future


def _fulfil(
    future: Future[Any],
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    mine: threading.local | None = None,
) -> None:
    """Run the call into ``future`` unless it was cancelled while queued. With ``mine`` (a
    pool thread's own state), note while the future's done-callbacks run that a call they
    submit may stay with this thread (never while ``fn`` runs: a call it waits for must not
    wait for it)."""
    if not future.set_running_or_notify_cancel():
        return
    error: BaseException | None = None
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:
        error = exc
    if mine is not None:
        mine.reporting = True
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    finally:
        if mine is not None:
            mine.reporting = False


class ThreadExecutor(Executor):
    """A pool of daemon threads, started on demand up to ``max_workers``.

    Unlike ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, an abandoned
    call here (timed out, or never returning) cannot keep the program from exiting.

    The first call submitted by a worker's own done-callbacks (the run loop dispatching
    the next task as this one reports) is kept for that worker, which runs it next: handing
    it to another thread would wake a sleeping one for every task of a busy runtime.
    """

    def __init__(self, max_workers: int, name: str = "maze-worker") -> None:
        self._max_workers = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut = False
        self._mine = threading.local()  # a worker's call kept for it (see the docstring)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        mine = self._mine
        if getattr(mine, "reporting", False) and mine.next is None and not self._shut:
            mine.next = (future, fn, args, kwargs)
            return future
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

    def abandon(self, future: Future[Any], task: str) -> None:
        """A call given up on (its timeout passed) that has not returned: its thread is
        lost to the pool until it does, so the pool may start one more thread meanwhile
        (otherwise calls that never return would take every thread, and every later task
        would wait forever)."""
        if future.done():
            return
        with self._lock:
            self._max_workers += 1
        log.warning(
            "maze: task %s is still running after its timeout; a thread cannot be stopped, so"
            " it keeps one busy until it returns (another thread takes its place meanwhile)",
            task,
        )
        future.add_done_callback(self._returned)

    def _returned(self, future: Future[Any]) -> None:
        with self._lock:
            self._max_workers -= 1

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
        mine = self._mine
        mine.next = None
        while (item := self._queue.get()) is not None:
            while item is not None:
                future, fn, args, kwargs = item
                _fulfil(future, fn, args, kwargs, mine)
                item, mine.next = mine.next, None
            del future, fn, args, kwargs  # drop references before idling
            self._idle.release()


_WorkItem = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


def make_executor(name: str, *, max_workers: int, max_result: int | None = None) -> Executor:
    """An executor by name: ``inline``, ``threads`` or ``processes`` (``max_result``
    bounds what a result may take to come back from a process)."""
    if name == "inline":
        return InlineExecutor()
    if name == "threads":
        return ThreadExecutor(max_workers)
    if name == "processes":
        from maze_core.run.local.processes import ProcessExecutor

        return ProcessExecutor(max_workers, max_result=max_result)
    raise ValidationError(
        f"unknown executor {name!r}",
        fix=f"use one of {', '.join(EXECUTORS)}",
        culprit=name,
    )
