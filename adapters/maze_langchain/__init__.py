"""Maze for LangChain: tool calls as Maze tasks.

from maze_langchain import remote_tool, MazeToolMiddleware
search = remote_tool(search, resources={"cpus": 2})           # one tool
agent = create_agent(model, tools, middleware=[MazeToolMiddleware()])  # every tool call
"""

from __future__ import annotations

from typing import Any

from maze_langchain.convert import as_langchain_tool, from_langchain_tool
from maze_langchain.tools import remote_tool

__all__ = ["MazeToolMiddleware", "as_langchain_tool", "from_langchain_tool", "remote_tool"]


def __getattr__(name: str) -> Any:
    if name == "MazeToolMiddleware":  # needs the langchain package, not only langchain-core
        from maze_langchain.middleware import MazeToolMiddleware

        return MazeToolMiddleware
    raise AttributeError(name)
