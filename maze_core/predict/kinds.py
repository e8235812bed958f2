"""What kind of work a call is, learned from its calls: computing (``cpu``) or waiting (``io``).

Where a call runs best follows from it: a call that waits (on a model, an API) runs in its
caller, with the caller's live objects and no CPU slot; one that computes goes to a worker
process or a Ray node, where it runs beside other computing calls instead of taking turns
on one interpreter lock. Explicit declarations always win; this learns the rest.

Evidence per call: its wall seconds, the CPU seconds of the thread that ran it, how long
that thread waited for a CPU (``queued``: on a loaded machine a computing call spends much
of its wall time there, not waiting for I/O), and how many calls ran in place beside it at
most (its ``crowd``: calls in the caller share one interpreter lock or one event loop, so a
computing call among ``n`` of them is on the CPU about ``1/n`` of its wall time). A call
computes when it spent at least ``BUSY`` of its wall time on or queued for the CPU, or its
CPU time scaled by its crowd says so. A name's kind is the median call's over its last
``WINDOW`` calls, once ``LEARN_AFTER`` have been seen, so it follows a change of behaviour;
a name learned computing goes back to waiting only below half of ``BUSY`` (a loaded machine
must not make it flap). MaLearn keeps a runtime's learner and saves it with its models, so
the next process starts with what this one learned.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Mapping

from maze_core.tools import Kind

__all__ = ["BUSY", "LEARN_AFTER", "MIN_CPU_S", "WINDOW", "KindLearner"]

LEARN_AFTER = 2  # calls seen before a kind is known (the first ones run in the caller)
WINDOW = 8  # the calls a kind is judged on: recent enough to follow a change
BUSY = 0.5  # the share of its wall time a computing call spends on (or queued for) the CPU
MIN_CPU_S = 0.02
"""CPU seconds a call must compute to be worth moving: a worker round trip costs about
0.5 ms on local processes and a few ms on Ray, and a call that short is done sooner in
place even on a shared interpreter lock."""


class KindLearner:
    """The learned kind of each named call (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, deque[tuple[float, float]]] = {}  # name -> (cpu s, busy)
        self._kinds: dict[str, Kind] = {}

    def observe(
        self, name: str, wall: float, cpu: float, crowd: int = 1, queued: float = 0.0
    ) -> None:
        """One call of ``name`` took ``wall`` seconds: ``cpu`` of them on its thread's CPU,
        ``queued`` waiting for one, among ``crowd`` calls sharing its interpreter at most."""
        busy = min(1.0, max(cpu * max(1, crowd), cpu + queued) / wall) if wall > 0 else 0.0
        with self._lock:
            calls = self._calls.get(name)
            if calls is None:
                calls = self._calls[name] = deque(maxlen=WINDOW)
            calls.append((cpu, busy))
            if len(calls) >= LEARN_AFTER:
                self._kinds[name] = _judged(calls, self._kinds.get(name))

    def kind(self, name: str) -> Kind | None:
        """``cpu`` or ``io`` for ``name``; None until ``LEARN_AFTER`` calls were seen."""
        return self._kinds.get(name)

    def calls(self) -> dict[str, list[tuple[float, float]]]:
        """What each kind is judged on (to save it: see :meth:`restore`)."""
        with self._lock:
            return {name: list(calls) for name, calls in self._calls.items()}

    def restore(self, saved: Mapping[str, list[tuple[float, float]]]) -> None:
        """Take up what an earlier process learned (its :meth:`calls`)."""
        with self._lock:
            for name, seen in saved.items():
                calls = self._calls[name] = deque(seen, maxlen=WINDOW)
                if len(calls) >= LEARN_AFTER:
                    self._kinds[name] = _judged(calls, None)

    def known(self) -> dict[str, tuple[Kind | None, int]]:
        """Every name seen: its kind and the calls it was judged on."""
        with self._lock:
            return {name: (self._kinds.get(name), len(c)) for name, c in self._calls.items()}


def _judged(calls: deque[tuple[float, float]], was: Kind | None) -> Kind:
    cpu = statistics.median(c for c, _ in calls)
    busy = statistics.median(b for _, b in calls)
    threshold = BUSY / 2 if was == "cpu" else BUSY
    return "cpu" if cpu >= MIN_CPU_S and busy >= threshold else "io"
