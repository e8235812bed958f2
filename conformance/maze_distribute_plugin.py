"""A pytest plugin that makes every LangGraph graph a test compiles a distributed one.

Loaded with ``-p maze_distribute_plugin`` by ``langgraph_suite.py``; it does nothing unless
``MAZE_SUITE_RUNTIME`` names a runtime (``processes``, ``threads`` or ``ray``), so the plain
run and the distributed run load the same plugins and differ only in that variable.
``MAZE_SUITE_KINDS=cpu`` declares every node of a ``StateGraph`` computing, so each runs in
a worker (the path a learned computing node takes) instead of where Maze learns it fits.
"""

from __future__ import annotations

import os
from typing import Any

RUNTIME = os.environ.get("MAZE_SUITE_RUNTIME", "")
KINDS: Any = os.environ.get("MAZE_SUITE_KINDS") or None

if RUNTIME:
    from langgraph.func import entrypoint
    from langgraph.graph.state import StateGraph

    from maze_langgraph import distribute

    _compile = StateGraph.compile
    _entrypoint_call = entrypoint.__call__

    def _distributed_compile(self: StateGraph, *args: Any, **kwargs: Any) -> Any:
        return distribute(_compile(self, *args, **kwargs), RUNTIME, kinds=KINDS)

    def _distributed_entrypoint(self: entrypoint, func: Any) -> Any:
        return distribute(_entrypoint_call(self, func), RUNTIME)

    StateGraph.compile = _distributed_compile  # type: ignore[method-assign]
    entrypoint.__call__ = _distributed_entrypoint  # type: ignore[method-assign]
