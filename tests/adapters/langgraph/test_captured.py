"""A node that changes what it closes over changes it in the caller too, as it does plain."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.func import entrypoint, task
from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy

from maze_langgraph import distribute

CALLS: dict[str, int] = {}  # a module global the nodes count in


class State(TypedDict):
    notes: Annotated[list, operator.add]


def flaky_graph():
    """A node that fails twice under a RetryPolicy, counting its attempts three ways."""
    attempts = 0
    seen: list[int] = []

    def flaky(state: State) -> dict:
        nonlocal attempts
        attempts += 1
        seen.append(attempts)
        CALLS["flaky"] = CALLS.get("flaky", 0) + 1
        if attempts < 3:
            raise ValueError("not yet")
        return {"notes": ["done"]}

    retry = RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False, retry_on=ValueError)
    graph = StateGraph(State).add_node("flaky", flaky, retry_policy=retry)
    return graph.add_edge(START, "flaky").compile(), lambda: (attempts, seen)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_retried_nodes_counters_are_the_callers(processes, mode):
    CALLS.clear()
    plain, plain_state = flaky_graph()
    expected = plain.invoke({"notes": []})
    plain_counts = (plain_state(), dict(CALLS))

    CALLS.clear()
    graph, state = flaky_graph()
    distributed = distribute(graph, processes)
    run = (
        distributed.invoke({"notes": []})
        if mode == "sync"
        else asyncio.run(distributed.ainvoke({"notes": []}))
    )
    assert run == expected
    assert (state(), dict(CALLS)) == plain_counts == ((3, [1, 2, 3]), {"flaky": 3})


def test_parallel_nodes_appending_to_one_list_all_land(processes):
    log: list[str] = []

    def make(name):
        def node(state: State) -> dict:
            log.append(name)
            return {"notes": [name]}

        return node

    builder = StateGraph(State)
    for name in ("a", "b", "c"):
        builder.add_node(name, make(name))
        builder.add_edge(START, name)
    result = distribute(builder.compile(), processes).invoke({"notes": []})
    assert sorted(result["notes"]) == sorted(log) == ["a", "b", "c"]


def test_a_functional_task_counts_in_the_caller(processes):
    counter = {"n": 0}

    @task
    def bump(x: int) -> int:
        counter["n"] += 1
        return x + 1

    @entrypoint()
    def main(x: int) -> int:
        return bump(bump(x).result()).result()

    assert distribute(main, processes).invoke(1) == 3
    assert counter == {"n": 2}


def test_a_callable_object_node_counts_in_the_caller_on_ray_too(ray_runtime):
    class Counting:  # defined here: it travels by value, made anew by Ray's cloudpickle
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self, state: State) -> dict:
            self.calls += 1
            return {"notes": ["counted"]}

    counting = Counting()
    graph = StateGraph(State).add_node("count", counting).add_edge(START, "count").compile()
    assert distribute(graph, ray_runtime).invoke({"notes": []}) == {"notes": ["counted"]}
    assert counting.calls == 1
