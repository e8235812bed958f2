"""Deadlines: one daemon thread that fires callbacks when their time comes (for timeouts)."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

__all__ = ["Deadlines"]


class Deadlines:
    """Call ``callback()`` at monotonic time ``when``; cheap to add many, one thread in all.

    The thread starts with the first deadline and stops with :meth:`close`. Callbacks run on
    that thread and must be quick (the runtime's just post an event).
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, when: float, callback: Callable[[], None]) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (when, next(self._order), callback))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name="maze-deadlines", daemon=True
                )
                self._thread.start()
            self._wakeup.notify()

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._heap.clear()
            self._wakeup.notify()

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wakeup.wait(timeout)
                if self._closed:
                    return
                _, _, callback = heapq.heappop(self._heap)
            callback()
