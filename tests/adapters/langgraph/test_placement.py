"""Where a distributed node runs: waiting nodes in the caller, computing ones in workers.

Nodes that declare nothing start in the caller (as plain LangGraph runs them) and move to
workers once the runtime has learned that they compute; a declared kind always holds.
"""

from __future__ import annotations

import asyncio
import operator
import os
import threading
import time
from typing import Annotated, TypedDict

import pytest

from maze_core import LocalRuntime, MazeError, hookimpl
from maze_langgraph import distribute

pytestmark = pytest.mark.placement


class Work(TypedDict):
    ran_in: Annotated[list, operator.add]


def spin(seconds: float) -> None:
    """Compute (not wait) for ``seconds`` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def computes(state: Work) -> dict:
    spin(0.05)
    return {"ran_in": [os.getpid()]}


def waits(state: Work) -> dict:
    time.sleep(0.05)
    return {"ran_in": [os.getpid()]}


def one_node(node, **metadata) -> object:
    from langgraph.graph import START, StateGraph

    builder = StateGraph(Work)
    builder.add_node("node", node, metadata=metadata or None)
    builder.add_edge(START, "node")
    return builder.compile()


class Where:
    """Records the node each task ran on (a plugin, as users observe runs)."""

    def __init__(self) -> None:
        self.nodes: list[str | None] = []

    @hookimpl
    def maze_task_transition(self, task, old, new, node) -> None:
        if new == "done":
            self.nodes.append(node)


@pytest.fixture
def fresh():
    """A runtime that has learned nothing yet (no MaLearn: nothing saved earlier)."""
    where = Where()
    options = {"autoload_plugins": False, "plugins": [where], "predictor": False}
    with LocalRuntime("processes", cpus=2, **options) as runtime:
        runtime.where = where
        yield runtime


def learned(runtime) -> dict[str, str]:
    """Each learned kind, under the node's name and its function's."""
    known = runtime.kinds.known().items()
    return {name.replace(f"{__name__}:", ""): kind for name, (kind, _) in known}


def pids(graph, times: int) -> list[int]:
    return [graph.invoke({"ran_in": []})["ran_in"][0] for _ in range(times)]


def test_a_waiting_node_runs_in_the_caller_as_a_scheduled_task(fresh):
    graph = distribute(one_node(waits), fresh)
    assert pids(graph, 3) == [os.getpid()] * 3
    assert fresh.where.nodes == ["caller"] * 3  # each call was a Maze task all the same
    assert learned(fresh) == {"LangGraph.node waits": "io"}


def test_a_computing_node_moves_to_a_worker_once_learned(fresh):
    graph = distribute(one_node(computes), fresh)
    ran_in = pids(graph, 4)
    assert ran_in[:2] == [os.getpid()] * 2  # measured in place first
    assert all(pid != os.getpid() for pid in ran_in[2:])
    assert learned(fresh) == {"LangGraph.node computes": "cpu"}


def test_graphs_sharing_node_names_learn_each_their_own(fresh):
    computing = distribute(one_node(computes), fresh)
    pids(computing, 3)
    waiting = distribute(one_node(waits), fresh)  # also "LangGraph", node "node"
    assert pids(waiting, 2) == [os.getpid()] * 2


def test_a_declared_kind_is_never_overridden(fresh):
    in_caller = distribute(one_node(computes), fresh, kinds="io")
    assert pids(in_caller, 3) == [os.getpid()] * 3
    out = distribute(one_node(waits, maze={"kind": "cpu"}), fresh)
    assert os.getpid() not in pids(out, 3)


def test_kinds_names_real_nodes_and_real_kinds(fresh):
    with pytest.raises(MazeError, match="does not have"):
        distribute(one_node(waits), fresh, kinds={"nope": "io"})
    with pytest.raises(MazeError, match="kind 'fast'"):
        distribute(one_node(waits), fresh, kinds={"node": "fast"})


class Fan(TypedDict):
    items: list[int]
    peaks: Annotated[list, operator.add]


class Crowd:
    """How many calls were inside at once, at most."""

    def __init__(self) -> None:
        self.now = self.peak = 0

    def __enter__(self) -> None:
        with LOCK:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with LOCK:
            self.now -= 1


LOCK = threading.Lock()


def fan_out(width: int, node) -> object:
    from langgraph.graph import START, StateGraph
    from langgraph.types import Send

    builder = StateGraph(Fan)
    builder.add_node("item", node)
    builder.add_conditional_edges(
        START, lambda state: [Send("item", {"items": [i]}) for i in state["items"]]
    )
    return builder.compile()


CROWD = Crowd()  # the nodes below share it with the tests: they run in this process
LOOPS: set = set()


def sleeping_item(state: Fan) -> dict:
    with CROWD:
        time.sleep(1.0)  # long enough for all to start on a loaded machine
    return {"peaks": [CROWD.peak]}


async def awaiting_item(state: Fan) -> dict:
    LOOPS.add(asyncio.get_running_loop())
    with CROWD:
        await asyncio.sleep(1.0)  # long enough for all 100 to start on a loaded machine
    return {"peaks": [CROWD.peak]}


@pytest.fixture
def crowd():
    CROWD.now = CROWD.peak = 0
    LOOPS.clear()
    return CROWD


def test_parallel_waiting_nodes_hold_no_cpu_slot(fresh, crowd):
    graph = distribute(fan_out(8, sleeping_item), fresh)  # 2 CPUs, 8 nodes
    assert list(graph.maze_local_nodes) == ["__start__"]
    graph.invoke({"items": list(range(8)), "peaks": []})
    assert crowd.peak == 8  # all waited at once, as in plain LangGraph


def test_async_nodes_run_on_the_callers_event_loop(fresh, crowd):
    graph = distribute(fan_out(100, awaiting_item), fresh)
    assert list(graph.maze_local_nodes) == ["__start__"]

    async def main() -> asyncio.AbstractEventLoop:
        await graph.ainvoke({"items": list(range(100)), "peaks": []})
        return asyncio.get_running_loop()

    assert {asyncio.run(main())} == LOOPS
    assert crowd.peak == 100


def test_a_node_in_the_caller_is_cancelled_as_in_place(fresh):
    from langgraph.graph import START, StateGraph

    seen = []

    async def slow(state: Work) -> dict:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {"ran_in": [0]}

    builder = StateGraph(Work)
    builder.add_node("slow", slow)
    builder.add_edge(START, "slow")
    graph = distribute(builder.compile(), fresh)

    async def main() -> None:
        task = asyncio.ensure_future(graph.ainvoke({"ran_in": []}))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled"]
    assert fresh.book.active() == []  # its task's run ended too


def test_on_ray_waiting_nodes_stay_in_the_driver_and_computing_ones_go_to_ray(ray_runtime):
    waiting = distribute(one_node(waits), ray_runtime)
    assert pids(waiting, 3) == [os.getpid()] * 3
    computing = distribute(one_node(computes), ray_runtime)
    ran_in = pids(computing, 4)
    assert ran_in[:2] == [os.getpid()] * 2
    assert os.getpid() not in ran_in[2:]
