"""Functions that invoke a compiled graph inside their body (a supervisor's wrapper node,
a ``@task`` that calls an agent, a method of an object holding one).

Such a function runs in the caller: a compiled graph does not survive a trip to another
process (LangGraph compares values with its own sentinel objects, which a copy does not
hold), and run in place the graph's own nodes are distributed when it is.
"""

from __future__ import annotations

from typing import Any

from maze_core.run.worker.captured import captured_values

__all__ = ["invokes_graph"]

_DEPTH = 3  # containers deep: a dict of agents, an object's list of graphs
_ITEMS = 64  # items of one container looked at


def invokes_graph(func: Any) -> bool:
    """Whether ``func`` captures a compiled LangGraph graph (in its closure, its globals,
    the object of a bound method, or inside a container or object they hold)."""
    from langgraph.pregel import Pregel

    return any(_holds(value, Pregel, _DEPTH) for value in captured_values(func))


def _holds(value: Any, cls: type, depth: int) -> bool:
    if isinstance(value, cls):
        return True
    if depth == 0 or isinstance(value, str | bytes | int | float | type):
        return False
    if isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
    return any(_holds(item, cls, depth - 1) for item in items[:_ITEMS])
