"""Chaos: workflows on a 4-node Ray cluster while a killer removes worker nodes (a fresh one
joins for each) and SIGKILLs Ray worker processes. Every workflow must complete with the
answer a plain local run gives; afterwards no run is active, the scheduler's books balance and
every node's resources are free again.

    python tests/reliability/chaos.py WORKFLOWS KILL_EVERY_S [tiny]   (prints one CHAOS line)

``tiny``: the tools do no work at all, and MaLearn learns so before the chaos starts, so that
tasks run in shared Ray tasks (``RayRuntime(bundle_s=)``) while nodes leave and workers die.
Their threshold is 50 ms there, not the default 2 ms: on a loaded 2-core machine running a
4-node cluster, preemption alone puts the 90th percentile of a no-op call above 2 ms, and
then no task would be bundled (seen in CI).

Run by tests/reliability/test_chaos.py (short) and benchmarks/soak.py (full size).
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import sys
import time

import ray
from ray.cluster_utils import Cluster

from maze_core import Workflow, tool
from maze_core.run.ray import RayRuntime


@tool(retries=8)
def work(seed: int, i: int, scale: float = 1.0) -> int:
    time.sleep(scale * (0.05 + ((seed * 7 + i) % 5) * 0.04))
    return (seed * 31 + i) % 1009


@tool(retries=8)
def combine(values: list, scale: float = 1.0) -> int:
    time.sleep(scale * 0.05)
    return sum(values) % 1009


def workflow(seed: int, scale: float = 1.0) -> Workflow:
    """A fan-out of 4, a fan-in, then a chain of 2: 7 tasks."""
    wf = Workflow(f"chaos-{seed}")
    total = wf.add(combine, [wf.add(work, seed, i, scale) for i in range(4)], scale)
    step = wf.add(work, seed, 10, scale)
    wf.add(combine, [total, step], scale, task_name="answer")
    return wf


def expected(seed: int) -> int:
    """The answer, computed by calling the tools in place."""
    total = combine([work(seed, i, 0.0) for i in range(4)], 0.0)
    return combine([total, work(seed, 10, 0.0)], 0.0)


class Killer:
    """Removes a worker node and adds a fresh one, or SIGKILLs a Ray worker process, in turn.
    Called from the main thread (Ray starts nodes only there)."""

    def __init__(self, cluster: Cluster, nodes: list) -> None:
        self.cluster, self.nodes = cluster, nodes
        self.removed = self.killed = self.turn = 0
        self.rng = random.Random(7)

    def strike(self) -> None:
        self.turn += 1
        if self.turn % 2:
            victim = self.nodes.pop(self.rng.randrange(len(self.nodes)))
            self.cluster.remove_node(victim)
            self.nodes.append(self.cluster.add_node(num_cpus=1))
            self.removed += 1
        else:
            workers = busy_workers()
            if workers:
                os.kill(self.rng.choice(workers), signal.SIGKILL)
                self.killed += 1


def busy_workers() -> list[int]:
    """Pids of Ray worker processes running a ``work`` task (Ray names them ``ray::work``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if cmdline.read().startswith(b"ray::work"):
                        pids.append(int(entry))
            except OSError:
                continue
    return pids


def main(workflows: int, every: float, tiny: bool = False) -> dict:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(3)]
    cluster.wait_for_nodes()
    runtime = RayRuntime(
        address=cluster.address,
        autoload_plugins=False,
        predictor=tiny,
        bundle_s=0.05 if tiny else 0.002,
    )
    killer = Killer(cluster, nodes)
    scale = 0.0 if tiny else 1.0
    try:
        for seed in range(30 if tiny else 0):  # MaLearn learns that the tools take µs
            runtime.submit(workflow(-1 - seed, scale)).result(timeout=120)
        handles = [(seed, runtime.submit(workflow(seed, scale))) for seed in range(workflows)]
        deadline = time.monotonic() + 900
        while not all(h.done() for _, h in handles) and time.monotonic() < deadline:
            time.sleep(every)
            killer.strike()
        results = [(seed, handle.result(timeout=60)) for seed, handle in handles]
        wrong = [seed for seed, r in results if not r.ok or r["answer"] != expected(seed)]
        for seed in wrong[:3]:
            errors = dict(results)[seed].errors
            print(f"workflow {seed}: {errors}", file=sys.stderr)
        retries = sum(max(0, t.attempts - 1) for _, r in results for t in r.tasks.values())
        time.sleep(2.5)  # the node watcher polls every second
        scheduler = runtime.scheduler
        scheduler.check_invariants()
        unfreed = [
            name
            for name, node in scheduler.nodes.items()
            if abs(node.free_cpus - node.admitted_cpus) > 1e-9 or node.free_memory != node.memory
        ]
        latencies = sorted(r.seconds for _, r in results)
        return {
            "workflows": workflows,
            "completed": sum(r.ok for _, r in results),
            "wrong": wrong,
            "retries": retries,
            "nodes_removed": killer.removed,
            "workers_killed": killer.killed,
            "active_runs": scheduler.active_runs,
            "unfreed_nodes": unfreed,
            "p95_s": statistics.quantiles(latencies, n=20)[-1] if len(latencies) > 1 else 0.0,
            "bundled": runtime.bundled,
        }
    finally:
        runtime.close()
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    figures = main(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:] == ["tiny"])
    print("CHAOS " + json.dumps(figures))
    ok = not figures["wrong"] and not figures["unfreed_nodes"] and not figures["active_runs"]
    sys.exit(0 if ok and figures["completed"] == figures["workflows"] else 1)
