"""What a simulation measures, and how its figures are computed.

Percentiles interpolate linearly between order statistics (numpy's default), which is how
the published Maze figures were computed: the exp1 trace gives Maze(vLLM) an overall P95 of
286.0 s this way, the figure the paper quotes. The worst-window P95 is the largest P95 of
the response times of the workflows that finished in one ``WINDOW_S`` (120 s) window of
virtual time, as the published per-window plots bin them (AutoGen's 1,571 s on exp1).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maze_core.timeline import Slice

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule import Dispatch
    from maze_core.sim.engine import ClusterSpec

__all__ = ["WINDOW_S", "SimResult", "SimStats", "percentile", "worst_window_percentile"]

GIB = 2**30
WINDOW_S = 120.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linearly interpolated; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def worst_window_percentile(
    finished: Sequence[float], values: Sequence[float], q: float, window_s: float = WINDOW_S
) -> float:
    """The largest ``q``-th percentile of ``values`` over windows of ``finished`` times."""
    bins: dict[int, list[float]] = defaultdict(list)
    for when, value in zip(finished, values, strict=True):
        bins[int(when // window_s)].append(value)
    return max((percentile(group, q) for group in bins.values()), default=math.nan)


@dataclass(slots=True)
class SimResult:
    policy: str
    workflows: int
    response_s: list[float]
    makespan_s: float
    gpu_busy_share: float
    gpu_memory_share: float
    queue_s: dict[str, float]
    decision_us: list[float]
    model_loads: int
    tasks: int
    finished_s: list[float] = field(default_factory=list)
    """When each workflow of ``response_s`` finished (virtual seconds), in the same order."""
    timeline: list[Slice] = field(default_factory=list)
    """Every task as it ran, in dispatch order (``maze_core.timeline`` draws it)."""

    def percentile(self, q: float) -> float:
        return percentile(self.response_s, q)

    def summary(self) -> dict[str, Any]:
        """The figures ``maze sim --json`` writes for one policy."""
        minutes = self.makespan_s / 60 if self.makespan_s else math.nan
        return {
            "p50_s": self.percentile(50),
            "p95_s": self.percentile(95),
            "p99_s": self.percentile(99),
            "worst_window_p95_s": worst_window_percentile(self.finished_s, self.response_s, 95),
            "throughput_per_min": self.workflows / minutes if minutes else 0.0,
            "makespan_s": self.makespan_s,
            "gpu_busy_share": self.gpu_busy_share,
            "gpu_memory_share": self.gpu_memory_share,
            "queue_s_median": self.queue_s,
            "decision_us_median": statistics.median(self.decision_us) if self.decision_us else 0.0,
            "model_loads": self.model_loads,
            "tasks": self.tasks,
            "workflows": self.workflows,
        }


class SimStats:
    """What :func:`~maze_core.sim.engine.simulate` notes as tasks start and runs end."""

    def __init__(self, cluster: ClusterSpec) -> None:
        self.cluster = cluster
        self.arrived: dict[int, float] = {}
        self.response: list[float] = []
        self.finished_at: list[float] = []
        self.first = math.inf
        self.last = 0.0
        self.gpu_busy = 0.0
        self.gpu_memory = 0.0
        self.queue: dict[str, list[float]] = defaultdict(list)
        self.decision_us: list[float] = []
        self.model_loads = 0
        self.tasks = 0
        self.timeline: list[Slice] = []

    def started(
        self, dispatch: Dispatch, now: float, seconds: float, template: str, graph: TaskGraph
    ) -> None:
        resources = dispatch.allocation.resources
        kind = "gpu" if resources.gpus else ("io" if not resources.cpus else "cpu")
        self.queue[kind].append(now - dispatch.ready_at)
        self.gpu_busy += resources.gpus * seconds
        self.gpu_memory += (resources.gpu_memory or 0) * len(dispatch.allocation.gpu_ids) * seconds
        self.model_loads += dispatch.model_load
        self.tasks += 1
        task = graph.tasks[dispatch.task_id]
        self.timeline.append(
            Slice(
                run=dispatch.run_id,
                workflow=template,
                task=dispatch.task_id,
                tool=task.spec.name,
                kind=kind,
                node=dispatch.allocation.node,
                start=now,
                end=now + seconds,
                queued=dispatch.ready_at,
                deps=task.deps,
                attempts=dispatch.attempt + 1,
            )
        )

    def finished(self, run_id: int, now: float) -> None:
        arrived = self.arrived.pop(run_id)
        self.response.append(now - arrived)
        self.finished_at.append(now)
        self.first = min(self.first, arrived)
        self.last = max(self.last, now)

    def result(self, policy: str) -> SimResult:
        makespan = self.last - self.first if self.response else 0.0
        gpus = self.cluster.nodes * self.cluster.gpus
        capacity = gpus * makespan
        memory_capacity = gpus * self.cluster.gpu_memory_gib * GIB * makespan
        return SimResult(
            policy=policy,
            workflows=len(self.response),
            response_s=self.response,
            makespan_s=makespan,
            gpu_busy_share=self.gpu_busy / capacity if capacity else 0.0,
            gpu_memory_share=self.gpu_memory / memory_capacity if memory_capacity else 0.0,
            queue_s={k: statistics.median(v) for k, v in sorted(self.queue.items())},
            decision_us=self.decision_us,
            model_loads=self.model_loads,
            tasks=self.tasks,
            finished_s=self.finished_at,
            timeline=self.timeline,
        )
