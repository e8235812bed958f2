"""What a node keeps in its caller reaches it in a worker, live: the graph's store, and
stream chunks as they are written (LangGraph's own examples, plain against distributed)."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import pytest

pytest.importorskip("langgraph")

from langgraph.config import get_store, get_stream_writer
from langgraph.graph import START, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.base import BaseStore
from langgraph.store.memory import InMemoryStore

from maze_langgraph import distribute


@dataclass
class Context:
    user_id: str


class Greeting(TypedDict):
    text: str
    pid: int


def greet(state: Greeting, runtime: Runtime[Context]) -> dict:
    """LangGraph's Runtime example: read a user from the store, and remember the visit."""
    user = runtime.store.get(("users",), runtime.context.user_id)
    name = user.value["name"] if user else "unknown_user"
    visits = runtime.store.get(("visits",), runtime.context.user_id)
    count = visits.value["n"] + 1 if visits else 1
    runtime.store.put(("visits",), runtime.context.user_id, {"n": count})
    return {"text": f"Hello {name}! (visit {count})", "pid": os.getpid()}


def remember(state: Greeting, store: BaseStore) -> dict:
    """A node asking for the store by parameter, and another way in: get_store()."""
    store.put(("notes",), "last", {"text": state["text"]})
    found = get_store().get(("notes",), "last")
    return {"text": f"{state['text']} noted: {found.value['text'] if found else None}"}


def store_graph(store: InMemoryStore):
    builder = StateGraph(Greeting, context_schema=Context)
    builder.add_node("greet", greet)
    builder.add_node("remember", remember)
    builder.add_edge(START, "greet")
    builder.add_edge("greet", "remember")
    return builder.compile(store=store)


def alice_store() -> InMemoryStore:
    store = InMemoryStore()
    store.put(("users",), "alice", {"name": "Alice"})
    return store


def test_a_remote_node_reads_and_writes_the_graph_s_own_store(processes):
    plain_store, remote_store = alice_store(), alice_store()
    plain = store_graph(plain_store)
    remote = distribute(store_graph(remote_store), processes)
    assert list(remote.maze_local_nodes) == ["__start__"]  # the store keeps no node here
    context = Context(user_id="alice")
    for _ in range(2):
        expected = plain.invoke({"text": "", "pid": 0}, context=context)
        got = remote.invoke({"text": "", "pid": 0}, context=context)
        assert got["pid"] != os.getpid()  # it ran in a worker
        assert got["text"] == expected["text"] == got["text"]
    assert got["text"] == "Hello Alice! (visit 2) noted: Hello Alice! (visit 2)"
    assert remote_store.get(("visits",), "alice").value == {"n": 2}  # kept by the caller


def test_the_store_reaches_async_nodes_too(processes):
    async def agreet(state: Greeting, runtime: Runtime[Context]) -> dict:
        user = await runtime.store.aget(("users",), runtime.context.user_id)
        await runtime.store.aput(("seen",), "x", {"by": user.value["name"]})
        return {"text": f"Hi {user.value['name']}", "pid": os.getpid()}

    store = alice_store()
    builder = StateGraph(Greeting, context_schema=Context)
    builder.add_node("agreet", agreet)
    builder.add_edge(START, "agreet")
    remote = distribute(builder.compile(store=store), processes)
    got = asyncio.run(remote.ainvoke({"text": "", "pid": 0}, context=Context("alice")))
    assert got["text"] == "Hi Alice"
    assert store.get(("seen",), "x").value == {"by": "Alice"}


class Progress(TypedDict):
    marker: str
    saw_it_live: bool


def slow_writer(state: Progress) -> dict:
    """Writes a chunk, then waits (up to 10 s) for the consumer to say it has it."""
    get_stream_writer()({"progress": "half"})
    marker, deadline = Path(state["marker"]), time.monotonic() + 10
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"saw_it_live": marker.exists()}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_chunks_reach_the_caller_while_the_node_runs(processes, tmp_path, mode):
    builder = StateGraph(Progress)
    builder.add_node("slow_writer", slow_writer)
    builder.add_edge(START, "slow_writer")
    remote = distribute(builder.compile(), processes)
    marker = tmp_path / f"seen-{mode}"
    state = {"marker": str(marker), "saw_it_live": False}
    chunks = []

    def consume(chunk):
        chunks.append(chunk)
        if chunk == ("custom", {"progress": "half"}):
            marker.write_text("seen")

    if mode == "sync":
        for chunk in remote.stream(state, stream_mode=["custom", "values"]):
            consume(chunk)
    else:

        async def main():
            async for chunk in remote.astream(state, stream_mode=["custom", "values"]):
                consume(chunk)

        asyncio.run(main())
    assert chunks[-1] == ("values", {"marker": str(marker), "saw_it_live": True})
    assert ("custom", {"progress": "half"}) in chunks


def test_on_ray_the_store_and_the_stream_reach_remote_nodes_too(ray_runtime, tmp_path):
    remote_store = alice_store()
    remote = distribute(store_graph(remote_store), ray_runtime)
    assert list(remote.maze_local_nodes) == ["__start__"]
    got = remote.invoke({"text": "", "pid": 0}, context=Context(user_id="alice"))
    assert got["text"] == "Hello Alice! (visit 1) noted: Hello Alice! (visit 1)"
    assert remote_store.get(("visits",), "alice").value == {"n": 1}
    builder = StateGraph(Progress)
    builder.add_node("slow_writer", slow_writer)
    builder.add_edge(START, "slow_writer")
    marker = tmp_path / "seen-ray"
    chunks = []
    for chunk in distribute(builder.compile(), ray_runtime).stream(
        {"marker": str(marker), "saw_it_live": False}, stream_mode=["custom", "values"]
    ):
        chunks.append(chunk)
        if chunk[0] == "custom":
            marker.write_text("seen")
    assert chunks[-1][1]["saw_it_live"] is True
