"""Plain LangGraph against the same graphs through ``maze_langgraph.distribute``, same run.

1. Fan-out of 8 CPU-bound pure-Python nodes (~0.5 s each): plain LangGraph runs them on
   threads (one GIL); distributed, on Maze's local process runtime.
2. Fan-out of 64 I/O-bound nodes (0.5 s sleeps, ``metadata={"maze": {"kind": "io"}}``), a
   sync graph with the default config: LangGraph's thread cap (min(32, cpus + 4)) against
   Maze's io threads. The ideal is 0.5 s.
3. Per-node overhead: a chain of trivial nodes, plain vs distributed on local processes
   and on Ray; (distributed - plain) / nodes.
4. 50 concurrent invocations of a plan (CPU) -> generate (GPU) -> check (CPU) graph on a
   runtime with one GPU: P95 latency under daps and fcfs.

    python benchmarks/langgraph_fanout.py [--json OUT] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, TypedDict

from rich.console import Console
from rich.table import Table

from maze_core import LocalRuntime
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
    """Loop turns that take ``seconds`` on one core here."""
    start = time.perf_counter()
    spin(1_000_000)
    return int(1_000_000 * seconds / (time.perf_counter() - start))


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


def timed(graph, state: dict, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        graph.invoke(state)
        best = min(best, time.perf_counter() - start)
    return best


class Job(TypedDict):
    seconds: float
    log: Annotated[list, operator.add]


def plan(state: Job) -> dict:
    time.sleep(state["seconds"])
    return {"log": ["plan"]}


def generate(state: Job) -> dict:
    time.sleep(0.2)
    return {"log": ["generate"]}


def check(state: Job) -> dict:
    time.sleep(state["seconds"] / 2)
    return {"log": ["check"]}


def gpu_graph():
    from langgraph.graph import START, StateGraph

    builder = StateGraph(Job)
    builder.add_node("plan", plan, metadata={"maze": {"kind": "io"}})
    builder.add_node("generate", generate, metadata={"maze": {"resources": {"cpus": 0, "gpus": 1}}})
    builder.add_node("check", check, metadata={"maze": {"kind": "io"}})
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "generate")
    builder.add_edge("generate", "check")
    return builder.compile()


def concurrent_p95(policy: str, invocations: int = 50) -> float:
    with LocalRuntime("threads", cpus=2, gpus=1, policy=policy, predictor=False) as runtime:
        graph = distribute(gpu_graph(), runtime)

        def one(i: int) -> float:
            start = time.perf_counter()
            graph.invoke({"seconds": 0.05 + 0.3 * (i % 5 == 0), "log": []})
            return time.perf_counter() - start

        with ThreadPoolExecutor(invocations) as pool:
            latencies = sorted(pool.map(one, range(invocations)))
    return latencies[int(0.95 * (len(latencies) - 1))]


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
        timed(remote, {"n": 0, "out": []})  # start the worker processes
        plain_s, maze_s = timed(plain, {"n": 0, "out": []}), timed(remote, {"n": 0, "out": []})
        figures["8 CPU-bound nodes x 0.5 s"] = {"plain_s": plain_s, "maze_s": maze_s}

        plain = fan_graph(64, io_node, {"maze": {"kind": "io"}})
        remote = distribute(plain, processes)
        plain_s, maze_s = timed(plain, {"n": 0, "out": []}), timed(remote, {"n": 0, "out": []})
        figures["64 I/O nodes x 0.5 s (ideal 0.5 s)"] = {"plain_s": plain_s, "maze_s": maze_s}

        length = 200
        plain = chain_graph(length)
        remote = distribute(plain, processes)
        timed(remote, {"n": 0, "out": []})
        plain_s = timed(plain, {"n": 0, "out": []}, repeat=3)
        maze_s = timed(remote, {"n": 0, "out": []}, repeat=3)
        figures[f"chain of {length} trivial nodes, local processes"] = {
            "plain_s": plain_s,
            "maze_s": maze_s,
            "overhead_ms_per_node": (maze_s - plain_s) / length * 1e3,
        }
    if not args.skip_ray:
        from maze_core.run.ray import RayRuntime

        with RayRuntime(num_cpus=2) as ray_runtime:
            remote = distribute(chain_graph(length), ray_runtime)
            timed(remote, {"n": 0, "out": []})
            maze_s = timed(remote, {"n": 0, "out": []}, repeat=3)
            plain_s = timed(chain_graph(length), {"n": 0, "out": []}, repeat=3)
            figures[f"chain of {length} trivial nodes, Ray"] = {
                "plain_s": plain_s,
                "maze_s": maze_s,
                "overhead_ms_per_node": (maze_s - plain_s) / length * 1e3,
            }
    p95 = {policy: concurrent_p95(policy) for policy in ("daps", "fcfs")}
    figures["50 concurrent invocations, 1 GPU: P95 s"] = {
        "daps_p95_s": p95["daps"],
        "fcfs_p95_s": p95["fcfs"],
    }

    table = Table(title="LangGraph plain vs distributed with Maze, same run (2 cores)")
    for column in ("scenario", "plain LangGraph", "Maze", "figure"):
        table.add_column(column, justify="right")
    for label, row in figures.items():
        if "daps_p95_s" in row:
            table.add_row(
                label,
                "",
                f"daps {row['daps_p95_s']:.2f} s, fcfs {row['fcfs_p95_s']:.2f} s",
                f"daps / fcfs {row['daps_p95_s'] / row['fcfs_p95_s']:.2f}",
            )
            continue
        figure = (
            f"{row['overhead_ms_per_node']:.2f} ms/node"
            if "overhead_ms_per_node" in row
            else f"speedup {row['plain_s'] / row['maze_s']:.2f}x"
        )
        table.add_row(label, f"{row['plain_s']:.2f} s", f"{row['maze_s']:.2f} s", figure)
    Console(width=140).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
