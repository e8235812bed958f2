"""A workflow on a simulated 3-node Ray cluster with one (logical) GPU: where did each task run?

Three Ray nodes start on this machine (``ray.cluster_utils.Cluster``): a head with 2 CPUs, a
"gpu" node with 2 CPUs and one GPU (a Ray logical resource: no real GPU needed) and a "disk"
node with 2 CPUs and a custom ``ssd`` resource. The workflow parses documents on any CPU,
embeds them with a "model" that needs the GPU (loaded once per node, kept resident by Maze),
reads an index that needs the ``ssd`` node, and ranks the results. Maze's scheduler picks the
node of every task; Ray runs it there. The script prints the placement.

    python examples/cluster.py [--timeline FILE]
"""

from __future__ import annotations

import argparse
import os
import time

import ray
from ray.cluster_utils import Cluster

from maze_core import Resources, Workflow, current_model, tool
from maze_core.run.ray import RayRuntime


def load_encoder() -> dict:
    """Build the "model" once per GPU node (a real one would load weights onto the GPU)."""
    time.sleep(0.5)
    return {"dims": 8, "device": os.environ.get("CUDA_VISIBLE_DEVICES")}


@tool
def parse(doc_id: int) -> str:
    time.sleep(0.05)  # stands for reading and parsing a file
    return f"document {doc_id}: " + " ".join(f"w{(doc_id * 7 + i) % 13}" for i in range(40))


@tool(resources=Resources(cpus=1, gpus=1), model="encoder", load=load_encoder)
def embed(text: str) -> list[float]:
    encoder = current_model()
    time.sleep(0.1)  # stands for a forward pass on the GPU
    counts = [text.count(f"w{i}") for i in range(encoder["dims"])]
    return [c / max(1, sum(counts)) for c in counts]


@tool(resources=Resources(cpus=1, custom={"ssd": 1}))
def read_index(shard: int) -> list[float]:
    return [((shard + i) % 5) / 5 for i in range(8)]


@tool
def rank(vectors: list, index: list) -> list[int]:
    query = [sum(column) / len(index) for column in zip(*index, strict=True)]
    scores = [sum(a * b for a, b in zip(v, query, strict=True)) for v in vectors]
    return sorted(range(len(vectors)), key=lambda i: -scores[i])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeline", help="write the run here (Chrome trace JSON)")
    args = parser.parse_args()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
    gpu_node = cluster.add_node(num_cpus=2, num_gpus=1)
    disk_node = cluster.add_node(num_cpus=2, resources={"ssd": 1})
    cluster.wait_for_nodes()
    names = {
        cluster.head_node.node_id: "head",
        gpu_node.node_id: "gpu",
        disk_node.node_id: "disk",
    }
    try:
        with RayRuntime(address=cluster.address, autoload_plugins=False) as runtime:
            wf = Workflow("search")
            vectors = [wf.add(embed, wf.add(parse, doc)) for doc in range(6)]
            index = [wf.add(read_index, shard) for shard in range(2)]
            wf.add(rank, vectors, index)
            result = runtime.submit(wf).result(timeout=300)
            result.raise_for_status()
            for task_id, record in result.tasks.items():
                node = names.get(record.node or "", record.node)
                print(f"{task_id:14s} {record.kind:4s} on {node:5s} {record.seconds * 1e3:7.1f} ms")
            print(f"ranking: {result['rank']}")
            if args.timeline:
                result.timeline(args.timeline)
                print(f"timeline: {args.timeline} (open it in https://ui.perfetto.dev)")
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
