"""Throughput of Maze on Ray as simulated nodes are added (1, 2, 4, 8).

Each node of a ``ray.cluster_utils.Cluster`` (all on this machine) has 2 CPUs; the workload is
16 x nodes tasks that sleep 0.2 s (I/O-like, so more nodes really means more capacity even on a
2-core machine). Efficiency = throughput / (nodes x throughput of one node); 1.0 is linear.

    python benchmarks/ray_scaling.py [--json OUT] [--nodes 1,2,4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from rich.console import Console
from rich.table import Table

from maze_core import Resources, Workflow, tool


@tool(resources=Resources(cpus=1))
def wait_io(i: int) -> int:
    time.sleep(0.2)
    return i


def measure(nodes: int, per_node: int) -> float:
    import ray
    from ray.cluster_utils import Cluster

    from maze_core.run.ray import RayRuntime

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    for _ in range(nodes - 1):
        cluster.add_node(num_cpus=2)
    cluster.wait_for_nodes()
    runtime = RayRuntime(address=cluster.address, pipeline=1.0, predictor=False)
    warm = Workflow("warm")
    for i in range(2 * nodes):
        warm.add(wait_io, i)
    runtime.submit(warm).result(timeout=300)
    wf = Workflow("scale")
    for i in range(per_node * nodes):
        wf.add(wait_io, i)
    start = time.perf_counter()
    result = runtime.submit(wf).result(timeout=600)
    elapsed = time.perf_counter() - start
    assert result.ok, result.errors
    runtime.close()
    ray.shutdown()
    cluster.shutdown()
    return per_node * nodes / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-ray-scaling.json")
    parser.add_argument("--nodes", default="1,2,4,8")
    parser.add_argument("--per-node", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    counts = [int(n) for n in args.nodes.split(",")]
    throughput = {n: measure(n, args.per_node) for n in counts}
    base = throughput[counts[0]] / counts[0]
    table = Table(title="Maze on Ray: 0.2 s tasks, 2 CPUs per simulated node")
    for column in ("nodes", "tasks", "tasks/s", "ideal tasks/s", "efficiency"):
        table.add_column(column, justify="right")
    figures = {}
    for n, rate in throughput.items():
        figures[n] = {"tasks_per_s": rate, "efficiency": rate / (base * n)}
        table.add_row(
            str(n),
            str(args.per_node * n),
            f"{rate:.1f}",
            f"{base * n:.1f}",
            f"{rate / (base * n):.2f}",
        )
    Console(width=120).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
