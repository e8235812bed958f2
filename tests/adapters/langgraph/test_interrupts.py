"""interrupt() in distributed nodes pauses and resumes where it does plain."""

from __future__ import annotations

import uuid
from typing import TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
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
