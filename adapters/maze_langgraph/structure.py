"""What the scheduler should know of a graph: which nodes can follow which, and how long
nodes take, so each node's task carries the work its invocation still has after it.

The static structure comes from the graph's builder: plain and waiting edges, conditional
branches with their declared destinations (a branch without a path map may go anywhere),
and ``Command`` destinations. Node durations are learned from the runs (an EWMA per node).
Cycles (an agent's loop) count once: the path is taken over the graph's strongly connected
components, each weighing the sum of its nodes, which keeps it linear in the graph's size.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["GraphShape"]

_START, _END = "__start__", "__end__"
_DEFAULT_SECONDS = 0.1
_ALPHA = 0.3
_NOTICEABLE_S = 0.01  # smaller moves do not change any decision worth recomputing for


class GraphShape:
    """Successors of each node and their learned durations; thread-safe."""

    def __init__(self, graph: Any) -> None:
        self._lock = threading.Lock()
        self.successors = _successors(graph)
        self.seconds: dict[str, float] = {}
        self._after: dict[str, float] | None = None
        # the structure is fixed: components and their order are found once, and only the
        # path lengths are recomputed when an estimate moves (each node's first run does)
        self._component, self._next = _condensed(self.successors)
        self._order = sorted(self._next)  # Tarjan's numbering: successors come first

    def observed(self, node: str, seconds: float) -> None:
        with self._lock:
            old = self.seconds.get(node)
            new = seconds if old is None else old + _ALPHA * (seconds - old)
            self.seconds[node] = new
            if old is None or abs(new - old) > max(0.2 * old, _NOTICEABLE_S):
                self._after = None  # recompute the paths only when an estimate moved

    def work_after(self, node: str) -> float:
        """Predicted seconds on the longest path from ``node`` to the end, ``node`` excluded."""
        with self._lock:
            if self._after is None:
                self._after = self._paths()
            return self._after.get(node, 0.0)

    def _paths(self) -> dict[str, float]:
        component, seconds = self._component, self.seconds
        weight: dict[int, float] = dict.fromkeys(self._next, 0.0)
        for name, index in component.items():
            weight[index] += seconds.get(name, _DEFAULT_SECONDS)
        longest: dict[int, float] = {}
        for index in self._order:
            longest[index] = weight[index] + max(
                (longest[s] for s in self._next[index]), default=0.0
            )
        return {
            name: longest[index] - seconds.get(name, _DEFAULT_SECONDS)
            for name, index in component.items()
        }


def _condensed(successors: dict[str, set[str]]) -> tuple[dict[str, int], dict[int, set[int]]]:
    """Each node's strongly connected component, and each component's successors."""
    graph = {n: {m for m in out if m != _END} for n, out in successors.items()}
    for out in list(graph.values()):
        for name in out:
            graph.setdefault(name, set())
    component = _components(graph)
    after: dict[int, set[int]] = {index: set() for index in component.values()}
    for name, out in graph.items():
        for successor in out:
            if component[successor] != component[name]:
                after[component[name]].add(component[successor])
    return component, after


def _components(graph: dict[str, set[str]]) -> dict[str, int]:
    """Tarjan's strongly connected components, numbered in reverse topological order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component[member] = counter
                if member == node:
                    break
            counter += 1

    for node in graph:
        if node not in index:
            visit(node)
    return component


def _successors(graph: Any) -> dict[str, set[str]]:
    builder = getattr(graph, "builder", None)
    nodes = set(getattr(builder, "nodes", {}) or graph.nodes)
    found: dict[str, set[str]] = {name: set() for name in nodes | {_START}}
    if builder is None:
        return found
    for start, end in getattr(builder, "edges", ()):
        found.setdefault(start, set()).add(end)
    for starts, end in getattr(builder, "waiting_edges", ()):
        for start in starts:
            found.setdefault(start, set()).add(end)
    for start, branches in getattr(builder, "branches", {}).items():
        for branch in branches.values():
            ends = getattr(branch, "ends", None)
            targets = set(ends.values()) if ends else nodes
            found.setdefault(start, set()).update(targets)
    for name, spec in getattr(builder, "nodes", {}).items():
        ends = getattr(spec, "ends", None) or ()
        found[name].update(ends.values() if isinstance(ends, dict) else ends)
    return found
