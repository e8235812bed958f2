"""The scheduler's view of runs and tasks: states, predictions, ranks, placement facts.

The task states here are the only ones: hooks, run results, timelines and the progress
view use these same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal

from maze_core.tools import DEFAULT_SECONDS

if TYPE_CHECKING:
    from maze_core.graph import Task
    from maze_core.schedule.cluster import Allocation
    from maze_core.schedule.events import SubmitRun

__all__ = [
    "CANCELLED",
    "DEFAULT_SECONDS",
    "DONE",
    "FAILED",
    "FINAL",
    "READY",
    "RUNNING",
    "STATES",
    "WAITING",
    "RunState",
    "TaskState",
    "TaskStatus",
]

TaskStatus = Literal["waiting", "ready", "running", "done", "failed", "cancelled"]
"""``waiting`` for inputs, ``ready`` (queued for resources), ``running``, then one of the
final three."""

WAITING: Final = "waiting"
READY: Final = "ready"
RUNNING: Final = "running"
DONE: Final = "done"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
STATES: tuple[TaskStatus, ...] = (WAITING, READY, RUNNING, DONE, FAILED, CANCELLED)
FINAL = frozenset({DONE, FAILED, CANCELLED})


class TaskState:
    """The scheduler's view of one task of one run."""

    __slots__ = (
        "allocation",
        "attempt",
        "expected_end",
        "failures",
        "output_lost",
        "output_node",
        "output_size",
        "predicted",
        "rank",
        "ready_at",
        "run",
        "seq",
        "started_at",
        "state",
        "task",
        "waiting",
    )

    def __init__(self, run: RunState, task: Task, predicted: float) -> None:
        self.run = run
        self.task = task
        self.state: TaskStatus = WAITING
        self.waiting = len(task.deps)
        self.attempt = 0
        self.failures = 0
        self.seq = 0
        self.ready_at = 0.0
        self.started_at = 0.0
        self.expected_end = 0.0
        self.predicted = predicted
        self.rank = predicted
        self.allocation: Allocation | None = None
        self.output_node: str | None = None
        self.output_lost = False  # done, but its output left with a node
        self.output_size = 0

    def input_bytes(self) -> dict[str, int]:
        """Bytes of this task's inputs held on each node (for data affinity)."""
        local: dict[str, int] = {}
        tasks = self.run.tasks
        for dep in self.task.deps:
            upstream = tasks[dep]
            if upstream.output_node is not None:
                local[upstream.output_node] = (
                    local.get(upstream.output_node, 0) + upstream.output_size
                )
        return local


class RunState:
    """The scheduler's view of one run, with the aggregates policies rank it by."""

    __slots__ = (
        "cancelled",
        "expected_seconds",
        "fail_fast",
        "failed",
        "graph",
        "remaining_seconds",
        "run_id",
        "running",
        "submitted_at",
        "tasks",
        "unfinished",
    )

    def __init__(self, event: SubmitRun, defaults: Mapping[str, float]) -> None:
        graph = event.graph
        self.run_id = event.run_id
        self.graph = graph
        self.fail_fast = event.fail_fast
        self.submitted_at = event.time if event.age_from is None else event.age_from
        self.failed = False
        self.cancelled = False
        self.running = 0
        self.tasks = {
            task_id: TaskState(self, task, _seconds(event.predicted, task, defaults))
            for task_id, task in graph.tasks.items()
        }
        self.unfinished = len(self.tasks)
        self.remaining_seconds = sum(ts.predicted for ts in self.tasks.values())
        self.remaining_seconds += event.work_after  # the rest of the job: never finished here
        self.expected_seconds = self.update_ranks()

    def update_ranks(self) -> float:
        """Upward ranks (a task's predicted seconds plus the longest path after it);
        returns the critical path length of the whole run."""
        dependents = self.graph.dependents
        longest = 0.0
        for task_id in reversed(list(self.tasks)):
            ts = self.tasks[task_id]
            after = max((self.tasks[d].rank for d in dependents[task_id]), default=0.0)
            ts.rank = ts.predicted + after
            longest = max(longest, ts.rank)
        return longest


def _seconds(predicted: Mapping[str, float], task: Task, defaults: Mapping[str, float]) -> float:
    seconds = predicted.get(task.id)
    return float(seconds) if seconds is not None else defaults.get(task.spec.kind, 1.0)
