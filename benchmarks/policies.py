"""Every scheduling policy on the same seeded workloads, in the simulator.

1. The published exp1 workload (Poisson phases) at loads 0.5-1.5 on the default cluster
   (8 nodes, one 80 GiB GPU each), seeds 0-2 pooled: P50/P95/P99 response, throughput.
2. Bigger clusters with proportional load (16, 64 and 1,000 nodes at load 1.25 x nodes/8).
3. 1,000 nodes and ~100,000 tasks with daps: how long the simulation itself takes.

Writes a JSON file and a PNG (P95 response vs load, one line per policy).

    python benchmarks/policies.py [--json OUT] [--png OUT] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from rich.console import Console

from maze_core.schedule import POLICIES
from maze_core.sim.engine import ClusterSpec, SimConfig, SimResult, simulate
from maze_core.sim.report import policy_table
from maze_core.sim.trace import load_workload_source

LOADS = (0.5, 0.75, 1.0, 1.25, 1.5)
SCALES = (16, 64, 1000)
BIG_POLICIES = ("fcfs", "maze-original", "heft", "daps")  # agent-level is O(workflows) a step


def pooled(trace, config: SimConfig, seeds: int) -> dict:
    """One policy over several seeds; response times pooled before taking percentiles."""
    runs: list[SimResult] = [simulate(trace, replace(config, seed=s)) for s in range(seeds)]
    merged = runs[0]
    merged.response_s = [r for run in runs for r in run.response_s]
    merged.decision_us = [d for run in runs for d in run.decision_us]
    summary = merged.summary()
    summary["workflows"] = sum(run.workflows for run in runs)
    summary["throughput_per_min"] = sum(run.summary()["throughput_per_min"] for run in runs) / seeds
    summary["model_loads"] = sum(run.model_loads for run in runs)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-policies.json")
    parser.add_argument("--png", default="bench-policies.png")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=140)
    trace = load_workload_source()
    console.print(f"workload source: {trace.source}")
    results: dict = {"by_load": {}, "by_scale": {}, "scale_run": {}}

    for load in LOADS:
        config = SimConfig(workload="exp1", load=load)
        rows = {p: pooled(trace, replace(config, policy=p), args.seeds) for p in POLICIES}
        results["by_load"][str(load)] = rows
        console.print(policy_table(rows, f"exp1 x{load:g}, 8 nodes, seeds 0-{args.seeds - 1}"))

    for nodes in SCALES:
        config = SimConfig(workload="exp1", load=1.25 * nodes / 8, cluster=ClusterSpec(nodes=nodes))
        policies = POLICIES if nodes <= 64 else BIG_POLICIES
        rows = {p: simulate(trace, replace(config, policy=p)).summary() for p in policies}
        results["by_scale"][str(nodes)] = rows
        console.print(policy_table(rows, f"exp1 x{1.25 * nodes / 8:g}, {nodes} nodes"))

    started = time.perf_counter()
    big = simulate(trace, SimConfig(workload="exp1", load=256, cluster=ClusterSpec(nodes=1000)))
    elapsed = time.perf_counter() - started
    results["scale_run"] = {
        "nodes": 1000,
        "tasks": big.tasks,
        "workflows": big.workflows,
        "wall_s": elapsed,
        **big.summary(),
    }
    console.print(
        f"daps, 1,000 nodes: {big.tasks:,} tasks of {big.workflows:,} workflows "
        f"simulated in {elapsed:.1f} s"
    )

    with open(args.json, "w") as out:
        json.dump(results, out, indent=2)
    plot(results["by_load"], args.png)
    console.print(f"wrote {args.json} and {args.png}")


def plot(by_load: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    loads = [float(load) for load in by_load]
    for policy in POLICIES:
        ax.plot(
            loads,
            [by_load[str(load)][policy]["p95_s"] for load in loads],
            marker="o",
            label=policy,
            linewidth=2.5 if policy == "daps" else 1.5,
        )
    ax.set_xlabel("load (x the published exp1 arrival rate)")
    ax.set_ylabel("P95 workflow response time (s)")
    ax.set_title("Simulated exp1 workload, 8 nodes with one GPU each")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
