"""Where tool bodies run with the middleware's defaults: computing tools in worker
processes, waiting tools in the caller without a CPU slot."""

from __future__ import annotations

import os
import time

import pytest

pytest.importorskip("langchain", reason="langchain is not installed (pip install -e '.[dev]')")

from langchain_core.tools import tool as lc_tool

from maze_core import LocalRuntime
from maze_langchain import MazeToolMiddleware, remote_tool
from maze_langchain.testing import ScriptedChatModel

pytestmark = pytest.mark.placement


@lc_tool
def crunch(n: int) -> str:
    """Compute for a while; say where."""
    end = time.thread_time() + 0.05
    while time.thread_time() < end:
        pass
    return str(os.getpid())


@lc_tool
def fetch(n: int) -> str:
    """Wait for a while; say where."""
    time.sleep(0.05)
    return str(os.getpid())


@pytest.fixture
def fresh():
    with LocalRuntime("processes", cpus=2, autoload_plugins=False, predictor=False) as runtime:
        yield runtime


def test_remote_tool_defaults_to_the_processes_runtime():
    from maze_core import get_runtime

    assert remote_tool(fetch).maze_body.remote.runtime is get_runtime("processes")
    assert MazeToolMiddleware().runtime is get_runtime("processes")


def test_a_computing_tool_moves_to_a_worker_and_a_waiting_one_stays(fresh):
    pids = {name: [] for name in ("crunch", "fetch")}
    twins = {t.name: remote_tool(t, runtime=fresh) for t in (crunch, fetch)}
    for n in range(4):
        for name, twin in twins.items():
            pids[name].append(int(twin.invoke({"n": n})))
    assert pids["fetch"] == [os.getpid()] * 4
    assert pids["crunch"][:2] == [os.getpid()] * 2  # measured in place first
    assert os.getpid() not in pids["crunch"][2:]


def test_the_middleware_with_defaults_places_each_tool_by_its_learned_kind(fresh):
    from langchain.agents import create_agent

    calls = [{"name": "crunch", "args": {"n": 1}}, {"name": "fetch", "args": {"n": 2}}]
    middleware = MazeToolMiddleware(runtime=fresh)
    ran_in = []
    for _ in range(3):
        agent = create_agent(
            ScriptedChatModel(calls=calls), [crunch, fetch], middleware=[middleware]
        )
        messages = agent.invoke({"messages": [("user", "go")]})["messages"]
        ran_in.append({m.name: int(m.content) for m in messages if m.type == "tool"})
    assert [r["fetch"] for r in ran_in] == [os.getpid()] * 3
    assert ran_in[-1]["crunch"] != os.getpid()
    assert fresh.kinds.kind("crunch") == "cpu"
    assert fresh.kinds.kind("fetch") == "io"


def test_a_declared_kind_holds(fresh):
    twin = remote_tool(crunch, runtime=fresh, kind="io")
    assert {int(twin.invoke({"n": n})) for n in range(3)} == {os.getpid()}
    out = remote_tool(fetch, runtime=fresh, kind="cpu")
    assert os.getpid() not in {int(out.invoke({"n": n})) for n in range(3)}


def test_the_middleware_takes_one_kind_for_every_tool_as_distribute_does(fresh):
    from langchain.agents import create_agent

    from maze_core import MazeError

    every = MazeToolMiddleware(runtime=fresh, kinds="cpu")
    model = ScriptedChatModel(calls=[{"name": "fetch", "args": {"n": 1}}])
    agent = create_agent(model, [fetch], middleware=[every])
    answer = agent.invoke({"messages": [("user", "go")]})["messages"][-1].content
    assert answer.startswith("done: fetch=")
    assert answer != f"done: fetch={os.getpid()}"  # a waiting tool, sent to a worker
    with pytest.raises(MazeError, match="kinds= gives every tool the kind 'fast'"):
        MazeToolMiddleware(runtime=fresh, kinds="fast")  # was a raw ValueError
    with pytest.raises(MazeError, match="kinds= gives tool 'fetch' the kind 'fast'"):
        MazeToolMiddleware(runtime=fresh, kinds={"fetch": "fast"})
