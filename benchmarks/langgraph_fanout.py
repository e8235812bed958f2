"""Plain LangGraph against the same graphs through ``maze_langgraph.distribute``, same run.

Every graph is distributed with default arguments (no kinds, no resources): Maze learns
where each node runs best. Plain and distributed run in turns, best of 3 each (of 7 for
the chains), after the same warm-up.

1. Fan-out of 8 CPU-bound pure-Python nodes (~0.5 s each), after 3 warm-up invocations
   (the first runs every node in the caller while Maze measures them): plain LangGraph
   runs them on threads (one GIL); distributed, in Maze's worker processes.
2. 8 ``Send`` nodes waiting 0.5 s each, sync (``invoke``) and async (``ainvoke``), and 8
   concurrent agents (``create_agent``: model, a tool, model again) whose model waits
   0.5 s a call: waiting nodes run in the caller, as plain LangGraph runs them.
3. Fan-out of 64 I/O-bound nodes (0.5 s sleeps), a sync graph with the default config:
   LangGraph's thread cap (min(32, cpus + 4)) against Maze's raised one. Ideal: 0.5 s.
4. Per-node overhead: a chain of trivial nodes (they run in the caller, as scheduled
   tasks), plain vs distributed on local processes and on Ray; (distributed - plain) /
   nodes, next to the round trip of one bare task in a worker there (a worker process's
   pipe; ``ray.get(f.remote())``) and, on Ray, of one call to an actor.
5. 50 agents arriving every 0.1 s, each a plan (I/O) then 1 or 4 rounds of a GPU step on a
   runtime with one GPU: P50 and P95 latency under daps and fcfs.

What it leaves out: real model providers (their latency is a sleep), graphs with state
too big to copy cheaply, and machines with more cores (the CPU row gains with them).

    python benchmarks/langgraph_fanout.py [--json OUT] [--skip-ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypedDict

from rich.console import Console
from rich.table import Table

from maze_core import LocalRuntime
from maze_core.progress import Progress
from maze_langgraph import distribute


class Fan(TypedDict):
    n: int
    out: Annotated[list, operator.add]


def spin(iterations: int) -> int:
    """Pure-Python work: ``iterations`` loop turns, holding the GIL throughout."""
    total = 0
    for i in range(iterations):
        total += i % 7
    return total


def calibrate(seconds: float) -> int:
    """Loop turns that take ``seconds`` on one idle core here (the fastest of 3 tries, so a
    busy moment of the machine does not shrink the work)."""
    fastest = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        spin(1_000_000)
        fastest = min(fastest, time.perf_counter() - start)
    return int(1_000_000 * seconds / fastest)


HALF_SECOND = int(os.environ.get("MAZE_BENCH_HALF_SECOND", "0")) or calibrate(0.5)


def cpu_node(state: Fan) -> dict:
    spin(HALF_SECOND)
    return {"out": [1]}


def io_node(state: Fan) -> dict:
    time.sleep(0.5)
    return {"out": [1]}


def trivial(state: Fan) -> dict:
    return {"n": state["n"] + 1}


def fan_graph(width: int, body, metadata: dict | None = None):
    from langgraph.graph import START, StateGraph

    builder = StateGraph(Fan)
    for i in range(width):
        builder.add_node(f"n{i}", body, metadata=metadata)
        builder.add_edge(START, f"n{i}")
    return builder.compile()


def chain_graph(length: int):
    from langgraph.graph import START, StateGraph

    builder = StateGraph(Fan)
    previous = START
    for i in range(length):
        builder.add_node(f"s{i}", trivial)
        builder.add_edge(previous, f"s{i}")
        previous = f"s{i}"
    return builder.compile()


class Items(TypedDict):
    items: list[int]
    out: Annotated[list, operator.add]


def wait_item(state: Items) -> dict:
    time.sleep(0.5)
    return {"out": [1]}


async def await_item(state: Items) -> dict:
    await asyncio.sleep(0.5)
    return {"out": [1]}


def send_graph(body):
    """8 ``Send``s of one node: the map step of a map-reduce."""
    from langgraph.graph import START, StateGraph
    from langgraph.types import Send

    builder = StateGraph(Items)
    builder.add_node("item", body)
    builder.add_conditional_edges(
        START, lambda state: [Send("item", {"items": [i], "out": []}) for i in state["items"]]
    )
    return builder.compile()


def lookup(city: str) -> str:
    """A quick tool: the weather in a city."""
    return f"sunny in {city}"


def chat_agent():
    """An agent whose model waits 0.5 s a call: it asks for one tool, then answers."""
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    from maze_langchain.testing import ScriptedChatModel

    calls = [{"name": "lookup", "args": {"city": "Paris"}}]
    model = ScriptedChatModel(calls=calls, latency=0.5)
    return create_agent(model, [tool(lookup)])


def concurrent_chats(agent, chats: int = 8) -> float:
    """Wall time of ``chats`` invocations of ``agent`` at once, each on its own thread."""
    start = time.perf_counter()
    with ThreadPoolExecutor(chats) as pool:
        replies = list(
            pool.map(lambda i: agent.invoke({"messages": [("user", f"{i}")]}), range(chats))
        )
    assert all(r["messages"][-1].content.startswith("done") for r in replies)
    return time.perf_counter() - start


def atimed(graph, state: dict) -> float:
    start = time.perf_counter()
    asyncio.run(graph.ainvoke(state))
    return time.perf_counter() - start


def in_turns(plain, remote, repeat: int = 3) -> tuple[float, float]:
    """The best time of ``plain()`` and of ``remote()``, run in turns."""
    plain_s = maze_s = float("inf")
    for _ in range(repeat):
        plain_s, maze_s = min(plain_s, plain()), min(maze_s, remote())
    return plain_s, maze_s


def timed(graph, state: dict, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        graph.invoke(state)
        best = min(best, time.perf_counter() - start)
    return best


def paired(plain, remote, state: dict, repeat: int) -> tuple[float, float]:
    """The best time of each graph, run in turns, so a change in the machine's speed
    during the measurement (this one has slow and fast phases) hits both alike."""
    plain_s = maze_s = float("inf")
    for _ in range(repeat):
        plain_s = min(plain_s, timed(plain, state))
        maze_s = min(maze_s, timed(remote, state))
    return plain_s, maze_s


class Echo:
    """A Ray actor's body: a call to it skips the worker lease a task waits for (Maze runs
    tiny nodes on such actors, its lanes)."""

    def call(self) -> int:
        return 0


def round_trip_ms(call, repeat: int = 300) -> float:
    """The median time of ``call``: one bare task there and back, the floor of a node's cost."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


