"""Load: many concurrent workflows through one runtime, in waves, watching the driver's memory.

Shared by the tests (a short version in CI, the full one with ``-m soak``) and
``benchmarks/soak.py``.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from maze_core import Workflow, tool


@tool
def leaf(seed: int, i: int) -> int:
    return (seed * 31 + i) % 1009


@tool
def fold(values: list) -> int:
    return sum(values) % 1009


def ten_task_workflow(seed: int) -> tuple[Workflow, int]:
    """Eight leaves, a fold of them and a fold of that: 10 tasks; and the expected output."""
    wf = Workflow(f"load-{seed}")
    leaves = [wf.add(leaf, seed, i) for i in range(8)]
    first = wf.add(fold, leaves)
    wf.add(fold, [first], task_name="answer")
    expected = sum((seed * 31 + i) % 1009 for i in range(8)) % 1009
    return wf, expected


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc``; 0 where it is not there)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class DecisionTimer:
    """Times the scheduler's ``handle`` per dispatched task while installed (the decision
    cost the soak reports per wave, to show it stays flat as runs come and go)."""

    def __init__(self, runtime: Any) -> None:
        self.scheduler = runtime.scheduler
        self.samples: list[float] = []

    def __enter__(self) -> DecisionTimer:
        from maze_core.schedule import Dispatch

        handle = self.scheduler.handle

        def timed(*events: Any) -> list[Any]:
            start = time.perf_counter()
            instructions = handle(*events)
            dispatched = sum(isinstance(i, Dispatch) for i in instructions)
            if dispatched:
                self.samples.append((time.perf_counter() - start) / dispatched * 1e6)
            return instructions

        self.scheduler.handle = timed
        return self

    def __exit__(self, *exc: object) -> None:
        del self.scheduler.handle  # back to the class's method

    def median_us(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0


@dataclass
class Wave:
    workflows: int
    completed: int
    wrong: int
    seconds: float
    p95_s: float
    rss_after: int
    retries: int = 0
    decision_us: float = 0.0
    latencies: list[float] = field(default_factory=list, repr=False)


def wave(runtime: Any, workflows: int, first_seed: int = 0) -> Wave:
    """Submit ``workflows`` at once, wait for all, check every answer."""
    start = time.perf_counter()
    submitted = []
    completed = wrong = retries = 0
    latencies = []
    with DecisionTimer(runtime) as timer:
        for seed in range(first_seed, first_seed + workflows):
            wf, expected = ten_task_workflow(seed)
            submitted.append((runtime.submit(wf), expected))
        for handle, expected in submitted:
            result = handle.result(timeout=600)
            latencies.append(result.seconds)
            retries += sum(max(0, r.attempts - 1) for r in result.tasks.values())
            if result.ok:
                completed += 1
                wrong += result["answer"] != expected
    seconds = time.perf_counter() - start
    del submitted
    gc.collect()
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else latencies[0]
    return Wave(
        workflows,
        completed,
        wrong,
        seconds,
        p95,
        rss_bytes(),
        retries,
        timer.median_us(),
        latencies,
    )
