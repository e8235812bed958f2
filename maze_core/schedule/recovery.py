"""Recovery from a node that left: what must run again, and the errors that say why.

A task running on the node runs again elsewhere (not counted as a retry). A done task whose
output the node held runs again when that output is still needed (a sink, or a dependent
yet to start), together with the lost upstream outputs it needs in turn.
"""

from __future__ import annotations

from maze_core.errors import WorkerLostError
from maze_core.schedule.state import READY, WAITING, RunState, TaskState

__all__ = ["needed_now", "node_left", "output_lost", "with_lost_inputs"]


def needed_now(ts: TaskState) -> bool:
    """Whether a done task's output is still to be read: it is a result of the run (a
    sink), or a dependent has yet to start (a running one fetched it, or says it could not)."""
    dependents = ts.run.graph.dependents[ts.task.id]
    tasks = ts.run.tasks
    return not dependents or any(tasks[d].state in (WAITING, READY) for d in dependents)


def with_lost_inputs(run: RunState, needed: list[TaskState]) -> dict[str, TaskState]:
    """The tasks of ``needed`` and, transitively, the done tasks whose lost outputs they
    read: everything to run again, by task id."""
    tasks = run.tasks
    redo: dict[str, TaskState] = {}
    stack = list(needed)
    while stack:
        ts = stack.pop()
        if ts.task.id not in redo:
            redo[ts.task.id] = ts
            stack.extend(tasks[dep] for dep in ts.task.deps if tasks[dep].output_lost)
    return redo


def node_left(task_id: str, node: str) -> WorkerLostError:
    return WorkerLostError(
        f"task {task_id!r} was running on node {node!r}, which left the cluster",
        fix="nothing: it was queued again and will run elsewhere",
        culprit=node,
    )


def output_lost(task_id: str) -> WorkerLostError:
    return WorkerLostError(
        f"the output of task {task_id!r} was lost with the node that held it",
        fix="nothing: it is being computed again",
        culprit=task_id,
    )
