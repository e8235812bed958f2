"""Maze's scheduling policies, the textbook ones, and the registry of every policy by name.

What a policy answers is :mod:`maze_core.schedule.policy`; the published systems DAPS is
measured against (``maze-original``, ``agent-level``, ``agent-level-autogen``) are in
:mod:`maze_core.schedule.baselines`.

Policies, by name (:data:`POLICIES`):

``fcfs``
    One global queue in arrival order, first fit, no backfill: the textbook baseline.
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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from maze_core.errors import ValidationError
from maze_core.schedule.baselines import AgentLevel, AgentLevelAutogen, MazeOriginal
from maze_core.schedule.policy import ABLATIONS, Policy

if TYPE_CHECKING:
    from maze_core.schedule.cluster import Cluster, Node
    from maze_core.schedule.state import TaskState

__all__ = [
    "ABLATIONS",
    "POLICIES",
    "AgentLevel",
    "AgentLevelAutogen",
    "Daps",
    "DapsWeights",
    "Fcfs",
    "Heft",
    "MazeOriginal",
    "Policy",
    "make_policy",
]


class Fcfs(Policy):
    name = "fcfs"
    backfill = 0

    def queue_of(self, ts: TaskState) -> str:
        return "all"


class Heft(Policy):
    name = "heft"

    def __init__(self) -> None:
        self.affinity = True

    def ablate(self, mechanism: str) -> bool:
        if mechanism != "affinity":
            return False
        self.affinity = False
        return True

    def priority(self, ts: TaskState, now: float) -> tuple[float, ...]:
        return (-ts.rank,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if self.affinity and ts.task.spec.model is not None:
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
        self.affinity = True

    def ablate(self, mechanism: str) -> bool:
        if mechanism == "aging":
            self.weights = replace(self.weights, age=0.0)
        elif mechanism == "affinity":
            self.affinity = False
        return mechanism in ABLATIONS

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
        if (
            not self.affinity
            or model is None
            or cluster.holders_with_room(model, ts.task.spec.resources)
        ):
            return priority
        return (priority[0] + self.weights.remaining * cluster.model_load_s,)

    def select_node(self, ts: TaskState, cluster: Cluster) -> Node | None:
        if not self.affinity:
            return cluster.next_fit(ts)
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


POLICIES: Mapping[str, Callable[[], Policy]] = {
    "fcfs": Fcfs,
    "maze-original": MazeOriginal,
    "heft": Heft,
    "daps": Daps,
    "agent-level": AgentLevel,
    "agent-level-autogen": AgentLevelAutogen,
}


def make_policy(
    policy: str | Policy,
    extra: Mapping[str, Callable[[], Policy]] | None = None,
    *,
    ablate: Iterable[str] = (),
) -> Policy:
    """A policy object from a name (built-in or from ``extra``) or the object itself, with
    the mechanisms named in ``ablate`` switched off (see :meth:`Policy.ablate`; one the
    policy does not have changes nothing)."""
    if isinstance(policy, Policy):
        made = policy
    else:
        known = {**POLICIES, **(extra or {})}
        factory = known.get(policy)
        if factory is None:
            raise ValidationError(
                f"unknown scheduling policy {policy!r}",
                fix=f"use one of {', '.join(sorted(known))}, or pass a Policy object",
                culprit=policy,
            )
        made = factory()
    for mechanism in ablate:
        if mechanism not in ABLATIONS:
            raise ValidationError(
                f"unknown ablation {mechanism!r}",
                fix=f"use one of {', '.join(ABLATIONS)}",
                culprit=mechanism,
            )
        made.ablate(mechanism)
    return made
