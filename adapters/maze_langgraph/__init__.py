"""Maze for LangGraph: ``distribute(compiled_graph)`` runs every node body as a Maze task.

from maze_langgraph import distribute
graph = distribute(builder.compile())      # same invoke/stream/batch, same results
"""

from __future__ import annotations

from maze_langgraph.compare import compare
from maze_langgraph.nodes import distribute

__all__ = ["compare", "distribute"]
