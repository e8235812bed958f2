"""Per-task overhead of Maze's local runtime against a bare ThreadPoolExecutor.

Both sides run the same calls with the same concurrency (one worker per CPU, which is what
Maze admits for 1-CPU tasks): 10,000 no-op tasks, then 1,000 tasks that sleep 1 ms.
Maze's time includes building the workflow, submitting it and collecting every output, and
MaLearn predicting and learning every task (its history goes to a fresh temporary
MAZE_HOME); the same rows with the predictor off show what the scheduler itself costs.
Timing starts once river (which MaLearn imports in the background at its first call) is
there: what a cold process pays is ``benchmarks/cold_start.py``'s to report.
CPU columns are the process's CPU time (all its threads) per task, beside the wall figures:
on a loaded machine wall time stretches, CPU time much less.

    python benchmarks/local_overhead.py [--json OUT] [--noop N] [--sleepy N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from rich.table import Table

from maze_core import LocalRuntime, Workflow, tool
from maze_core.predict.model import import_river_now
from maze_core.run.local.machine import detect_cpus


@tool
def noop(i: int) -> int:
    return i


@tool
def sleep_1ms(i: int) -> int:
    time.sleep(0.001)
    return i


def run_maze(runtime: LocalRuntime, fn, n: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    wf = Workflow(f"{fn.__name__}-x{n}")
    refs = [wf.add(fn, i) for i in range(n)]
    result = runtime.submit(wf).result()
    assert [result[ref] for ref in refs] == list(range(n)), result
    return time.perf_counter() - start, time.process_time() - cpu


def run_pool(pool: ThreadPoolExecutor, fn, n: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    futures = [pool.submit(fn, i) for i in range(n)]
    assert [f.result() for f in futures] == list(range(n))
    return time.perf_counter() - start, time.process_time() - cpu


def best_of(repeats: int, measure) -> tuple[float, float]:
    """The fastest of ``repeats`` runs (wall seconds) with its process CPU seconds."""
    return min(measure() for _ in range(repeats))


def main() -> None:
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))  # a cold start
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--noop", type=int, default=10_000)
    parser.add_argument("--sleepy", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    cpus = detect_cpus()
    rows = {}
    cases = (("no-op", noop, args.noop), ("1 ms sleep", sleep_1ms, args.sleepy))
    for predictor in (True, False):
        suffix = "" if predictor else ", MaLearn off"
        runtime = LocalRuntime("threads", cpus=cpus, predictor=predictor)
        with runtime, ThreadPoolExecutor(cpus) as pool:
            for label, fn, n in cases:
                run_maze(runtime, fn, min(n, 200))  # warm both up
                run_pool(pool, fn, min(n, 200))
                import_river_now()  # steady state: not river's background import (1-2 CPU-s)
                maze_s, maze_cpu = best_of(
                    args.repeats, lambda fn=fn, n=n, rt=runtime: run_maze(rt, fn, n)
                )
                pool_s, pool_cpu = best_of(args.repeats, lambda fn=fn, n=n: run_pool(pool, fn, n))
                rows[label + suffix] = {
                    "n": n,
                    "maze_s": maze_s,
                    "pool_s": pool_s,
                    "maze_cpu_s": maze_cpu,
                    "pool_cpu_s": pool_cpu,
                }

    title = f"Maze local runtime vs ThreadPoolExecutor({cpus}), best of {args.repeats}"
    table = Table(title=title)
    columns = ("tasks", "n", "Maze tasks/s", "pool tasks/s", "overhead µs/task", "Maze / pool")
    for column in (*columns, "Maze CPU µs/task", "pool CPU µs/task"):
        table.add_column(column, justify="right")
    for label, row in rows.items():
        overhead = (row["maze_s"] - row["pool_s"]) / row["n"] * 1e6
        row["overhead_us_per_task"] = overhead
        table.add_row(
            label,
            f"{row['n']:,}",
            f"{row['n'] / row['maze_s']:,.0f}",
            f"{row['n'] / row['pool_s']:,.0f}",
            f"{overhead:.1f}",
            f"{row['maze_s'] / row['pool_s']:.2f}x",
            f"{row['maze_cpu_s'] / row['n'] * 1e6:.1f}",
            f"{row['pool_cpu_s'] / row['n'] * 1e6:.1f}",
        )
    Console(width=120).print(table)

    noop_row = rows["no-op"]
    figures = {
        "noop_tasks_per_s": noop_row["n"] / noop_row["maze_s"],
        "overhead_us_per_task": noop_row["overhead_us_per_task"],
        "cpu_us_per_task": noop_row["maze_cpu_s"] / noop_row["n"] * 1e6,
        "baseline_cpu_us_per_task": noop_row["pool_cpu_s"] / noop_row["n"] * 1e6,
        "baseline_tasks_per_s": noop_row["n"] / noop_row["pool_s"],
        "sleep_1ms_overhead_us_per_task": rows["1 ms sleep"]["overhead_us_per_task"],
        "overhead_us_per_task_without_malearn": rows["no-op, MaLearn off"]["overhead_us_per_task"],
        "cpus": cpus,
        "python": platform.python_version(),
        "rows": rows,
    }
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
