"""Scheduler decision cost with 10,000 ready tasks queued, by tool shapes and cluster size.

A cluster of N nodes x 8 CPUs gets workflows of 50 independent 1-CPU tasks at once, enough
that 10,000 stay queued while the first 8N run. The tasks come in S tool shapes (distinct
resource requests: each shape asks for its own amount of memory, so each is its own group
in a queue). Then tasks finish one at a time and we time every ``handle(TaskDone)``
(``time.perf_counter_ns``), whether or not it started anything, and report the median and
P99 per policy, with the mean process CPU time per call (the loop's own work included: on
a shared machine wall time stretches when the machine is busy, CPU time much less), every
policy in the same run on the identical workload. The published Maze
reports 4.3 ms per decision for its scheduler.

    python benchmarks/scheduler_decision.py [--json OUT] [--ready 10000] [--decisions 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import deque

from rich.console import Console
from rich.table import Table

from maze_core import Resources, Workflow
from maze_core.schedule import POLICIES, Dispatch, Node, Scheduler, SubmitRun, TaskDone
from maze_core.tools import make_spec

PUBLISHED_MAZE_DECISION_US = 4300.0
SHAPES = (1, 14, 100)
NODES = (8, 1000)
CPUS_PER_NODE = 8
SLOW_AT_SCALE = ("agent-level", "agent-level-autogen")  # O(nodes) per workflow by design


def shaped_tools(shapes: int) -> list:
    """``shapes`` no-op tools, each asking for 1 CPU and its own amount of memory."""
    tools = []
    for index in range(shapes):

        def work(i: int) -> int:
            return i

        work.__name__ = work.__qualname__ = f"work{index}"
        resources = Resources(cpus=1, memory=(index + 1) * 2**20)
        work.__maze_tool__ = make_spec(work, resources=resources, name=work.__name__)  # type: ignore[attr-defined]
        tools.append(work)
    return tools


def workload(n_tasks: int, shapes: int, per_workflow: int = 50) -> list:
    tools = shaped_tools(shapes)
    graphs = []
    for w in range(-(-n_tasks // per_workflow)):
        wf = Workflow(f"wf{w}")
        for i in range(per_workflow):
            wf.add(tools[(w * per_workflow + i) % shapes], i)
        graphs.append(wf.build())
    return graphs


def measure(policy: str, graphs: list, nodes: int, decisions: int) -> dict[str, float]:
    cluster = [Node(f"n{i}", cpus=CPUS_PER_NODE, memory=2**40) for i in range(nodes)]
    scheduler = Scheduler(cluster, policy)
    running: deque[tuple[int, str, int]] = deque()
    out = scheduler.handle(*(SubmitRun(i, g, 0.0) for i, g in enumerate(graphs)))
    running.extend((d.run_id, d.task_id, d.attempt) for d in out if isinstance(d, Dispatch))
    queued = scheduler.ready_tasks
    samples = []
    now = 1.0
    cpu = time.process_time()
    for _ in range(decisions):
        run_id, task_id, attempt = running.popleft()
        start = time.perf_counter_ns()
        out = scheduler.handle(TaskDone(run_id, task_id, attempt, now))
        samples.append((time.perf_counter_ns() - start) / 1000)
        running.extend((d.run_id, d.task_id, d.attempt) for d in out if isinstance(d, Dispatch))
        now += 0.01
    cpu = time.process_time() - cpu
    return {
        "queued_at_start": queued,
        "decision_us_median": statistics.median(samples),
        "cpu_us_mean": cpu / decisions * 1e6,
        "decision_us_p99": statistics.quantiles(samples, n=100)[98],
        "decisions": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--ready", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=5_000)
    args = parser.parse_args()

    results: dict[str, dict[str, dict[str, float]]] = {}
    table = Table(title=f"Decision cost per scheduler call, {args.ready:,} tasks queued")
    columns = ("policy", "shapes", "nodes", "queued", "median µs", "P99 µs", "CPU µs", "vs 4.3 ms")
    for column in columns:
        table.add_column(column, justify="right")
    for nodes in NODES:
        for shapes in SHAPES:
            graphs = workload(args.ready + nodes * CPUS_PER_NODE, shapes)
            for policy in POLICIES:
                if nodes > 8 and policy in SLOW_AT_SCALE:
                    continue
                row = measure(policy, graphs, nodes, args.decisions)
                results.setdefault(f"{shapes} shapes, {nodes} nodes", {})[policy] = row
                table.add_row(
                    policy,
                    str(shapes),
                    f"{nodes:,}",
                    f"{row['queued_at_start']:,}",
                    f"{row['decision_us_median']:.1f}",
                    f"{row['decision_us_p99']:.1f}",
                    f"{row['cpu_us_mean']:.1f}",
                    f"{PUBLISHED_MAZE_DECISION_US / row['decision_us_median']:,.0f}x faster",
                )
    Console().print(table)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
