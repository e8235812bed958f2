"""A ToolNode distributed runs its tools as plain: the async body under ainvoke (async-only
tools), and a tool's streamed output deltas reach the `tools` stream as it emits them."""

from __future__ import annotations

import asyncio
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langchain_core.messages import AIMessage
from langchain_core.tools import StructuredTool, tool
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.prebuilt import ToolNode, ToolRuntime

from maze_langgraph import distribute


class Messages(TypedDict):
    messages: Annotated[list, add_messages]


@tool
def streaming_echo(text: str, runtime: ToolRuntime) -> str:
    """Echo the text, streaming it one letter at a time first."""
    for letter in text:
        runtime.emit_output_delta(letter)
    return text


async def _shout(text: str) -> str:
    return text.upper()


shout = StructuredTool.from_function(coroutine=_shout, name="shout", description="Shout.")


def tools_graph(tool_name: str, tools: list, runtime=None):
    def caller(state: Messages) -> dict:
        call = {"name": tool_name, "args": {"text": "abc"}, "id": "call-1"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    builder = StateGraph(Messages).add_node("caller", caller).add_node("tools", ToolNode(tools))
    builder.add_edge(START, "caller").add_edge("caller", "tools").add_edge("tools", END)
    graph = builder.compile()
    return graph if runtime is None else distribute(graph, runtime)


def tool_events(graph) -> list[tuple[str, object]]:
    stream = graph.stream({"messages": []}, stream_mode=["tools"], subgraphs=True)
    return [(payload["event"], payload.get("delta")) for _, mode, payload in stream]


def test_a_tools_output_deltas_stream_as_plain(processes):
    expected = tool_events(tools_graph("streaming_echo", [streaming_echo]))
    assert [delta for _, delta in expected if delta] == ["a", "b", "c"]
    assert tool_events(tools_graph("streaming_echo", [streaming_echo], processes)) == expected


def test_an_async_only_tool_runs_under_ainvoke_as_plain(processes):
    def answer(graph) -> str:
        return asyncio.run(graph.ainvoke({"messages": []}))["messages"][-1].content

    assert answer(tools_graph("shout", [shout])) == "ABC"
    assert answer(tools_graph("shout", [shout], processes)) == "ABC"
