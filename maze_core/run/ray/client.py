"""A client of the cluster's shared scheduler (server mode, see :mod:`maze_core.run.ray.server`).

Joining a cluster that ``maze start --head`` started, a ``RayRuntime`` hands its runs to the
detached ``maze/scheduler`` actor instead of scheduling them itself, so every client's runs
share one queue and one view of load.
"""

from __future__ import annotations

import functools
import secrets
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from maze_core.errors import MazeError
from maze_core.graph import TaskGraph
from maze_core.run.ray.service import GRAPHS_KEPT, UnknownGraph, find_service
from maze_core.run.ray.tasks import ray_module
from maze_core.run.result import RunResult
from maze_core.run.runtime import RunHandle, RunHints
from maze_core.schedule.events import Event

if TYPE_CHECKING:
    from maze_core.run.runtime import Runtime

__all__ = ["SharedScheduler", "find_shared_scheduler", "service_lost"]


class SharedScheduler:
    """The shared scheduler actor, as a runtime's clients use it."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self._sent: dict[str, None] = {}  # workflow ids whose graph the service was sent

    def submit(
        self,
        runtime: Runtime,
        graph: TaskGraph,
        inputs: dict[str, Any],
        fail_fast: bool,
        hints: RunHints,
    ) -> RunHandle:
        """Start a run on the shared scheduler without waiting for it to be accepted: the
        run is named by a random key of this client's (its handle's ``run_id``), and its
        handle waits for the actor's answer, the result or the error that refused it. A
        workflow's graph travels once; later runs of it name it by its id."""
        key = secrets.randbits(62)
        future: Future[RunResult] = Future()
        call = (key, graph, inputs, fail_fast, hints)
        known = graph.workflow_id in self._sent
        self._send(future, call, by_id=known)
        if not known:
            self._sent[graph.workflow_id] = None
            while len(self._sent) > GRAPHS_KEPT:
                del self._sent[next(iter(self._sent))]
        return RunHandle(runtime, key, graph, future)

    def _send(self, future: Future[RunResult], call: tuple[Any, ...], by_id: bool) -> None:
        key, graph, *rest = call
        sent = graph.workflow_id if by_id else graph
        answer = self.service.run.remote(key, sent, *rest).future()
        answer.add_done_callback(functools.partial(self._settle, future, call))

    def _settle(
        self, future: Future[RunResult], call: tuple[Any, ...], answer: Future[Any]
    ) -> None:
        """The actor's answer into the run's future: a refusal is raised by ``result()``;
        a graph the service no longer holds is sent again."""
        if future.cancelled():
            return
        try:
            value = answer.result()
        except BaseException as error:  # the actor died, or Ray could not reach it
            future.set_exception(service_lost(error))
            return
        if isinstance(value, UnknownGraph):
            self._send(future, call, by_id=False)
        elif isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)

    def post_event(self, event: Event) -> None:
        self.service.post_event.remote(event)


def service_lost(error: BaseException) -> BaseException:
    """Ray's word that the shared scheduler's actor is gone (its head stopped, or the actor
    died) said as a MazeError naming what was lost; any other error as it is."""
    if not isinstance(error, ray_module().exceptions.RayActorError):
        return error
    lost = MazeError(
        f"the cluster's shared scheduler is gone (its head stopped or its actor died:"
        f" {type(error).__name__}); this run's result is lost",
        fix="restart the head (`maze start --head`, or see `maze status`) and submit again",
        culprit="maze/scheduler",
    )
    lost.__cause__ = error
    return lost


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
    return SharedScheduler(service)
