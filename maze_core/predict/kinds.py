"""What kind of work a call is, learned from its calls: computing (``cpu``) or waiting (``io``).

Where a call runs best follows from it: a call that waits (on a model, an API) runs in its
caller, with the caller's live objects and no CPU slot; one that computes goes to a worker
process or a Ray node, where it runs beside other computing calls instead of taking turns
on one interpreter lock. Explicit declarations always win; this learns the rest.

Evidence per call: its wall seconds, the CPU seconds of the thread that ran it, and how
many calls ran in place beside it at most (its ``crowd``: calls in the caller share one
interpreter lock or one event loop, so a computing call among ``n`` of them is on the CPU
about ``1/n`` of its wall time). A call computes when its CPU time, scaled by its crowd,
is at least ``BUSY`` of its wall time. A name's kind is the median call's over its last
``WINDOW`` calls, once ``LEARN_AFTER`` have been seen, so it follows a change of behaviour.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

from maze_core.tools import Kind

__all__ = ["BUSY", "LEARN_AFTER", "MIN_CPU_S", "WINDOW", "KindLearner"]

LEARN_AFTER = 2  # calls seen before a kind is known (the first ones run in the caller)
WINDOW = 8  # the calls a kind is judged on: recent enough to follow a change
BUSY = 0.5  # the share of its own time a computing call spends on the CPU, at least
MIN_CPU_S = 0.02
"""CPU seconds a call must compute to be worth moving: a worker round trip costs about
0.5 ms on local processes and a few ms on Ray, and a call that short is done sooner in
place even on a shared interpreter lock."""


class KindLearner:
    """The learned kind of each named call (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, deque[tuple[float, float]]] = {}  # name -> (cpu s, busy)

    def observe(self, name: str, wall: float, cpu: float, crowd: int = 1) -> None:
        """One call of ``name`` took ``wall`` seconds, ``cpu`` of them on its thread's CPU,
        among ``crowd`` calls sharing its interpreter at most."""
        busy = min(1.0, cpu * max(1, crowd) / wall) if wall > 0 else 0.0
        with self._lock:
            calls = self._calls.get(name)
            if calls is None:
                calls = self._calls[name] = deque(maxlen=WINDOW)
            calls.append((cpu, busy))

    def kind(self, name: str) -> Kind | None:
        """``cpu`` or ``io`` for ``name``; None until ``LEARN_AFTER`` calls were seen."""
        with self._lock:
            calls = list(self._calls.get(name, ()))
        if len(calls) < LEARN_AFTER:
            return None
        cpu = statistics.median(c for c, _ in calls)
        busy = statistics.median(b for _, b in calls)
        return "cpu" if cpu >= MIN_CPU_S and busy >= BUSY else "io"

    def known(self) -> dict[str, tuple[Kind | None, int]]:
        """Every name seen: its kind and the calls it was judged on."""
        with self._lock:
            names = {name: len(calls) for name, calls in self._calls.items()}
        return {name: (self.kind(name), count) for name, count in names.items()}
