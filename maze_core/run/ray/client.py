"""A client of the cluster's shared scheduler (server mode, see :mod:`maze_core.run.ray.server`).

Joining a cluster that ``maze start --head`` started, a ``RayRuntime`` hands its runs to the
detached ``maze/scheduler`` actor instead of scheduling them itself, so every client's runs
share one queue and one view of load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maze_core.errors import MazeError
from maze_core.graph import TaskGraph
from maze_core.run.ray.service import find_service
from maze_core.run.runtime import RunHandle, RunHints
from maze_core.schedule.events import Event

if TYPE_CHECKING:
    from maze_core.run.runtime import Runtime

__all__ = ["SharedScheduler", "find_shared_scheduler"]


class SharedScheduler:
    """The shared scheduler actor, as a runtime's clients use it."""

    def __init__(self, ray: Any, service: Any) -> None:
        self._ray = ray
        self.service = service

    def submit(
        self,
        runtime: Runtime,
        graph: TaskGraph,
        inputs: dict[str, Any],
        fail_fast: bool,
        hints: RunHints,
    ) -> RunHandle:
        """Start a run on the shared scheduler; its handle waits for the actor's result."""
        call = self.service.submit.remote(graph, inputs, fail_fast, hints)
        run_id, error = self._ray.get(call)
        if error is not None:
            raise error
        future = self.service.result.remote(run_id).future()
        return RunHandle(runtime, run_id, graph, future)

    def post_event(self, event: Event) -> None:
        self.service.post_event.remote(event)


def find_shared_scheduler(
    ray: Any, address: str | None, shared: bool | None
) -> SharedScheduler | None:
    """The cluster's shared scheduler when this client should use it: ``shared=None`` uses
    it when joining a cluster (``address``) that has one, ``shared=True`` requires it."""
    if shared is False or (shared is None and address is None):
        return None
    service = find_service(ray)
    if service is None:
        if shared:
            raise MazeError(
                "this Ray cluster has no shared Maze scheduler",
                fix="start the cluster with `maze start --head`, or pass shared=False",
                culprit=address,
            )
        return None
    return SharedScheduler(ray, service)