class Job(TypedDict):
    rounds: int
    need: int
    log: Annotated[list, operator.add]


def plan(state: Job) -> dict:
    time.sleep(0.02)
    return {"log": ["plan"]}


def generate(state: Job) -> dict:
    time.sleep(0.1)
    return {"rounds": state["rounds"] + 1, "log": ["generate"]}


def again(state: Job) -> str:
    return "generate" if state["rounds"] < state["need"] else "__end__"


def gpu_graph():
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(Job)
    builder.add_node("plan", plan, metadata={"maze": {"kind": "io"}})
    builder.add_node("generate", generate, metadata={"maze": {"resources": {"cpus": 0, "gpus": 1}}})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "generate")
    builder.add_conditional_edges("generate", again, ["generate", END])
    return builder.compile()


def agent_latencies(policy: str, invocations: int = 50, every_s: float = 0.1) -> list[float]:
    """Agents arriving every ``every_s``, each a plan and then 1 or (one in four) 4 rounds
    on the single GPU: the GPU gets more work than it can do while they arrive, and a GPU
    round of an older agent competes with the first rounds of newer ones."""
    progress = Progress()  # live on a terminal
    with (
        LocalRuntime(
            "threads", cpus=2, gpus=1, policy=policy, predictor=False, plugins=[progress]
        ) as runtime,
        progress.live(),
    ):
        graph = distribute(gpu_graph(), runtime)

        def one(i: int) -> float:
            time.sleep(i * every_s)
            start = time.perf_counter()
            graph.invoke({"rounds": 0, "need": 4 if i % 4 == 0 else 1, "log": []})
            return time.perf_counter() - start

        with ThreadPoolExecutor(invocations) as pool:
            return sorted(pool.map(one, range(invocations)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-langgraph.json")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    figures: dict[str, dict] = {}
    with LocalRuntime("processes", cpus=2) as processes:
        plain = fan_graph(8, cpu_node)
        remote = distribute(plain, processes)
        for _ in range(3):  # Maze learns that the nodes compute (and starts its workers)
            timed(remote, {"n": 0, "out": []})
        plain_s, maze_s = paired(plain, remote, {"n": 0, "out": []}, repeat=3)
        figures["8 CPU-bound nodes x 0.5 s, after 3 warm-ups"] = {
            "plain_s": plain_s,
            "maze_s": maze_s,
        }

        items = {"items": list(range(8)), "out": []}
        plain, remote = send_graph(wait_item), distribute(send_graph(wait_item), processes)
        plain_s, maze_s = paired(plain, remote, items, repeat=3)
        figures["8 Send nodes waiting 0.5 s, invoke"] = {"plain_s": plain_s, "maze_s": maze_s}
        plain, remote = send_graph(await_item), distribute(send_graph(await_item), processes)
        plain_s, maze_s = in_turns(lambda: atimed(plain, items), lambda: atimed(remote, items))
        figures["8 Send nodes waiting 0.5 s, ainvoke"] = {"plain_s": plain_s, "maze_s": maze_s}
        plain, remote = chat_agent(), distribute(chat_agent(), processes)
        plain_s, maze_s = in_turns(
            lambda: concurrent_chats(plain), lambda: concurrent_chats(remote)
        )
        figures["8 concurrent agents, model waits 0.5 s"] = {"plain_s": plain_s, "maze_s": maze_s}

        plain = fan_graph(64, io_node)
        remote = distribute(plain, processes)
        plain_s, maze_s = timed(plain, {"n": 0, "out": []}), timed(remote, {"n": 0, "out": []})
        figures["64 I/O nodes x 0.5 s (ideal 0.5 s)"] = {"plain_s": plain_s, "maze_s": maze_s}

        length = 200
        plain = chain_graph(length)
        remote = distribute(plain, processes)
        timed(remote, {"n": 0, "out": []})
        plain_s, maze_s = paired(plain, remote, {"n": 0, "out": []}, repeat=7)
        figures[f"chain of {length} trivial nodes, local processes"] = {
            "plain_s": plain_s,
            "maze_s": maze_s,
            "overhead_ms_per_node": (maze_s - plain_s) / length * 1e3,
            "bare_round_trip_ms": round_trip_ms(lambda: processes._executor.submit(int).result()),
        }
    if not args.skip_ray:
        from maze_core.run.ray import RayRuntime

        with RayRuntime(num_cpus=2) as ray_runtime:
            remote = distribute(chain_graph(length), ray_runtime)
            timed(remote, {"n": 0, "out": []})
            plain_s, maze_s = paired(chain_graph(length), remote, {"n": 0, "out": []}, 7)
            import ray

            bare = ray.remote(lambda: 0)
            actor = ray.remote(num_cpus=0)(Echo).remote()
            figures[f"chain of {length} trivial nodes, Ray"] = {
                "plain_s": plain_s,
                "maze_s": maze_s,
                "overhead_ms_per_node": (maze_s - plain_s) / length * 1e3,
                "bare_round_trip_ms": round_trip_ms(lambda: ray.get(bare.remote())),
                "bare_actor_round_trip_ms": round_trip_ms(lambda: ray.get(actor.call.remote())),
            }
    latencies = {policy: agent_latencies(policy) for policy in ("daps", "fcfs")}
    figures["50 agents arriving every 0.1 s, 1 GPU: latency"] = {
        f"{policy}_{name}_s": values[int(q * (len(values) - 1))]
        for policy, values in latencies.items()
        for name, q in (("p50", 0.5), ("p95", 0.95))
    }

    table = Table(title="LangGraph plain vs distributed with Maze, same run (2 cores)")
    for column in ("scenario", "plain LangGraph", "Maze", "figure"):
        table.add_column(column, justify="right")
    for label, row in figures.items():
        if "daps_p95_s" in row:
            table.add_row(
                label,
                "",
                f"P50 daps {row['daps_p50_s']:.2f} / fcfs {row['fcfs_p50_s']:.2f};"
                f" P95 daps {row['daps_p95_s']:.2f} / fcfs {row['fcfs_p95_s']:.2f}",
                f"P95 daps / fcfs {row['daps_p95_s'] / row['fcfs_p95_s']:.2f}",
            )
            continue
        actor_call = (
            f"; an actor call's: {row['bare_actor_round_trip_ms']:.2f} ms"
            if "bare_actor_round_trip_ms" in row
            else ""
        )
        figure = (
            f"{row['overhead_ms_per_node']:.2f} ms/node"
            f" (a bare task's round trip: {row['bare_round_trip_ms']:.2f} ms{actor_call})"
            if "overhead_ms_per_node" in row
            else f"Maze / plain {row['maze_s'] / row['plain_s']:.2f}x"
        )
        table.add_row(label, f"{row['plain_s']:.2f} s", f"{row['maze_s']:.2f} s", figure)
    Console(width=170).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
