"""A node or @task that LangGraph cancels is cancelled in its worker, as it is plain."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.func import entrypoint, task
from langgraph.graph import StateGraph

from maze_langgraph import distribute


class State(TypedDict):
    hello: str


def waits_in(seen: list[str]):
    """A node that waits, and notes in ``seen`` that it was cancelled."""

    async def waits(state: State) -> dict:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return {"hello": "done"}

    return waits


def waiting(runtime, with_failing: bool):
    """A node that waits (beside one that fails at once, so LangGraph cancels the first);
    and what the waiting one saw."""
    seen: list[str] = []
    waits = waits_in(seen)

    async def fails(state: State) -> dict:
        raise ValueError("I am bad")

    builder = StateGraph(State).add_node("waits", waits)
    if with_failing:
        builder.add_node("fails", fails)
    builder.set_conditional_entry_point(lambda _: ["waits", "fails"] if with_failing else "waits")
    graph = builder.compile()
    return (graph if runtime is None else distribute(graph, runtime)), seen


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "distributed"])
def test_a_node_cancelled_because_another_failed_sees_its_cancellation(processes, distributed):
    graph, seen = waiting(processes if distributed else None, with_failing=True)
    with pytest.raises(ValueError, match="I am bad"):
        asyncio.run(graph.ainvoke({"hello": "world"}))
    assert seen == ["cancelled"]


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "distributed"])
def test_a_graph_cancelled_from_outside_cancels_its_running_node(processes, distributed):
    graph, seen = waiting(processes if distributed else None, with_failing=False)

    async def invoke_with_timeout() -> Any:
        return await asyncio.wait_for(graph.ainvoke({"hello": "world"}), 0.5)

    with pytest.raises(TimeoutError):
        asyncio.run(invoke_with_timeout())
    assert seen == ["cancelled"]


def test_a_cancelled_task_counts_as_it_does_plain(processes):
    def counts():
        calls = {"started": 0, "cancelled": 0}

        @task
        async def mapper(x: int) -> str:
            calls["started"] += 1
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                calls["cancelled"] += 1
                raise
            return str(x)

        @entrypoint()
        async def main(xs: list[int]) -> int:
            futures = [mapper(x) for x in xs]
            await asyncio.sleep(0.1)
            for future in futures:
                future.cancel()
            await asyncio.gather(*futures, return_exceptions=True)
            return len(xs)

        return main, calls

    plain, plain_calls = counts()
    distributed, calls = counts()
    assert asyncio.run(plain.ainvoke([1, 2])) == 2
    assert asyncio.run(distribute(distributed, processes).ainvoke([1, 2])) == 2
    assert calls == plain_calls == {"started": 2, "cancelled": 2}


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "distributed"])
def test_closing_a_stream_early_cancels_the_nodes_still_running(processes, distributed):
    seen: list[str] = []

    async def quick(state: State) -> dict:
        return {"hello": "quick"}

    builder = StateGraph(State).add_node("quick", quick).add_node("slow", waits_in(seen))
    builder.set_conditional_entry_point(lambda _: ["quick", "slow"])
    graph = builder.compile()
    graph = distribute(graph, processes) if distributed else graph

    async def first_chunk() -> Any:
        async with contextlib.aclosing(graph.astream({"hello": "world"})) as stream:
            first = await anext(stream)
        assert seen == ["cancelled"]  # by the stream's closing, not the event loop's end
        return first

    assert asyncio.run(first_chunk()) == {"quick": {"hello": "quick"}}
