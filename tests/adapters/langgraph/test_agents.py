"""Prebuilt agents, the functional API and compare(), distributed."""

from __future__ import annotations

import os
import uuid
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langchain_core.messages import ToolMessage
from langchain_core.tools import InjectedToolCallId
from langchain_core.tools import tool as lc_tool
from langgraph.cache.memory import InMemoryCache
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.func import entrypoint, task
from langgraph.graph import START, StateGraph
from langgraph.prebuilt import InjectedState, ToolRuntime
from langgraph.types import CachePolicy, Command

from maze_core import hookimpl
from maze_langchain.testing import ScriptedChatModel
from maze_langgraph import compare, distribute


@lc_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@lc_tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


MODEL = ScriptedChatModel(
    calls=[{"name": "add", "args": {"a": 2, "b": 3}}, {"name": "shout", "args": {"text": "hi"}}]
)


def test_create_react_agent_gives_the_same_messages(processes):
    from langgraph.prebuilt import create_react_agent

    with pytest.warns(Warning, match="create_react_agent has been moved"):
        agent = create_react_agent(MODEL, [add, shout])
    messages = {"messages": [("user", "go")]}
    assert compare(agent, messages, runtime=processes) == []
    remote = distribute(agent, processes)
    assert list(remote.maze_local_nodes) == ["__start__"]
    assert remote.invoke(messages)["messages"][-1].content == "done: add=5; shout=HI"


def test_langchain_create_agent_gives_the_same_messages(processes):
    from langchain.agents import create_agent

    agent = create_agent(MODEL, [add, shout])
    assert compare(agent, {"messages": [("user", "go")]}, runtime=processes) == []


@task
def square(x: int) -> tuple:
    return x * x, os.getpid()


@entrypoint(checkpointer=InMemorySaver())
def squares(xs: list) -> list:
    return [future.result() for future in [square(x) for x in xs]]


def test_functional_api_tasks_run_in_workers_and_the_entrypoint_stays_local(processes):
    remote = distribute(squares, processes)
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    out = remote.invoke([1, 2, 3], config)
    assert [value for value, _ in out] == [1, 4, 9]
    assert os.getpid() not in {pid for _, pid in out}
    assert list(remote.maze_local_nodes) == list(squares.nodes)


class Counter(TypedDict):
    x: int
    pid: int


def expensive(state: Counter) -> dict:
    return {"x": state["x"] * 10, "pid": os.getpid()}


class RunCounter:
    started = 0

    @hookimpl
    def maze_run_started(self, run_id, graph, inputs):
        self.started += 1


def test_a_cache_hit_submits_nothing(processes):
    builder = StateGraph(Counter)
    builder.add_node("expensive", expensive, cache_policy=CachePolicy())
    builder.add_edge(START, "expensive")
    remote = distribute(builder.compile(cache=InMemoryCache()), processes)
    runs = RunCounter()
    processes.plugins.register(runs)
    try:
        first = remote.invoke({"x": 2, "pid": 0})
        second = remote.invoke({"x": 2, "pid": 0})
    finally:
        processes.plugins.unregister(runs)
    assert first == second
    assert first["x"] == 20
    assert runs.started == 1


def test_batch_get_state_and_update_state(processes):
    builder = StateGraph(Counter)
    builder.add_node("expensive", expensive)
    builder.add_edge(START, "expensive")
    remote = distribute(builder.compile(checkpointer=InMemorySaver()), processes)
    configs = [{"configurable": {"thread_id": f"t{i}-{uuid.uuid4()}"}} for i in range(3)]
    outs = remote.batch([{"x": i, "pid": 0} for i in range(3)], configs)
    assert [out["x"] for out in outs] == [0, 10, 20]
    assert remote.get_state(configs[1]).values["x"] == 10
    remote.update_state(configs[1], {"x": 7})
    assert remote.get_state(configs[1]).values["x"] == 7


def test_compare_does_not_count_interrupt_ids_as_differences(processes):
    from tests.adapters.langgraph.test_distribute import approval_graph

    config = {"configurable": {"thread_id": "compare-interrupt"}}
    assert (
        compare(approval_graph(), {"draft": "maze", "verdict": ""}, config, runtime=processes) == []
    )


def _first_words(messages: list) -> str:
    return messages[0].content if messages else "no messages"


@lc_tool
def recall(runtime: ToolRuntime) -> str:
    """What the user first said (from the agent's state)."""
    messages = runtime.state["messages"]
    return f"{len(messages)} messages, first: {_first_words(messages)}"


@lc_tool
def count_messages(state: Annotated[dict, InjectedState]) -> int:
    """How many messages the agent has (from its state)."""
    return len(state["messages"])


def test_tools_reading_the_agent_s_state_see_it_in_a_worker(processes):
    from langchain.agents import create_agent

    model = ScriptedChatModel(
        calls=[{"name": "recall", "args": {}}, {"name": "count_messages", "args": {}}]
    )
    agent = create_agent(model, [recall, count_messages])
    messages = {"messages": [("user", "remember me")]}
    assert compare(agent, messages, runtime=processes) == []
    answer = distribute(agent, processes).invoke(messages)["messages"][-1].content
    assert answer == "done: recall=2 messages, first: remember me; count_messages=2"


