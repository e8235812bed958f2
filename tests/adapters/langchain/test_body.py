"""The worker's side of a remote tool call: what a ToolRuntime's tools are there."""

from __future__ import annotations

import json
import os
import pickle
import threading
from typing import Any

import pytest

pytest.importorskip("langchain", reason="langchain is not installed (pip install -e '.[dev]')")

from langchain_core.tools import BaseTool
from langchain_core.tools import tool as lc_tool
from langgraph.prebuilt import ToolRuntime

from maze_core import MazeError
from maze_langchain import MazeToolMiddleware
from maze_langchain.body import TOOLS, CallerTools
from maze_langchain.testing import ScriptedChatModel

QUESTION = {"messages": [("user", "go")]}


class Caller:
    """A call's link to its caller, answering the tools request."""

    def __init__(self) -> None:
        self.asked: list[object] = []

    def ask(self, request: object) -> list[str]:
        self.asked.append(request)
        return ["add", "shout"]


def test_the_tools_are_fetched_once_when_first_read():
    tools = pickle.loads(pickle.dumps(CallerTools("survey")))
    tools.link = caller = Caller()
    assert caller.asked == []
    assert tools  # truth reads the length
    assert (len(tools), list(tools), tools[1], "add" in tools) == (
        2,
        ["add", "shout"],
        "shout",
        True,
    )
    assert ["x", *tools] == ["x", "add", "shout"]
    assert ["x"] + tools == ["x", "add", "shout"]  # noqa: RUF005 (the reflected +)
    assert tools == ["add", "shout"]
    assert caller.asked == [(TOOLS,)]


def test_a_change_before_any_read_keeps_the_agents_tools():
    tools = CallerTools("survey")
    tools.link = Caller()
    tools.append("mine")
    assert tools == ["add", "shout", "mine"]


def test_with_no_way_to_the_caller_reading_them_says_what_to_do():
    with pytest.raises(MazeError, match="keep_local=\\['survey'\\]"):
        len(CallerTools("survey"))


@lc_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


class Locked(BaseTool):
    """A tool holding what cannot travel to a worker (a client's lock, say)."""

    name: str = "locked"
    description: str = "Answer while holding a lock."
    lock: Any = None

    def _run(self, text: str) -> str:
        with self.lock:
            return text


@lc_tool
def survey(runtime: ToolRuntime) -> str:
    """List the agent's tools, add with one of them, and try the one that cannot travel."""
    tools = {tool.name: tool for tool in runtime.tools}
    try:
        locked = tools["locked"].invoke({"text": "hi"})
    except MazeError as error:
        locked = f"refused ({error.culprit})"
    summed = tools["add"].invoke({"a": 2, "b": 3})
    return json.dumps([sorted(tools), len(runtime.tools), summed, locked, os.getpid()])


def surveyed(middleware: list[Any]) -> list[Any]:
    from langchain.agents import create_agent as make

    tools = [survey, add, Locked(lock=threading.Lock())]
    calls = [{"name": "survey", "args": {}}]
    agent = make(ScriptedChatModel(calls=calls), tools, middleware=middleware)
    messages = agent.invoke(QUESTION)["messages"]
    return json.loads(next(m.content for m in messages if m.type == "tool"))


@pytest.mark.parametrize("runtime", ["processes", "ray_runtime"])
def test_a_workers_runtime_has_the_agents_tools(runtime, request):
    """``ToolRuntime.tools`` in a worker lists the agent's tools, fetched from the caller
    when the body reads it (it was empty); a tool that cannot travel is there by name,
    and calling it there says why."""
    in_place = surveyed([])
    assert in_place == [["add", "locked", "survey"], 3, 5, "hi", os.getpid()]
    middleware = MazeToolMiddleware(runtime=request.getfixturevalue(runtime), kinds="cpu")
    remote = surveyed([middleware])
    assert remote[:3] == in_place[:3]
    assert remote[3] == "refused (locked)"
    assert remote[4] != os.getpid()


def test_a_tool_run_in_its_caller_has_the_agents_own_tools(processes):
    """An io tool runs in place: its ``runtime.tools`` are the agent's objects, the one
    that cannot travel included."""
    in_place = surveyed([])
    assert surveyed([MazeToolMiddleware(runtime=processes, kinds="io")]) == in_place
