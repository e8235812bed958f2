"""Scheduler decision cost per dispatched task, with 10,000 ready tasks queued.

A cluster of 8 nodes x 8 CPUs (64 slots) gets 200 workflows of 50 independent 1-CPU tasks
at once, so 9,936 tasks stay queued while the first 64 run. Then tasks finish one at a
time and each ``handle(TaskDone)`` starts the next one; we time every such call
(``time.perf_counter_ns``) and report the median and P99 per policy, all in the same run.
The published Maze reports 4.3 ms per decision for its scheduler.

    python benchmarks/scheduler_decision.py [--json OUT] [--ready 10000] [--decisions 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from rich.console import Console
from rich.table import Table

from maze_core import Workflow, tool
from maze_core.schedule import POLICIES, Dispatch, Node, Scheduler, SubmitRun, TaskDone

PUBLISHED_MAZE_DECISION_US = 4300.0


@tool
def work(i: int) -> int:
    return i


def workload(n_tasks: int, per_workflow: int = 50) -> list:
    graphs = []
    for w in range(n_tasks // per_workflow):
        wf = Workflow(f"wf{w}")
        for i in range(per_workflow):
            wf.add(work, i)
        graphs.append(wf.build())
    return graphs


def measure(policy: str, graphs: list, decisions: int) -> dict[str, float]:
    scheduler = Scheduler([Node(f"n{i}", cpus=8) for i in range(8)], policy)
    running = []
    out = scheduler.handle(*(SubmitRun(i, g, 0.0) for i, g in enumerate(graphs)))
    running.extend((d.run_id, d.task_id, d.attempt) for d in out if isinstance(d, Dispatch))
    queued = scheduler.ready_tasks
    samples = []
    now = 1.0
    for _ in range(decisions):
        run_id, task_id, attempt = running.pop(0)
        start = time.perf_counter_ns()
        out = scheduler.handle(TaskDone(run_id, task_id, attempt, now))
        elapsed = time.perf_counter_ns() - start
        started = [d for d in out if isinstance(d, Dispatch)]
        running.extend((d.run_id, d.task_id, d.attempt) for d in started)
        if started:
            samples.append(elapsed / len(started) / 1000)
        now += 0.01
    return {
        "queued_at_start": queued,
        "decision_us_median": statistics.median(samples),
        "decision_us_p99": statistics.quantiles(samples, n=100)[98],
        "decisions": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--ready", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=5_000)
    args = parser.parse_args()

    graphs = workload(args.ready)
    results = {policy: measure(policy, graphs, args.decisions) for policy in POLICIES}
    table = Table(title=f"Decision cost per dispatched task, {args.ready:,} tasks queued")
    for column in ("policy", "queued", "median µs", "P99 µs", "vs published Maze (4.3 ms)"):
        table.add_column(column, justify="right")
    for policy, row in results.items():
        ratio = PUBLISHED_MAZE_DECISION_US / row["decision_us_median"]
        table.add_row(
            policy,
            f"{row['queued_at_start']:,}",
            f"{row['decision_us_median']:.1f}",
            f"{row['decision_us_p99']:.1f}",
            f"{ratio:,.0f}x faster",
        )
    Console().print(table)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
