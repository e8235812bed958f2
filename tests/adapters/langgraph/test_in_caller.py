"""A node or task that must run in the caller to behave as plain runs there: one that invokes
another compiled graph (whose own nodes are distributed: a compiled graph does not survive a
trip to a worker), one that signals the caller through an asyncio primitive while it runs."""

from __future__ import annotations

import asyncio
import os
from typing import TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.func import entrypoint, task
from langgraph.graph import START, StateGraph

from maze_langgraph import distribute


class State(TypedDict):
    x: int
    pid: int


def inc(state: State) -> dict:
    return {"x": state["x"] + 1, "pid": os.getpid()}


def inner_graph(runtime):
    graph = StateGraph(State).add_node("inc", inc).add_edge(START, "inc").compile()
    return distribute(graph, runtime)


def test_a_node_calling_a_graph_it_keeps_in_a_dict(processes):
    agents = {"inner": inner_graph(processes)}

    def supervisor(state: State) -> dict:
        return agents["inner"].invoke(state)

    builder = StateGraph(State).add_node("supervisor", supervisor)
    graph = distribute(builder.add_edge(START, "supervisor").compile(), processes)
    assert "compiled graph" in graph.maze_local_nodes["supervisor"]
    result = graph.invoke({"x": 1, "pid": 0})
    assert result["x"] == 2
    assert result["pid"] != os.getpid()  # the inner graph's node ran in a worker


def test_a_task_calling_a_graph_runs_in_place(processes):
    inner = inner_graph(processes)

    @task
    def delegate(x: int) -> int:
        return inner.invoke({"x": x, "pid": 0})["x"]

    @entrypoint()
    def main(x: int) -> int:
        return delegate(x).result()

    assert distribute(main, processes).invoke(1) == 2


def test_a_node_that_signals_the_caller_through_an_asyncio_event_runs_there(processes):
    started = asyncio.Event()

    async def first(state: State) -> dict:
        started.set()  # a copy in a worker would set nobody's event
        await asyncio.sleep(0.05)
        return {"x": state["x"] + 1, "pid": os.getpid()}

    builder = StateGraph(State).add_node("first", first).add_edge(START, "first")
    graph = distribute(builder.compile(), processes)
    assert "asyncio" in graph.maze_local_nodes["first"]

    async def main() -> dict:
        waiting = asyncio.ensure_future(asyncio.wait_for(started.wait(), 30))
        result = await graph.ainvoke({"x": 1, "pid": 0})
        await waiting
        return result

    assert asyncio.run(main()) == {"x": 2, "pid": os.getpid()}


def test_a_task_holding_what_cannot_travel_runs_in_the_caller_with_a_warning(processes):
    import threading

    started = threading.Event()

    @task
    def child(value: int) -> int:
        started.set()
        return value + 1

    @entrypoint()
    def parent(value: int) -> int:
        return child(value).result()

    with pytest.warns(UserWarning, match="task .*child.* cannot run in a worker"):
        assert distribute(parent, processes).invoke(1) == 2
    assert started.is_set()
