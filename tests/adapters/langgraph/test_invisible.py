"""Nothing distribute() adds shows in what users read: configs, snapshots, errors, copies."""

from __future__ import annotations

from typing import TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

import cloudpickle
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from pydantic import BaseModel

from maze_langgraph import distribute


class State(TypedDict):
    x: int


def inc(state: State) -> dict:
    return {"x": state["x"] + 1}


def checkpointed():
    return (
        StateGraph(State)
        .add_node("inc", inc)
        .add_edge(START, "inc")
        .compile(checkpointer=InMemorySaver())
    )


def test_debug_chunks_and_snapshots_read_as_plain(processes):
    config = {"configurable": {"thread_id": "1"}}
    plain, distributed = checkpointed(), distribute(checkpointed(), processes)
    chunks = [list(g.stream({"x": 1}, config, stream_mode="debug")) for g in (plain, distributed)]
    assert [c["type"] for c in chunks[0]] == [c["type"] for c in chunks[1]]
    assert "maze" not in repr(chunks[1])
    snapshots = [g.get_state(config) for g in (plain, distributed)]
    assert snapshots[0].values == snapshots[1].values
    assert "maze" not in repr(snapshots[1].config)
    assert "max_concurrency" not in snapshots[1].config


def test_a_missing_thread_id_is_langgraphs_own_error(processes):
    for graph in (checkpointed(), distribute(checkpointed(), processes)):
        with pytest.raises(ValueError, match="Checkpointer requires"):
            graph.invoke({"x": 1})


def test_copies_stay_distributed_and_a_pickled_graph_is_the_plain_one(processes):
    distributed = distribute(checkpointed(), processes)
    configured = distributed.with_config(tags=["t"])
    assert configured.maze_local_nodes == distributed.maze_local_nodes
    assert configured.invoke({"x": 1}, {"configurable": {"thread_id": "c"}}) == {"x": 2}
    travelled = cloudpickle.loads(cloudpickle.dumps(distributed))  # compiled graphs need it
    assert not hasattr(travelled, "maze_runtime")
    assert type(travelled).__mro__[1:] == type(distributed).__mro__[2:]


class Model(BaseModel):
    x: int


def test_a_pydantic_state_comes_back_as_its_model(processes):
    def bump(state: Model) -> dict:
        return {"x": state.x + 1}

    graph = StateGraph(Model).add_node("bump", bump).add_edge(START, "bump").compile()
    plain = graph.invoke({"x": 1}, version="v2")
    distributed = distribute(graph, processes).invoke({"x": 1}, version="v2")
    assert type(distributed.value) is type(plain.value) is Model
    assert distributed.value == plain.value
