"""What a scheduling policy answers, and what it may switch off.

A policy answers four questions for the scheduler, which owns the state of runs and tasks
(what a policy keeps for itself, it keeps in itself, told of runs and tasks as they go):

* ``queue_of(task)``: which ready queue the task waits in. Queues are served independently,
  so a backlog in one (GPU work) never blocks another (CPU work).
* ``group_of(task)``: the group the task waits in inside its queue. A group is blocked as
  a whole when its head cannot be placed, so its tasks must be alike: by default the same
  request and model (a head that does not fit means none of them does).
* ``priority(task, now)``: the task's key in its queue, a tuple, smallest first. It is
  computed when the task becomes ready (or its prediction changes); ties break on the
  scheduler's global ``seq`` (the order tasks became ready), so the order is total.
* ``select_node(task, cluster)``: a node where the task fits now, or None. A node returned
  is the one the task starts on.

``backfill`` bounds how many blocked heads a queue may skip in one pass, so a task too big
for the free resources does not stop smaller ones behind it, at a bounded cost per decision.
``keeps_models`` says whether a model stays resident on its node after a task used it (it
does for every policy but those modelling frameworks that load a model inside each task).

Ablations (:meth:`Policy.ablate`) switch off one named mechanism so that a gain can be
traced to its cause: ``aging`` (the submission-time term of an order) and ``affinity``
(placing by model residency, input data or a run's context node).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule.cluster import Cluster, Node
    from maze_core.schedule.state import RunState, TaskState

__all__ = ["ABLATIONS", "Policy"]

ABLATIONS = ("aging", "affinity")


class Policy:
    """Base policy: per-kind queues, arrival order, first fit. Subclasses override."""

    name = "base"
    backfill = 16
    keeps_models = True

    def queue_of(self, ts: TaskState) -> str:
        return ts.task.spec.kind

    def group_of(self, ts: TaskState) -> Hashable:
        spec = ts.task.spec
        return (spec.resources, spec.model)

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        return ()

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        return cluster.first_fit(ts)

    def at_dispatch(
        self, ts: TaskState, priority: tuple[float, ...], cluster: Cluster
    ) -> tuple[float, ...]:
        """The priority that orders queue heads now (the queued key, unless a policy adjusts
        it to the cluster's current state; called once per head per dispatch step)."""
        return priority

    def admit(self, graph: TaskGraph, cluster: Cluster) -> str | None:
        """Why this policy can never run ``graph`` on ``cluster`` (None: it can)."""
        return None

    def ablate(self, mechanism: str) -> bool:
        """Switch ``mechanism`` (one of :data:`ABLATIONS`) off; False when this policy has
        no such mechanism (nothing changes)."""
        return False

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        """Called once per accepted run, before its first task is queued."""

    def on_finish(self, run: RunState) -> None:
        """Called once per run when its last task became final."""

    def on_final(self, ts: TaskState) -> None:
        """Called when a task became final (done, failed or cancelled)."""

    def on_reopened(self, ts: TaskState) -> None:
        """Called when a done task must run again (the node holding its output left)."""
