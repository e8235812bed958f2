"""The attempts a local runtime runs in worker processes, and the interrupts meant for them.

An interrupt (see :mod:`maze_core.run.worker.interrupt`) may come for a task whose attempt
has not reached a worker yet: its caller's coroutine started, so in place the body would
have run up to its first ``await``. It is kept and given to the attempt when it starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["Attempts"]

Key = tuple[int, str]  # (run id, task id)


class Attempts:
    """Running attempts by task, and interrupts waiting for theirs to start."""

    def __init__(self, interrupt: Callable[[Future[Any]], bool]) -> None:
        self._interrupt = interrupt  # the executor's: signals the worker running a future
        self._lock = threading.Lock()
        self._running: dict[Key, Future[Any]] = {}
        self._waiting: set[Key] = set()  # interrupted before they started

    def started(self, key: Key, future: Future[Any]) -> None:
        """The task's attempt ``future`` was handed to the executor."""
        with self._lock:
            self._running[key] = future
            interrupted = key in self._waiting
            self._waiting.discard(key)
        if interrupted:
            self._interrupt(future)

    def ended(self, key: Key, future: Future[Any]) -> None:
        with self._lock:
            if self._running.get(key) is future:
                del self._running[key]

    def running(self, key: Key) -> Future[Any] | None:
        return self._running.get(key)

    def interrupt(self, key: Key) -> bool:
        """Interrupt the task's attempt, now or when it starts."""
        with self._lock:
            future = self._running.get(key)
            if future is None:
                self._waiting.add(key)
                return True
        return self._interrupt(future)

    def forget(self, run_id: int) -> None:
        """The run ended: interrupts still waiting for its tasks never will be needed."""
        if not self._waiting:  # the usual case, on every run's end: no lock taken
            return
        with self._lock:
            self._waiting = {key for key in self._waiting if key[0] != run_id}
