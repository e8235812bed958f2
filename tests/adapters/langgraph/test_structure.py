"""GraphShape: the work an invocation still has after each node, loops counted once."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.graph import END, START, StateGraph

from maze_langgraph.structure import GraphShape


class State(TypedDict):
    n: int
    log: Annotated[list, operator.add]


def step(state: State) -> dict:
    return {"log": ["."]}


def again(state: State) -> str:
    return "act" if state["n"] else END


def agent_graph():
    builder = StateGraph(State)
    for name in ("plan", "act", "observe", "report"):
        builder.add_node(name, step)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "act")
    builder.add_edge("act", "observe")
    builder.add_conditional_edges("observe", again, {"act": "act", END: "report"})
    builder.add_edge("report", END)
    return builder.compile()


def test_work_after_follows_the_longest_path_and_counts_a_loop_once():
    shape = GraphShape(agent_graph())
    for node, seconds in {"plan": 1.0, "act": 2.0, "observe": 3.0, "report": 4.0}.items():
        shape.observed(node, seconds)
    assert shape.work_after("report") == 0.0
    assert shape.work_after("observe") == 2.0 + 4.0  # the act/observe loop once, then report
    assert shape.work_after("act") == 3.0 + 4.0
    assert shape.work_after("plan") == 2.0 + 3.0 + 4.0


def test_estimates_are_learned_and_default_before_any_run():
    shape = GraphShape(agent_graph())
    assert shape.work_after("observe") == pytest.approx(0.2)  # two nodes at the default 0.1 s
    shape.observed("report", 1.0)
    assert shape.work_after("observe") == pytest.approx(1.1)
