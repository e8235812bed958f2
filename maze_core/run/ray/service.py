"""The shared scheduler of server mode: a detached, named Ray actor (``maze/scheduler``)
holding a :class:`~maze_core.run.ray.runtime.RayRuntime` that runs every client's runs in
one queue, and how clients find it (see :mod:`maze_core.run.ray.server`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from typing import Any, NamedTuple

from maze_core.errors import MazeError

__all__ = [
    "NAMESPACE",
    "SERVICE",
    "SchedulerService",
    "UnknownGraph",
    "describe",
    "find_service",
]

NAMESPACE = "maze"
SERVICE = "scheduler"
GRAPHS_KEPT = 1024  # workflows whose graph the service keeps, most recently used
_OVERTAKEN_TRIES = 20
_OVERTAKEN_WAIT_S = 0.05


class UnknownGraph(NamedTuple):
    """The service's answer to a run named by a workflow id it does not hold."""

    workflow_id: str


class SchedulerService:
    """The shared scheduler, as an async Ray actor: a RayRuntime serving every client's
    runs. Its methods are coroutines on the actor's event loop, so a run a client waits for
    costs a pending coroutine, not a thread (tens of thousands can wait at once, and a new
    submit or ``maze status`` never waits for a free thread). A client names each run by
    a random key of its own (:meth:`run` starts it and answers with its result), so it
    never waits for a round trip to submit, and no client can guess another's runs."""

    def __init__(self, policy: str = "daps") -> None:
        from maze_core.run.ray.runtime import RayRuntime

        self.runtime = RayRuntime(policy=policy, shared=False)
        self._runs: dict[int, int] = {}  # a client's key of a live run -> its run id here
        self._graphs: OrderedDict[str, Any] = OrderedDict()  # workflow id -> its TaskGraph

    async def ping(self) -> str:
        return "ok"

    async def run(
        self,
        key: int,
        graph: Any,
        inputs: dict[str, Any],
        fail_fast: bool,
        hints: Any = None,
    ) -> Any:
        """Start a run under the client's ``key`` and wait for it: its result (under that
        key), or the MazeError that refused it (returned, for the client to raise).
        ``graph`` is the TaskGraph, or its ``workflow_id`` once this service has it: the
        graph then is neither unpickled nor its code checked again; an id this service
        does not hold (evicted, or a restarted service) is answered with
        :class:`UnknownGraph`, and the client sends the graph itself."""
        if isinstance(graph, str):
            known = self._graphs.get(graph)
            if known is None:
                return UnknownGraph(graph)
            self._graphs.move_to_end(graph)
            graph = known
        else:
            self._graphs[graph.workflow_id] = graph
            while len(self._graphs) > GRAPHS_KEPT:
                self._graphs.popitem(last=False)
        try:
            handle = self.runtime.submit(graph, fail_fast=fail_fast, hints=hints, **inputs)
        except MazeError as error:
            return error
        self._runs[key] = handle.run_id
        try:
            result = await handle
        finally:
            del self._runs[key]
        result.run_id = key
        return result

    async def post_event(self, event: Any) -> None:
        """An event of a client's run (a cancel), its key turned into this runtime's run
        id; it may overtake the run's start on this async actor, so an unknown key is
        waited for a moment before the event is dropped (the run ended)."""
        key = getattr(event, "run_id", None)
        if key is None:
            self.runtime.post_event(event)
            return
        for _ in range(_OVERTAKEN_TRIES):
            if key in self._runs:
                self.runtime.post_event(dataclasses.replace(event, run_id=self._runs[key]))
                return
            await asyncio.sleep(_OVERTAKEN_WAIT_S)

    async def status(self) -> dict[str, Any]:
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
