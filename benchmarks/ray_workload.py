"""The published Maze workload on a real (simulated-node) Ray cluster, next to the simulator.

A ``ray.cluster_utils.Cluster`` of 4 nodes, each 2 CPUs and one logical GPU holding one model.
Workflows are the trace's templates arriving as in exp1 (Poisson phases) at load 1.25, with
every duration and every arrival time divided by ``--scale`` (100): a GPU step of ~30 s runs
0.3 s, a model load ~1 s. Each task sleeps its sampled duration; GPU tasks run in Maze's
model actors (``@tool(model=..., load=...)``), whose loader sleeps the model load once per
actor, so a task placed where its model is not resident pays a real cold start (a new
worker process and the load). The same seeded workload goes through the simulator with the
same cluster; the table shows both (simulated seconds divided by the scale) and the gap.

Every policy first runs a short warm-up (the first 6 workflows, discarded: Ray starts its
workers and imports the tools), then ``--rounds`` measured rounds, the policy order
rotating each round so that no policy always runs first on a cold machine; the table gives
the range over rounds.

    python benchmarks/ray_workload.py [--json OUT] [--scale 100] [--rounds 3]
        [--policies daps,maze-original,agent-level]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time

from rich.console import Console
from rich.table import Table

from maze_core import Workflow, tool
from maze_core.progress import Progress
from maze_core.sim.engine import (
    ClusterSpec,
    SimConfig,
    arrivals,
    simulate,
    task_resources,
    template_workflow,
)
from maze_core.sim.metrics import percentile
from maze_core.sim.trace import DagTemplate, TaskTemplate, TraceData, load_workload_source

NODES = 4
WARM_UP = 6  # workflows each policy runs before it is measured


def step(seconds: float) -> float:
    """Stand-in for one trace task: sleeps its duration."""
    time.sleep(seconds)
    return seconds


class LoadModel:
    """A model loader that takes ``seconds`` (the trace's model load, scaled)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self) -> str:
        time.sleep(self.seconds)
        return "weights"


_TOOLS: dict[tuple[str, str], object] = {}


def build(template: DagTemplate, durations: dict[str, float], load_s: float) -> Workflow:
    """The template with every task a ``step`` of its sampled duration, asking for what the
    trace's decorator asked (the simulator's tasks ask the same). One tool per template
    task, made once: Ray exports each tool's function once."""

    def tool_for(task: TaskTemplate):
        key = (template.name, task.name)
        if key not in _TOOLS:
            load = LoadModel(load_s) if task.kind == "gpu" and task.model else None
            _TOOLS[key] = tool(
                resources=task_resources(task),
                kind=task.kind,
                model=task.model,
                name=task.name,
                load=load,
            )(_copy(step, task.name))
        return _TOOLS[key]

    def args_for(task: TaskTemplate) -> tuple:
        return (durations[task.name],)

    return template_workflow(template, tool_for, args_for)


def _copy(fn, name):
    def body(seconds: float) -> float:
        return fn(seconds)

    body.__name__ = body.__qualname__ = name
    return body


def run_policy(
    trace: TraceData,
    policy: str,
    scale: float,
    config: SimConfig,
    address: str,
    limit: int | None = None,
):
    from maze_core.run.ray import RayRuntime

    progress = Progress()  # live on a terminal: workflows, tasks per kind, tasks per node
    runtime = RayRuntime(
        address=address, policy=policy, predictor=False, pipeline=1.0, plugins=[progress]
    )
    workload = arrivals(trace, config)[:limit]
    handles, lock = [], threading.Lock()
    start = time.perf_counter()
    with progress.live():
        for index, (when, template) in enumerate(workload):
            rng = random.Random(f"workflow/{config.seed}/{index}")
            tpl = trace.templates[template]
            durations = {t.name: trace.draw(template, t.name, rng) / scale for t in tpl.tasks}
            delay = start + when / scale - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            with lock:
                handles.append(runtime.submit(build(tpl, durations, trace.model_load_s / scale)))
        results = [h.result(timeout=1800) for h in handles]
    makespan = time.perf_counter() - start
    runtime.close()
    responses = [r.seconds for r in results]
    return {
        "workflows": len(results),
        "p50_s": percentile(responses, 50),
        "p95_s": percentile(responses, 95),
        "throughput_per_min": len(results) / (makespan / 60),
        "failed": sum(not r.ok for r in results),
    }


def span(values: list[float], fmt: str = "{:.2f}") -> str:
    """The range over rounds, ``low-high``."""
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-ray-workload.json")
    parser.add_argument("--scale", type=float, default=100.0)
    parser.add_argument("--load", type=float, default=1.25)
    parser.add_argument("--policies", default="daps,maze-original,agent-level")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    import ray
    from ray.cluster_utils import Cluster

    trace = load_workload_source()
    cluster_spec = ClusterSpec(nodes=NODES, cpus=2, gpus=1)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "num_gpus": 1})
    for _ in range(NODES - 1):
        cluster.add_node(num_cpus=2, num_gpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    policies = args.policies.split(",")
    configs = {
        p: SimConfig(policy=p, load=args.load, cluster=cluster_spec, predictor="oracle")
        for p in policies
    }
    for policy in policies:
        run_policy(trace, policy, args.scale, configs[policy], cluster.address, limit=WARM_UP)
    rounds: dict[str, list[dict]] = {p: [] for p in policies}
    for index in range(args.rounds):
        for policy in policies[index % len(policies) :] + policies[: index % len(policies)]:
            real = run_policy(trace, policy, args.scale, configs[policy], cluster.address)
            rounds[policy].append(real)
    figures = {}
    for policy in policies:
        sim = simulate(trace, configs[policy]).summary()
        figures[policy] = {
            "ray": rounds[policy],
            "simulated": {
                "p50_s": sim["p50_s"] / args.scale,
                "p95_s": sim["p95_s"] / args.scale,
                "throughput_per_min": sim["throughput_per_min"] * args.scale,
                "workflows": sim["workflows"],
            },
        }
    ray.shutdown()
    cluster.shutdown()

    table = Table(
        title=f"exp1 x{args.load:g} on {NODES} Ray nodes (1 logical GPU each), "
        f"time / {args.scale:g}, {args.rounds} rounds (range)"
    )
    for column in (
        "policy",
        "workflows",
        "Ray P50 s",
        "sim P50 s",
        "Ray P95 s",
        "sim P95 s",
        "P95 gap",
        "Ray wf/min",
        "sim wf/min",
    ):
        table.add_column(column, justify="right")
    for policy, row in figures.items():
        real, sim = row["ray"], row["simulated"]
        gaps = [r["p95_s"] / sim["p95_s"] - 1 for r in real]
        table.add_row(
            policy,
            str(real[0]["workflows"]),
            span([r["p50_s"] for r in real]),
            f"{sim['p50_s']:.2f}",
            span([r["p95_s"] for r in real]),
            f"{sim['p95_s']:.2f}",
            f"{min(gaps):+.0%} to {max(gaps):+.0%}",
            span([r["throughput_per_min"] for r in real], "{:.1f}"),
            f"{sim['throughput_per_min']:.1f}",
        )
    Console(width=140).print(table)
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
