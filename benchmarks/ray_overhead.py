"""Maze on Ray against raw Ray: the same no-op tasks and the same DAG, in the same run.

1. 2,000 independent no-op tasks: ``ray.remote`` submitted all at once and gathered, vs one
   Maze workflow of 2,000 tasks on a RayRuntime.
2. A 200-task DAG (a chain of 20 stages, each fanning out to 10 tasks that all feed the next
   stage): raw Ray passing ObjectRefs, vs the same Maze workflow.

Maze runs each twice: as it is (tasks predicted to take under ``bundle_s`` share Ray tasks;
after the warm-up its predictor knows these tools take microseconds) and with
``bundle_s=0`` (one Ray task per Maze task: the scheduler's own per-task overhead). All sides
use the same embedded Ray (2 CPUs unless --cpus) and alternate for --rounds rounds (the DAG,
a few hundred ms a run, three times a round); each side's best run counts. Prints a table,
writes JSON.

    python benchmarks/ray_overhead.py [--json OUT] [--cpus N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable

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


SIDES = ("raw Ray", "Maze", "Maze, bundle_s=0")


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
    bundle_s = runtime.bundle_s
    # warm up workers on both sides; Maze's predictor learns that these tools are tiny
    raw_noop(ray, 200), maze_noop(runtime, 200), maze_dag(runtime, 20, 10)

    def maze(run: Callable[[], float], bundling: bool) -> float:
        runtime.bundle_s = bundle_s if bundling else 0.0
        return run()

    # the sides alternate, round after round, so that a busy moment of the machine hits all
    noop = (
        lambda: raw_noop(ray, args.tasks),
        lambda: maze(lambda: maze_noop(runtime, args.tasks), True),
        lambda: maze(lambda: maze_noop(runtime, args.tasks), False),
    )
    dag = (
        lambda: raw_dag(ray, 20, 10),
        lambda: maze(lambda: maze_dag(runtime, 20, 10), True),
        lambda: maze(lambda: maze_dag(runtime, 20, 10), False),
    )
    timings: dict[str, list[list[float]]] = {"noop": [[], [], []], "dag": [[], [], []]}
    for _ in range(args.rounds):
        for side, run in enumerate(noop):
            timings["noop"][side].append(run())
        for _ in range(3):
            for side, run in enumerate(dag):
                timings["dag"][side].append(run())
    rows = {
        f"{args.tasks:,} no-op tasks": (args.tasks, [min(t) for t in timings["noop"]]),
        "200-task DAG (20 x 10)": (200, [min(t) for t in timings["dag"]]),
    }
    runtime.close()
    ray.shutdown()

    table = Table(
        title=f"Maze RayRuntime vs raw Ray, {args.cpus} CPUs, same run, best of {args.rounds}"
        " (DAG: of 3 x that)"
    )
    for column in ("workload", "tasks", *(f"{side} tasks/s" for side in SIDES)):
        table.add_column(column, justify="right")
    for column in ("Maze / raw time", "Maze, bundle_s=0 / raw time"):
        table.add_column(column, justify="right")
    figures = {}
    for label, (n, seconds) in rows.items():
        raw_s, maze_s, single_s = seconds
        figures[label] = {
            "tasks": n,
            "raw_s": raw_s,
            "maze_s": maze_s,
            "maze_unbundled_s": single_s,
            "overhead_ratio": maze_s / raw_s,
            "throughput_share": raw_s / maze_s,
            "unbundled_overhead_ratio": single_s / raw_s,
            "unbundled_throughput_share": raw_s / single_s,
        }
        table.add_row(
            label,
            f"{n:,}",
            *(f"{n / s:,.0f}" for s in seconds),
            f"{maze_s / raw_s:.2f}x",
            f"{single_s / raw_s:.2f}x ({raw_s / single_s:.0%} of raw's throughput)",
        )
    Console(width=170).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
