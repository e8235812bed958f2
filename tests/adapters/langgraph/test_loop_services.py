"""What a distributed node asks of its graph's loop while it runs (interrupt() and its
resume values, @tasks it calls) is answered by the caller's loop, as plain."""

from __future__ import annotations

import asyncio
import uuid
from typing import TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import GraphDrained
from langgraph.func import task
from langgraph.graph import START, StateGraph
from langgraph.runtime import RunControl, Runtime
from langgraph.types import Command, interrupt

from maze_langgraph import distribute


class State(TypedDict):
    input: str


def ask(question: str):
    def node(state: State) -> dict:
        return {"input": interrupt(question)}

    return node


def two_questions(runtime):
    """A graph whose one node invokes a subgraph asking two questions in turn."""
    builder = StateGraph(State).add_node("first", ask("one?")).add_node("second", ask("two?"))
    subgraph = builder.add_edge(START, "first").add_edge("first", "second").compile()
    if runtime is not None:
        subgraph = distribute(subgraph, runtime)

    def delegate(state: State) -> dict:
        return subgraph.invoke(state)

    parent = StateGraph(State).add_node("delegate", delegate).add_edge(START, "delegate")
    parent = parent.compile(checkpointer=InMemorySaver())
    return parent if runtime is None else distribute(parent, runtime)


def questions_asked(graph) -> list:
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    steps = [graph.invoke({"input": ""}, config)]
    steps += [graph.invoke(Command(resume=answer), config) for answer in ("a", "b")]
    return [
        [i.value for i in step["__interrupt__"]] if "__interrupt__" in step else step
        for step in steps
    ]


def test_one_resume_answers_one_interrupt_of_a_subgraph(processes):
    expected = questions_asked(two_questions(None))
    assert expected == [["one?"], ["two?"], {"input": "b"}]
    assert questions_asked(two_questions(processes)) == expected


@task
def double(x: int) -> int:
    return 2 * x


def tasks_in_a_node(runtime):
    """A node calling @tasks: tasks of the caller's loop, as plain (streamed as such)."""

    def node(state: Numbers) -> dict:
        futures = [double(x) for x in state["xs"]]
        return {"xs": [f.result() for f in futures]}

    async def anode(state: Numbers) -> dict:
        return {"xs": [await double(x) for x in state["xs"]]}

    graphs = []
    for body in (node, anode):
        builder = StateGraph(Numbers).add_node("node", body).add_edge(START, "node")
        graph = builder.compile(checkpointer=InMemorySaver())
        graphs.append(graph if runtime is None else distribute(graph, runtime))
    return graphs


class Numbers(TypedDict):
    xs: list[int]


def test_a_node_calling_tasks_runs_them_in_its_callers_loop(processes):
    config = {"configurable": {"thread_id": "t"}}
    plain, aplain = tasks_in_a_node(None)
    sync, async_ = tasks_in_a_node(processes)
    expected = in_any_order(plain.stream({"xs": [1, 2]}, config, stream_mode="updates"))
    assert {"double": 4} in expected
    assert in_any_order(sync.stream({"xs": [1, 2]}, config, stream_mode="updates")) == expected

    async def collect(graph):
        return [c async for c in graph.astream({"xs": [1, 2]}, config, stream_mode="updates")]

    assert in_any_order(asyncio.run(collect(async_))) == in_any_order(asyncio.run(collect(aplain)))


def in_any_order(updates) -> list:
    """Tasks called side by side finish in either order, plain too: compare them as a set."""
    return sorted(updates, key=repr)


class Steps(TypedDict, total=False):
    first: str
    second: str


def draining(runtime):
    """A node that asks the run to drain before the next runs."""

    def first(state: Steps, runtime: Runtime) -> dict:
        runtime.control.request_drain("deploy")
        assert runtime.control.drain_reason == "deploy"
        return {"first": "done"}

    def second(state: Steps) -> dict:
        return {"second": "ran"}

    builder = StateGraph(Steps).add_node("first", first).add_node("second", second)
    builder.add_edge(START, "first").add_edge("first", "second")
    graph = builder.compile(checkpointer=InMemorySaver())
    return graph if runtime is None else distribute(graph, runtime)


def test_a_drain_requested_in_a_node_stops_the_run_as_plain(processes):
    def outcome(graph) -> tuple[str, tuple[str, ...]]:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        control = RunControl()
        try:
            graph.invoke({}, config, control=control)
        except GraphDrained as drained:
            return f"drained: {drained}", graph.get_state(config).next
        return "not drained", graph.get_state(config).next

    expected = outcome(draining(None))
    assert expected[1] == ("second",)
    assert outcome(draining(processes)) == expected


def test_a_node_reads_the_runs_plain_settings_from_its_config_as_plain(processes):
    from langchain_core.runnables import RunnableConfig

    def node(state: State, config: RunnableConfig) -> dict:
        return {"input": config["configurable"]["__pregel_durability"]}

    builder = StateGraph(State).add_node("node", node).add_edge(START, "node")
    graph = builder.compile(checkpointer=InMemorySaver())

    def durability(graph) -> str:
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        return graph.invoke({"input": ""}, config, durability="exit")["input"]

    assert durability(graph) == "exit"
    assert durability(distribute(graph, processes)) == "exit"
