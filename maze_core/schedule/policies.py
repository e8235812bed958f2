"""Scheduling policies: the order of ready tasks and the node each one goes to.

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
* ``select_node(task, cluster)``: a node where the task fits now, or None.

``backfill`` bounds how many blocked heads a queue may skip in one pass, so a task too big
for the free resources does not stop smaller ones behind it, at a bounded cost per decision.

Policies, by name (:data:`POLICIES`):

``fcfs``
    One global queue in arrival order, first fit, no backfill: the textbook baseline.
``maze-original``
    The published DAPS as its code does it: queues per kind, key ``(workflow submission
    time, -(2 x urgency + 1 x criticality), seq)`` with urgency ``1 - remaining GPU tasks /
    most GPU tasks seen in a workflow`` and criticality ``predicted task time / expected
    workflow time``; the least loaded node. Workflows are served first-come-first-served:
    the score only reorders tasks inside one workflow.
``heft``
    Upward rank (longest predicted path to the workflow's end) first; earliest finish time
    placement, which on identical nodes means a node with the task's model resident.
``daps`` (the default)
    Our order, global across workflows: ``w_remaining x predicted remaining work of the
    workflow - w_rank x upward rank of the task + w_age x submission time of the
    workflow``. Short workflows go first (shortest remaining processing time minimises mean
    response time and, with aging, the tail under load), the critical path goes first
    inside a workflow, and the submission-time term is aging: having been submitted one
    second earlier is worth ``w_age`` seconds of remaining work, so no workflow starves.
    Aging by workflow rather than by task keeps a started workflow ahead of newer ones
    (aging by task ready time degenerates into round-robin across workflows). Queues per
    kind. Placement among nodes that fit: the task's model already resident, then the most
    input bytes already local, then the next node that fits round-robin (spreads load at
    O(1) amortised cost on large clusters). A task whose model
    is resident only on busy nodes waits for one of them when that is predicted to take
    less than loading the model elsewhere and no more tasks of that model are queued than
    it has replicas (delay scheduling, bounded: it never waits longer than one model load
    in all); otherwise the model gets another replica, loaded where none is resident, else
    where the evicted model has the most replicas elsewhere.
``agent-level``
    What agent frameworks do: each workflow is pinned to one node when submitted (the one
    with the fewest pinned workflows) and runs one task at a time there.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from maze_core.errors import ValidationError

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule.cluster import Cluster, Node
    from maze_core.schedule.state import RunState, TaskState

__all__ = [
    "POLICIES",
    "AgentLevel",
    "Daps",
    "DapsWeights",
    "Fcfs",
    "Heft",
    "MazeOriginal",
    "Policy",
    "make_policy",
]


class Policy:
    """Base policy: per-kind queues, arrival order, first fit. Subclasses override."""

    name = "base"
    backfill = 16

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

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        """Called once per accepted run, before its first task is queued."""

    def on_finish(self, run: RunState) -> None:
        """Called once per run when its last task became final."""

    def on_final(self, ts: TaskState) -> None:
        """Called when a task became final (done, failed or cancelled)."""

    def on_reopened(self, ts: TaskState) -> None:
        """Called when a done task must run again (the node holding its output left)."""


class Fcfs(Policy):
    name = "fcfs"
    backfill = 0

    def queue_of(self, ts: TaskState) -> str:
        return "all"


class MazeOriginal(Policy):
    name = "maze-original"

    def __init__(self) -> None:
        self.max_gpu_tasks = 1
        self.gpu_left: dict[int, int] = {}  # run id -> its GPU tasks not final yet

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        gpu_tasks = sum(task.spec.kind == "gpu" for task in run.graph.tasks.values())
        self.gpu_left[run.run_id] = gpu_tasks
        self.max_gpu_tasks = max(self.max_gpu_tasks, gpu_tasks)

    def on_final(self, ts: TaskState) -> None:
        if ts.task.spec.kind == "gpu":
            self.gpu_left[ts.run.run_id] -= 1

    def on_reopened(self, ts: TaskState) -> None:
        if ts.task.spec.kind == "gpu":
            self.gpu_left[ts.run.run_id] += 1

    def on_finish(self, run: RunState) -> None:
        del self.gpu_left[run.run_id]

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        run = ts.run
        urgency = 1 - self.gpu_left[run.run_id] / self.max_gpu_tasks
        criticality = ts.predicted / run.expected_seconds if run.expected_seconds else 0.0
        return (run.submitted_at, -(2.0 * urgency + 1.0 * criticality))

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        return cluster.least_loaded(ts)


class Heft(Policy):
    name = "heft"

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        return (-ts.rank,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if ts.task.spec.model is not None:
            node = cluster.preferred(ts)
            if node is not None and ts.task.spec.model in node.models:
                return node
        return cluster.first_fit(ts)


@dataclass(frozen=True, slots=True)
class DapsWeights:
    """Weights of the daps key, in seconds per second (see the module docstring)."""

    remaining: float = 1.0
    rank: float = 0.5
    age: float = 1.0


class Daps(Policy):
    name = "daps"

    def __init__(self, weights: DapsWeights | None = None) -> None:
        self.weights = weights or DapsWeights()

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        w = self.weights
        run = ts.run
        return (w.remaining * run.remaining_seconds - w.rank * ts.rank + w.age * run.submitted_at,)

    def at_dispatch(
        self, ts: TaskState, priority: tuple[float, ...], cluster: Cluster
    ) -> tuple[float, ...]:
        """A task whose model no free node holds would pay a load first: it counts as that
        much more remaining work, so a warm task of another model goes before it."""
        model = ts.task.spec.model
        if model is None or cluster.holders_with_room(model, ts.task.spec.resources):
            return priority
        return (priority[0] + self.weights.remaining * cluster.model_load_s,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        node = cluster.preferred(ts)
        model = ts.task.spec.model
        if model is None or (node is not None and model in node.models):
            return node or cluster.next_fit(ts)
        wait = cluster.model_wait(ts)
        patience = cluster.model_load_s - (cluster.now - ts.ready_at)
        enough_replicas = cluster.ready_models.get(model, 0) <= cluster.replicas(model)
        if wait is not None and wait < patience and enough_replicas:
            return None  # a node holding the model frees up sooner than loading it elsewhere
        return node or cluster.load_fit(ts)


class AgentLevel(Policy):
    name = "agent-level"
    backfill = 1_000_000  # a node serves every pinned workflow that can go

    def __init__(self) -> None:
        self.pinned: dict[str, int] = {}  # node -> workflows pinned to it
        self.homes: dict[int, str] = {}  # run id -> its node

    def queue_of(self, ts: TaskState) -> str:
        return f"node:{self.homes.get(ts.run.run_id)}"

    def group_of(self, ts: TaskState) -> Hashable:
        return ts.run.run_id  # one task at a time per workflow: its own group

    def admit(self, graph: TaskGraph, cluster: Cluster) -> str | None:
        if _homes(graph, cluster):
            return None
        return f"workflow {graph.name!r} needs one node that can hold all of its tasks"

    def on_submit(self, run: RunState, cluster: Cluster) -> None:
        self._pin(run, cluster)

    def _pin(self, run: RunState, cluster: Cluster) -> Node | None:
        """Give ``run`` the home with the fewest runs (again, when its home left)."""
        homes = _homes(run.graph, cluster)
        if not homes:
            return None  # no node can hold it now: it waits for one to join
        self.on_finish(run)
        node = min(homes, key=lambda n: self.pinned.get(n.name, 0))
        self.homes[run.run_id] = node.name
        self.pinned[node.name] = self.pinned.get(node.name, 0) + 1
        return node

    def on_finish(self, run: RunState) -> None:
        home = self.homes.pop(run.run_id, None)
        if home is not None:
            self.pinned[home] -= 1

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        return (ts.run.submitted_at,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if ts.run.running:
            return None  # what agent frameworks do: one step at a time
        node = cluster.nodes.get(self.homes.get(ts.run.run_id, ""))
        if node is None:
            node = self._pin(ts.run, cluster)
        return node if node is not None and node.fits(ts.task.spec.resources) else None


def _homes(graph: TaskGraph, cluster: Cluster) -> list[Node]:
    """Nodes that could run every task of ``graph`` (one at a time)."""
    return [
        node
        for node in cluster.nodes.values()
        if all(node.could_ever_fit(t.spec.resources) is None for t in graph.tasks.values())
    ]


POLICIES: Mapping[str, Callable[[], Policy]] = {
    "fcfs": Fcfs,
    "maze-original": MazeOriginal,
    "heft": Heft,
    "daps": Daps,
    "agent-level": AgentLevel,
}


def make_policy(
    policy: str | Policy, extra: Mapping[str, Callable[[], Policy]] | None = None
) -> Policy:
    """A policy object from a name (built-in or from ``extra``) or the object itself."""
    if isinstance(policy, Policy):
        return policy
    known = {**POLICIES, **(extra or {})}
    factory = known.get(policy)
    if factory is None:
        raise ValidationError(
            f"unknown scheduling policy {policy!r}",
            fix=f"use one of {', '.join(sorted(known))}, or pass a Policy object",
            culprit=policy,
        )
    return factory()
