"""What placement looks up often, indexed so that it never scans the whole cluster.

:class:`ClusterIndex` holds the nodes of each resident model, the nodes with a GPU free,
and every node's free CPUs. For the last, a max segment tree over the nodes in join order
answers, in O(log nodes): the most free CPUs anywhere (so a request that fits nowhere is
refused at once, which is what a queue of blocked tasks asks at every decision), and the
first node at or after a position with at least some free CPUs (first fit, and next fit
from a round-robin cursor). A node found this way may still lack memory or a custom
resource; the search then goes on after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from maze_core.schedule.cluster import Node

__all__ = ["ClusterIndex", "FreeCpus"]


class FreeCpus:
    """Free CPUs per position (0 .. size-1), with range-max queries."""

    __slots__ = ("_leaves", "_tree")

    def __init__(self, free: list[float]) -> None:
        leaves = 1
        while leaves < len(free):
            leaves *= 2
        self._leaves = leaves
        self._tree = [-1.0] * (2 * leaves)
        self._tree[leaves : leaves + len(free)] = free
        for i in range(leaves - 1, 0, -1):
            self._tree[i] = max(self._tree[2 * i], self._tree[2 * i + 1])

    def set(self, position: int, free: float) -> None:
        tree = self._tree
        i = position + self._leaves
        tree[i] = free
        i //= 2
        while i:
            best = max(tree[2 * i], tree[2 * i + 1])
            if tree[i] == best:
                return  # nothing above changes
            tree[i] = best
            i //= 2

    def most(self) -> float:
        """The most free CPUs on any node (-1 when there are no nodes)."""
        return self._tree[1]

    def at_least(self, amount: float, start: int = 0) -> Iterator[int]:
        """Positions with at least ``amount`` free CPUs, from ``start`` to the end, in order."""
        position = self.first(amount, start)
        while position is not None:
            yield position
            position = self.first(amount, position + 1)

    def first(self, amount: float, start: int = 0) -> int | None:
        """The first position >= ``start`` with at least ``amount`` free, or None."""
        tree, leaves = self._tree, self._leaves
        if start >= leaves or tree[1] < amount:
            return None
        i = start + leaves
        if tree[i] >= amount:
            return start
        # climb until a right sibling's subtree holds a fit, then descend to its leftmost
        while i > 1:
            if i % 2 == 0 and tree[i + 1] >= amount:
                i += 1
                break
            i //= 2
        else:
            return None
        while i < leaves:
            i = 2 * i if tree[2 * i] >= amount else 2 * i + 1
        return i - leaves


class ClusterIndex:
    """What placement looks up often, kept current by the nodes themselves: the nodes
    holding each model, the nodes with some GPU free, and every node's free CPUs by join
    position (:class:`~maze_core.schedule.capacity.FreeCpus`). Dicts serve as ordered
    sets, so iteration order (and so every decision) is deterministic."""

    __slots__ = ("free_cpus", "gpu_free", "model_nodes", "positions")

    def __init__(self) -> None:
        self.model_nodes: dict[str, dict[str, None]] = {}
        self.gpu_free: dict[str, None] = {}
        self.positions: dict[str, int] = {}
        self.free_cpus = FreeCpus([])

    def reorder(self, ring: list[Node]) -> None:
        """Index the free CPUs of ``ring`` (the nodes in join order) afresh."""
        self.positions = {node.name: i for i, node in enumerate(ring)}
        self.free_cpus = FreeCpus([node.free_cpus for node in ring])

    def cpus_changed(self, node: str, free: float) -> None:
        position = self.positions.get(node)
        if position is not None:
            self.free_cpus.set(position, free)

    def model_added(self, node: str, model: str) -> None:
        self.model_nodes.setdefault(model, {})[node] = None

    def model_removed(self, node: str, model: str) -> None:
        holders = self.model_nodes.get(model)
        if holders is not None:
            holders.pop(node, None)
            if not holders:
                del self.model_nodes[model]