@task
def ask_human(draft: str) -> str:
    from langgraph.config import get_stream_writer
    from langgraph.types import interrupt

    get_stream_writer()({"asking": draft})
    answer = interrupt({"approve": draft})
    return f"{draft}: {answer} ({os.getpid()})"


@entrypoint(checkpointer=InMemorySaver())
def review(draft: str) -> str:
    return ask_human(draft).result()


def test_interrupt_inside_a_task_is_resumed_and_its_chunks_stream(processes):
    from langgraph.types import Command

    remote = distribute(review, processes)
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    chunks = list(remote.stream("plan", config, stream_mode=["custom", "updates"]))
    assert ("custom", {"asking": "plan"}) in chunks
    (pending,) = [c for kind, c in chunks if kind == "updates" and "__interrupt__" in c]
    assert pending["__interrupt__"][0].value == {"approve": "plan"}
    done = remote.invoke(Command(resume="yes"), config)
    verdict, pid = done.rstrip(")").split(" (")
    assert verdict == "plan: yes"
    assert int(pid) != os.getpid()  # the task ran in a worker, both times


def greet(greeting: str, name: str) -> str:
    return f"{greeting}, {name}"


def test_a_partial_task_streams_under_its_functions_name_as_plain(processes):
    import functools

    hello = task(functools.partial(greet, "hello"))

    @entrypoint()
    def main(name: str) -> str:
        return hello(name).result()

    expected = list(main.stream("maze", stream_mode="updates"))
    assert {"greet": "hello, maze"} in expected
    assert list(distribute(main, processes).stream("maze", stream_mode="updates")) == expected


@lc_tool
def transfer_to_math(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Hand the conversation to the math agent."""
    message = ToolMessage("transferred", tool_call_id=tool_call_id, name="transfer_to_math")
    return Command(goto="math", update={"messages": [message]}, graph=Command.PARENT)


def supervisor() -> Any:
    """Two agents as subgraph nodes; the first hands over with a tool returning a Command
    to the parent graph (the multi-agent tutorials' handoff)."""
    from langchain.agents import create_agent
    from langgraph.graph import MessagesState

    triage = create_agent(
        ScriptedChatModel(calls=[{"name": "transfer_to_math", "args": {}}]),
        [transfer_to_math],
        name="triage",
    )
    math = create_agent(
        ScriptedChatModel(calls=[{"name": "add", "args": {"a": 2, "b": 3}}]), [add], name="math"
    )
    builder = StateGraph(MessagesState)
    builder.add_node("triage", triage, destinations=("math",))
    builder.add_node("math", math)
    builder.add_edge(START, "triage")
    return builder.compile()


@pytest.mark.parametrize("kinds", [None, "cpu"])  # the handoff tool in the caller, in a worker
def test_a_handoff_tool_commanding_the_parent_graph_gives_the_same_messages(processes, kinds):
    graph = supervisor()
    messages = {"messages": [("user", "2 + 3?")]}
    plain = graph.invoke(messages)["messages"]
    remote = distribute(graph, processes, kinds=kinds).invoke(messages)["messages"]
    assert [(type(m), m.content) for m in remote] == [(type(m), m.content) for m in plain]
    assert any(m.content == "transferred" for m in remote)
    # the tool's function, which travels by value (@tool took its name), is still the
    # caller's own: its worker copy, globals cut to what it reads, was taken back before
    assert transfer_to_math.func.__globals__ is globals()


MATH = ScriptedChatModel(calls=[{"name": "add", "args": {"a": 2, "b": 3}}])


def calls_a_graph_builder(inner: Any) -> Any:
    """The supervisor tutorial's wrapper: a node that invokes an agent in its body."""
    from langgraph.graph import MessagesState

    def call_math(state: MessagesState) -> dict:
        return {"messages": inner.invoke({"messages": state["messages"]})["messages"][-1:]}

    builder = StateGraph(MessagesState)
    builder.add_node("call_math", call_math)
    builder.add_edge(START, "call_math")
    return builder.compile()


def test_a_node_calling_a_graph_in_its_body_says_that_graphs_nodes_run_in_place(processes):
    from langchain.agents import create_agent

    graph = calls_a_graph_builder(create_agent(MATH, [add], name="math"))
    with pytest.warns(UserWarning, match="'call_math' calls the compiled graph 'math'"):
        remote = distribute(graph, processes)
    assert "whose nodes run in place" in remote.maze_local_nodes["call_math"]
    messages = {"messages": [("user", "go")]}
    assert remote.invoke(messages)["messages"][-1].content == "done: add=5"


def test_a_node_calling_a_distributed_graph_has_that_graphs_nodes_run_as_tasks(processes):
    import warnings

    from langchain.agents import create_agent

    seen = TaskNames()
    processes.plugins.register(seen)
    try:
        inner = distribute(create_agent(MATH, [add], name="math"), processes)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to warn about
            remote = distribute(calls_a_graph_builder(inner), processes)
        assert remote.invoke({"messages": [("user", "go")]})["messages"][-1].content == (
            "done: add=5"
        )
    finally:
        processes.plugins.unregister(seen)
    assert remote.maze_local_nodes["call_math"] == "calls a distributed graph in its body"
    assert {"model", "tools"} <= set(seen.names)


class TaskNames:
    def __init__(self) -> None:
        self.names: list[str] = []

    @hookimpl
    def maze_run_started(self, run_id, graph, inputs):
        self.names += list(graph.tasks)
