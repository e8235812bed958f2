"""The ready queues, and the dispatch step that starts what can be placed.

The policy (see :mod:`maze_core.schedule.policies`) puts each ready task in a named
queue with a priority tuple, computed when the task becomes ready or its prediction
changes. Inside a queue, ready tasks wait in the policy's groups (``policy.group_of``: by
default the same resource request and model; one run for agent-level), each group a heap
on ``(priority, seq)``; ``seq`` is a global counter taken when a task becomes ready, so
ties break oldest first and the order is total. A dispatch step sorts the group heads (by
``policy.at_dispatch``, which may adjust a key to the cluster as it is now) and starts the
first one the policy can place; a head that cannot be placed is skipped (at most
``policy.backfill`` of them), and since it is blocked for want of resources its whole group
is too. One decision therefore costs O(groups log groups + placement), independent of how
many tasks wait; a queue of one group (the usual case) has no heads to sort.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

from maze_core.schedule.cluster import Cluster, Node
from maze_core.schedule.policies import Policy
from maze_core.schedule.state import READY, TaskState

__all__ = ["ReadyQueues"]

_Entry = tuple[Any, ...]  # (*priority, seq, task): flat, so heap comparisons stay cheap
Start = Callable[[TaskState, Node], None]


class ReadyQueues:
    """The ready tasks of every run, in the order ``policy`` gives them."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._queues: dict[str, dict[Any, list[_Entry]]] = {}
        self._seq = itertools.count()

    def push(self, ts: TaskState, now: float) -> None:
        """Queue a task that became ready (or was re-keyed: its older entry turns stale)."""
        ts.seq = next(self._seq)
        ts.ready_at = now
        policy = self.policy
        groups = self._queues.setdefault(policy.queue_of(ts), {})
        group = groups.setdefault(policy.group_of(ts), [])
        heapq.heappush(group, (*policy.priority(ts, now), ts.seq, ts))

    def dispatch(self, cluster: Cluster, start: Start) -> None:
        """Start what can be placed now, queue by queue (``start`` places one task)."""
        for name in list(self._queues):
            self._dispatch_queue(name, cluster, start)

    def ready_by_kind(self) -> dict[str, int]:
        """Tasks queued per kind (stale heap entries excluded)."""
        counts: dict[str, int] = {}
        for groups in self._queues.values():
            for heap in groups.values():
                for *_, seq, ts in heap:
                    if ts.state == READY and ts.seq == seq:
                        kind = ts.task.spec.kind
                        counts[kind] = counts.get(kind, 0) + 1
        return counts

    def _dispatch_queue(self, name: str, cluster: Cluster, start: Start) -> None:
        """Start tasks of one queue until no group head can be placed (see the docstring)."""
        groups = self._queues[name]
        policy = self.policy
        while True:
            if len(groups) == 1:
                self._dispatch_group(name, cluster, start)
                return
            heads: list[tuple[_Entry, Any]] = []
            for group, heap in list(groups.items()):
                _drop_stale(heap)
                if heap:
                    heads.append((heap[0], group))
                else:
                    del groups[group]
            if not heads:
                del self._queues[name]
                return
            if len(heads) > 1:
                heads.sort(
                    key=lambda head: (
                        policy.at_dispatch(head[0][-1], head[0][:-2], cluster),
                        head[0][-2],
                    )
                )
            for skipped, ((*_, ts), group) in enumerate(heads):
                if skipped > policy.backfill:
                    return
                node = policy.select_node(ts, cluster)
                if node is not None:
                    heapq.heappop(groups[group])
                    start(ts, node)
                    break
            else:
                return

    def _dispatch_group(self, name: str, cluster: Cluster, start: Start) -> None:
        """:meth:`_dispatch_queue` for a queue of one group (the usual case: one kind of
        request), where there are no heads to sort: start its tasks in order until one
        cannot be placed."""
        groups = self._queues[name]
        ((group, heap),) = groups.items()
        select_node = self.policy.select_node
        while True:
            _drop_stale(heap)
            if not heap:
                del groups[group]
                del self._queues[name]
                return
            ts = heap[0][-1]
            node = select_node(ts, cluster)
            if node is None:
                return
            heapq.heappop(heap)
            start(ts, node)


def _drop_stale(heap: list[_Entry]) -> None:
    """Pop the entries of tasks cancelled or re-keyed while queued off the top."""
    while heap and (heap[0][-1].state != READY or heap[0][-1].seq != heap[0][-2]):
        heapq.heappop(heap)
