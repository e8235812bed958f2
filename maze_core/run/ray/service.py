"""The shared scheduler of server mode: a detached, named Ray actor (``maze/scheduler``)
holding a :class:`~maze_core.run.ray.runtime.RayRuntime` that runs every client's runs in
one queue, and how clients find it (see :mod:`maze_core.run.ray.server`)."""

from __future__ import annotations

from typing import Any

from maze_core.errors import MazeError

__all__ = ["NAMESPACE", "SERVICE", "SchedulerService", "describe", "find_service"]

NAMESPACE = "maze"
SERVICE = "scheduler"


class SchedulerService:
    """The shared scheduler, as a Ray actor: a RayRuntime serving every client's runs."""

    def __init__(self, policy: str = "daps") -> None:
        from maze_core.run.ray.runtime import RayRuntime

        self.runtime = RayRuntime(policy=policy, shared=False)
        self._handles: dict[int, Any] = {}

    def ping(self) -> str:
        return "ok"

    def submit(
        self, graph: Any, inputs: dict[str, Any], fail_fast: bool, hints: Any = None
    ) -> tuple[int | None, BaseException | None]:
        """Start a run; (run id, None), or (None, the error) when it is refused."""
        try:
            handle = self.runtime.submit(graph, fail_fast=fail_fast, hints=hints, **inputs)
        except MazeError as error:
            return None, error
        self._handles[handle.run_id] = handle
        return handle.run_id, None

    def result(self, run_id: int) -> Any:
        """Wait for a run and hand over its result (once: the service forgets it then)."""
        handle = self._handles[run_id]
        try:
            return handle.result()
        finally:
            self._handles.pop(run_id, None)

    def post_event(self, event: Any) -> None:
        self.runtime.post_event(event)

    def status(self) -> dict[str, Any]:
        return describe(self.runtime)


def describe(runtime: Any) -> dict[str, Any]:
    """Nodes with free/total resources and resident models, queues per kind, running tasks."""
    scheduler = runtime.scheduler
    nodes = []
    for name, node in scheduler.nodes.items():
        running = scheduler.cluster.running.get(name, ())
        nodes.append(
            {
                "node": name,
                "cpus": node.cpus,
                "cpus_busy": node.admitted_cpus - node.free_cpus,
                "gpus": node.gpus,
                "gpus_busy": node.gpus - sum(node.free_gpu_share),
                "memory": node.memory,
                "models": list(node.models),
                "running": sorted(f"{ts.run.run_id}:{ts.task.id}" for ts in running),
            }
        )
    predictor = runtime.predictor.summary() if runtime.predictor is not None else []
    return {
        "nodes": nodes,
        "queued": scheduler.ready_by_kind(),
        "active_runs": scheduler.active_runs,
        "predictor": [
            {
                "tool": row["tool"],
                "samples": row["samples"],
                "serving": row["serving"],
                "error": row["errors"].get(row["serving"]),  # recent |log error| of it
            }
            for row in predictor
        ],
    }


def find_service(ray: Any) -> Any | None:
    """The shared scheduler's actor handle, or None when the cluster has none."""
    try:
        return ray.get_actor(SERVICE, namespace=NAMESPACE)
    except ValueError:
        return None
