"""The ready queues, and the dispatch step that starts what can be placed.

The policy (see :mod:`maze_core.schedule.policy`) puts each ready task in a named queue
with a priority tuple, computed when the task becomes ready or its prediction changes.
Inside a queue, ready tasks wait in the policy's groups (``policy.group_of``: by default
the same resource request and model; one run for agent-level), each group a heap on
``(priority, seq)``; ``seq`` is a global counter taken when a task becomes ready, so ties
break oldest first and the order is total. The queue keeps a heap of its groups' heads.

A dispatch step pops the best head and starts it where the policy places it. A head that
cannot be placed is held out of the step (at most ``policy.backfill`` of them), and since
it is blocked for want of resources its whole group is too; placing a task only takes
resources, so a held head stays blocked until the step ends. ``policy.at_dispatch`` may
raise a head's key to the cluster as it is now (daps: a model to load first); the head
then competes with its raised key for the rest of the step. One decision therefore costs
O(log groups + placement), independent of how many tasks and tool shapes wait.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Any

from maze_core.schedule.cluster import Cluster, Node
from maze_core.schedule.policy import Policy
from maze_core.schedule.state import READY, TaskState

__all__ = ["ReadyQueues"]

_Entry = tuple[Any, ...]  # (*priority, seq, task): flat, so heap comparisons stay cheap
_Head = tuple[Any, ...]  # (*priority, seq, group): a group's head in its queue's heap
Start = Callable[[TaskState, Node], None]


class _Queue:
    """One named queue: its groups' heaps, and the heap of their heads (``live`` names the
    one current head entry per group; others in ``heads`` are superseded). ``riders``
    counts queued entries that ask for no CPU and no GPU (at least as many as are live):
    when it is 0 and the cluster has no CPU and no GPU free, nothing here can start."""

    __slots__ = ("groups", "heads", "live", "riders")

    def __init__(self) -> None:
        self.groups: dict[Hashable, list[_Entry]] = {}
        self.heads: list[_Head] = []
        self.live: dict[Hashable, int] = {}
        self.riders = 0

    def push(self, group: Hashable, entry: _Entry) -> None:
        heap = self.groups.setdefault(group, [])
        heapq.heappush(heap, entry)
        self.riders += _rides(entry)
        if heap[0] is entry:
            self.announce(group, entry)

    def _pop(self, heap: list[_Entry]) -> None:
        self.riders -= _rides(heapq.heappop(heap))

    def _drop_stale(self, heap: list[_Entry]) -> None:
        """Pop the entries of tasks cancelled or re-keyed while queued off the top."""
        while heap and (heap[0][-1].state != READY or heap[0][-1].seq != heap[0][-2]):
            self._pop(heap)

    def announce(self, group: Hashable, entry: _Entry) -> None:
        """Make ``entry`` (the top of ``group``'s heap) the group's head."""
        self.live[group] = entry[-2]
        heapq.heappush(self.heads, (*entry[:-1], group))

    def head_task(self, head: _Head) -> TaskState | None:
        """The task ``head`` stands for, if it is still its group's live head; when the
        group's top changed (cancelled or re-keyed tasks dropped), the new top is
        announced and None returned."""
        group = head[-1]
        if self.live.get(group) != head[-2]:
            return None
        heap = self.groups[group]
        self._drop_stale(heap)
        if not heap:
            del self.groups[group], self.live[group]
            return None
        if heap[0][-2] != head[-2]:
            self.announce(group, heap[0])
            return None
        task: TaskState = heap[0][-1]
        return task

    def started(self, group: Hashable) -> None:
        """The group's top was started: its next task (if any) becomes the head."""
        heap = self.groups[group]
        self._pop(heap)
        self._drop_stale(heap)
        if heap:
            self.announce(group, heap[0])
        else:
            del self.groups[group], self.live[group]


class ReadyQueues:
    """The ready tasks of every run, in the order ``policy`` gives them."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()
        self._adjusts = type(policy).at_dispatch is not Policy.at_dispatch

    def push(self, ts: TaskState, now: float) -> None:
        """Queue a task that became ready (or was re-keyed: its older entry turns stale)."""
        ts.seq = next(self._seq)
        ts.ready_at = now
        policy = self.policy
        name = policy.queue_of(ts)
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = _Queue()
        queue.push(policy.group_of(ts), (*policy.priority(ts, now), ts.seq, ts))

    def dispatch(self, cluster: Cluster, start: Start) -> None:
        """Start what can be placed now, queue by queue (``start`` places one task)."""
        for name, queue in list(self._queues.items()):
            self._dispatch_queue(queue, cluster, start)
            if not queue.groups:
                del self._queues[name]

    def ready_by_kind(self) -> dict[str, int]:
        """Tasks queued per kind (stale heap entries excluded)."""
        counts: dict[str, int] = {}
        for queue in self._queues.values():
            for heap in queue.groups.values():
                for *_, seq, ts in heap:
                    if ts.state == READY and ts.seq == seq:
                        kind = ts.task.spec.kind
                        counts[kind] = counts.get(kind, 0) + 1
        return counts

    def _dispatch_queue(self, queue: _Queue, cluster: Cluster, start: Start) -> None:
        """Start tasks of one queue until no head can be placed (see the docstring)."""
        policy = self.policy
        heads = queue.heads
        held: list[_Head] = []  # blocked heads, back in the queue when the step ends
        raised: list[tuple[Any, ...]] = []  # (*raised key, seq, head): at_dispatch rose
        try:
            while heads or raised:
                if not queue.riders and cluster.exhausted():
                    return  # nothing queued here can start until something is released
                if raised and (not heads or raised[0][:-1] < heads[0][:-1]):
                    head, adjusted = heapq.heappop(raised)[-1], True
                else:
                    head, adjusted = heapq.heappop(heads), not self._adjusts
                ts = queue.head_task(head)
                if ts is None:
                    continue
                if not adjusted:
                    key = head[:-2]
                    key_now = policy.at_dispatch(ts, key, cluster)
                    if key_now != key:
                        heapq.heappush(raised, (*key_now, head[-2], head))
                        continue
                node = policy.select_node(ts, cluster)
                if node is None:
                    held.append(head)
                    if len(held) > policy.backfill:
                        return
                    continue
                queue.started(head[-1])
                start(ts, node)
        finally:
            for head in itertools.chain(held, (entry[-1] for entry in raised)):
                heapq.heappush(heads, head)


def _rides(entry: _Entry) -> bool:
    """Whether the entry's task asks for no CPU and no GPU (it may start on a full node)."""
    request = entry[-1].task.spec.resources
    return not request.cpus and not request.gpus
