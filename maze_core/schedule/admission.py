"""Admission: whether a run can ever start, decided when it is submitted.

A request bigger than every node would wait forever in a queue; a policy may refuse runs
it cannot place (one that pins a run to a node). Both are rejected at submit with an
error naming the task and what it asks for.
"""

from __future__ import annotations

from maze_core.errors import InfeasibleResourcesError
from maze_core.graph import TaskGraph
from maze_core.schedule.cluster import Cluster
from maze_core.schedule.policies import Policy
from maze_core.tools import Resources

__all__ = ["Admission"]


class Admission:
    """Checks runs against the cluster (``forget`` when the cluster changes)."""

    def __init__(self, cluster: Cluster, policy: Policy) -> None:
        self.cluster = cluster
        self.policy = policy
        self._cache: dict[Resources, str | None] = {}

    def forget(self) -> None:
        """The cluster changed: what fits must be worked out again."""
        self._cache.clear()

    def _never_fits(self, request: Resources) -> str | None:
        """Why no node could ever hold ``request`` (None if one could); cached per request
        until the cluster changes, since big clusters make this O(nodes)."""
        if request in self._cache:
            return self._cache[request]
        reasons = [node.could_ever_fit(request) for node in self.cluster.nodes.values()]
        why = None
        if all(reasons):  # no node at all counts as infeasible too
            why = "; ".join(r for r in reasons[:3] if r) or "a node, and there are none"
        self._cache[request] = why
        return why

    def check(self, graph: TaskGraph) -> InfeasibleResourcesError | None:
        """The error rejecting ``graph``, or None when it can run."""
        for task in graph.tasks.values():
            why = self._never_fits(task.spec.resources)
            if why is not None:
                return InfeasibleResourcesError(
                    f"task {task.id!r} (tool {task.spec.name!r}) can never start:"
                    f" it asks for {why}",
                    fix="lower the tool's Resources, or run on a runtime with a node that big",
                    culprit=task.id,
                )
        reason = self.policy.admit(graph, self.cluster)
        if reason is not None:
            return InfeasibleResourcesError(
                f"policy {self.policy.name!r} cannot run it: {reason}",
                fix="use a policy that spreads tasks over nodes (daps), or a bigger node",
                culprit=graph.name,
            )
        return None
