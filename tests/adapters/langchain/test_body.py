"""The worker's side of a remote tool call: what a ToolRuntime's tools are there."""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("langchain", reason="langchain is not installed (pip install -e '.[dev]')")

from maze_core import MazeError
from maze_langchain.body import TOOLS, CallerTools


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
