"""Maze on Ray against raw Ray: the same no-op tasks and the same DAG, in the same run.

1. 2,000 independent no-op tasks: ``ray.remote`` submitted all at once and gathered, vs one
   Maze workflow of 2,000 tasks on a RayRuntime.
2. A 200-task DAG (a chain of 20 stages, each fanning out to 10 tasks that all feed the next
   stage): raw Ray passing ObjectRefs, vs the same Maze workflow.

Both sides use the same embedded Ray (2 CPUs unless --cpus) and alternate for --rounds rounds
(the DAG, a few hundred ms a run, three times a round); each side's best run counts. Prints a
table, writes JSON.

    python benchmarks/ray_overhead.py [--json OUT] [--cpus N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from rich.console import Console
from rich.table import Table

from maze_core import Workflow, tool


@tool
def noop(i: int) -> int:
    return i


@tool
def stage(inputs: list) -> int:
    return len(inputs)


def raw_noop(ray, n: int) -> float:
    remote = ray.remote(lambda i: i)
    start = time.perf_counter()
    assert ray.get([remote.remote(i) for i in range(n)]) == list(range(n))
    return time.perf_counter() - start


def raw_dag(ray, stages: int, width: int) -> float:
    remote = ray.remote(lambda *inputs: len(inputs))
    start = time.perf_counter()
    previous: list = []
    for _ in range(stages):
        previous = [remote.remote(*previous) for _ in range(width)]
    ray.get(previous)
    return time.perf_counter() - start


def maze_noop(runtime, n: int) -> float:
    start = time.perf_counter()
    wf = Workflow("noop")
    refs = [wf.add(noop, i) for i in range(n)]
    result = runtime.submit(wf).result(timeout=600)
    assert [result[r] for r in refs[:5]] == [0, 1, 2, 3, 4]
    return time.perf_counter() - start


def maze_dag(runtime, stages: int, width: int) -> float:
    start = time.perf_counter()
    wf = Workflow("dag")
    previous: list = []
    for _ in range(stages):
        previous = [wf.add(stage, list(previous)) for _ in range(width)]
    result = runtime.submit(wf).result(timeout=600)
    assert result.ok
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-ray-overhead.json")
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--pipeline", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many, each side")
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    import ray

    from maze_core.run.ray import RayRuntime

    runtime = RayRuntime(num_cpus=args.cpus, pipeline=args.pipeline)
    raw_noop(ray, 200), maze_noop(runtime, 200)  # warm up workers on both sides
    # the sides alternate, round after round, so that a busy moment of the machine hits both
    timings: dict[str, list[list[float]]] = {"noop": [[], []], "dag": [[], []]}
    for _ in range(args.rounds):
        timings["noop"][0].append(raw_noop(ray, args.tasks))
        timings["noop"][1].append(maze_noop(runtime, args.tasks))
        for _ in range(3):
            timings["dag"][0].append(raw_dag(ray, 20, 10))
            timings["dag"][1].append(maze_dag(runtime, 20, 10))
    rows = {
        f"{args.tasks:,} no-op tasks": (args.tasks, *map(min, timings["noop"])),
        "200-task DAG (20 x 10)": (200, *map(min, timings["dag"])),
    }
    runtime.close()
    ray.shutdown()

    table = Table(
        title=f"Maze RayRuntime vs raw Ray, {args.cpus} CPUs, same run, best of {args.rounds}"
    )
    for column in (
        "workload",
        "tasks",
        "raw Ray tasks/s",
        "Maze tasks/s",
        "raw µs/task",
        "Maze µs/task",
        "Maze / raw time",
        "Maze throughput vs raw",
    ):
        table.add_column(column, justify="right")
    figures = {}
    for label, (n, raw_s, maze_s) in rows.items():
        figures[label] = {
            "tasks": n,
            "raw_s": raw_s,
            "maze_s": maze_s,
            "overhead_ratio": maze_s / raw_s,
            "throughput_share": raw_s / maze_s,
        }
        table.add_row(
            label,
            f"{n:,}",
            f"{n / raw_s:,.0f}",
            f"{n / maze_s:,.0f}",
            f"{raw_s / n * 1e6:,.0f}",
            f"{maze_s / n * 1e6:,.0f}",
            f"{maze_s / raw_s:.2f}x",
            f"{raw_s / maze_s:.0%}",
        )
    Console(width=150).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
