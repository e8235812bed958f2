"""RayRuntime: the same run loop and scheduler, with tasks running on a Ray cluster.

Maze decides, Ray executes. The scheduler (daps by default) sees Ray's nodes as its cluster
model and picks the node of every task; the task is then submitted to Ray pinned there
(``NodeAffinitySchedulingStrategy``, hard) with its CPUs, GPUs, memory and custom resources.
Since the scheduler only dispatches what fits in the free resources of the chosen node, Ray
can start every task it is handed at once: the order Ray runs tasks in is Maze's priority
order (admission control), and a request no node can hold fails at submit instead of
waiting forever in Ray's queue.

Data stays in Ray's object store. A task returns two objects: a small report (outcome,
timings, exported features, output size) that comes to the driver, and its value, which
stays where it was made; downstream tasks get it as an argument ``ObjectRef``, so Ray moves
it worker to worker, and ``RunResult[...]`` fetches it only when read. The node holding an
output and its size (estimated by the worker, see ``size_hint``) feed data affinity.
A value that pickles to at most ``INLINE_BYTES`` comes back pickled inside the report
instead (Ray returns values that small to the driver anyway): reading it costs no second
round trip (a LangGraph node's reply, say), and a downstream task gets it in its call
instead of as one more ObjectRef argument, each of which costs Ray ~12 µs to submit.

Ray nodes joining or leaving become NodeAdded / NodeRemoved events: polled every second,
and at once when Ray reports a lost node or object, so that the scheduler hears of the
node before the failures it caused. A removed node's running tasks run again elsewhere
(not counted as retries) and the outputs it held that are still needed are recomputed
(Ray's own lineage reconstruction is off: Maze decides where the work goes again). A worker
that dies mid-task on a live node is reported as WorkerLostError (retried within the tool's
``retries``); a timeout cancels the Ray task (force) and fails the attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from maze_core.errors import WorkerLostError
from maze_core.graph import TaskGraph, resolve, task_refs
from maze_core.predict.malearn import MaLearn
from maze_core.run.ray.actors import ModelActors
from maze_core.run.ray.client import find_shared_scheduler
from maze_core.run.ray.nodes import CLUSTER_LOST_S, NodeWatcher, connect, ray_nodes
from maze_core.run.ray.relay import Relay
from maze_core.run.ray.remotes import Remotes
from maze_core.run.ray.tasks import Inline, failed, fetch, node_died, outcome_of, task_call
from maze_core.run.ray.tasks import ray_module as _ray
from maze_core.run.ray.tiny import TinyTasks
from maze_core.run.runstate import RunBook
from maze_core.run.runtime import RunHandle, RunHints
from maze_core.run.timers import Deadlines
from maze_core.run.worker.call import Outcome
from maze_core.schedule import CancelRun, Dispatch, ModelUnloaded, NodeRemoved
from maze_core.schedule.policies import Policy
from maze_core.tools import ToolSpec, parse_size

__all__ = ["RayRuntime"]

log = logging.getLogger("maze")


class RayRuntime(TinyTasks):
    """Run workflows on Ray: an embedded local Ray (no ``address``), or a cluster to join
    (``address="auto"`` or ``"HOST:PORT"``). Closing stops only a Ray this runtime started.

    ``pipeline`` is how many CPU-tasks per CPU the scheduler hands a node at once: above 1,
    the next tasks wait in the node's own Ray queue instead of a driver round trip away
    (~1 ms), at the price of that much priority order. GPUs and memory are never overcommitted.

    Tools from the user's own modules are shipped to workers by value (see
    :mod:`maze_core.run.worker.shipping`), each checked against ``ship_limit`` when first submitted.
    ``runtime_env`` goes to ``ray.init`` (when this runtime starts or joins Ray) for what
    shipping by value cannot carry: data files, modules imported only at run time.

    Tasks predicted (90th percentile) to take less than ``bundle_s`` seconds are tiny: Ray's
    own cost per task, about a millisecond here, would otherwise be most of their run time.
    Tiny tasks dispatched together to one node share Ray tasks (one per CPU of the node),
    each keeping its own call, outcome, retries and output; a worker dying under a bundle
    costs its members no retry (each runs again alone). A tiny task dispatched alone runs on
    one of the node's lane actors (see :mod:`maze_core.run.ray.actors`), which skips Ray's
    worker lease. ``bundle_s=0`` turns both off. Tools with a timeout, a model or GPUs are
    never tiny.

    Tools declared with ``load=`` run in per-node model actors (see
    :mod:`maze_core.run.ray.actors`), stopped after ``model_idle_s`` unused. ``max_result``
    bounds a result's (estimated) size: a bigger one fails its task with a SerializationError.

    Joining a cluster that ``maze start --head`` started, the runtime is a client of the
    cluster's shared scheduler (see :mod:`maze_core.run.ray.server`): runs go to one queue for
    all clients. ``shared=False`` schedules this client's runs itself; ``shared=True``
    requires the shared scheduler. Hooks of a client do not see the shared scheduler's runs.
    """

    channels = True  # through its relay actor

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        object_store_memory: int = 512 * 2**20,
        include_dashboard: bool = False,
        policy: str | Policy = "daps",
        predictor: MaLearn | bool = True,
        plugins: Iterable[Any] = (),
        autoload_plugins: bool | None = None,
        poll_nodes_s: float = 1.0,
        pipeline: float = 4.0,
        ship_limit: int | str = "10MiB",
        runtime_env: dict[str, Any] | None = None,
        model_idle_s: float = 300.0,
        shared: bool | None = None,
        max_result: int | str | None = None,
        bundle_s: float = 0.002,
    ) -> None:
        settings = dict(num_cpus=num_cpus, num_gpus=num_gpus, runtime_env=runtime_env)
        settings.update(
            object_store_memory=object_store_memory, include_dashboard=include_dashboard
        )
        self._owns_ray = connect(address, settings)
        ray = _ray()
        self.pipeline = pipeline
        self.service = find_shared_scheduler(ray, address, shared)
        client = self.service is not None  # its runs go to the shared scheduler: it has no
        super().__init__(  # nodes, runs or predictions of its own
            [] if client else ray_nodes(ray, pipeline),
            policy=policy,
            predictor=False if client else predictor,
            plugins=plugins,
            autoload_plugins=autoload_plugins,
        )
        self.book = RunBook(self.plugins, fetch=fetch)
        self.remotes = Remotes(
            max_result=parse_size(max_result, what="max_result"),
            ship_limit=parse_size(ship_limit, what="ship_limit") or 0,
        )
        self._start_tiny(bundle_s)
        self.model_idle_s = model_idle_s
        self._actors = ModelActors(ray, self._model_unloaded)
        self._deadlines = Deadlines()
        self._tasks = {}
        self._failures = ThreadPoolExecutor(1, thread_name_prefix="maze-ray-failures")
        self._relay = Relay()
        self.nodes = self._watch_nodes(poll_nodes_s, watch=not client)

    def _watch_nodes(self, every: float, *, watch: bool) -> NodeWatcher:
        """The watcher of Ray's nodes, started unless this is a client of the shared
        scheduler (which schedules nothing itself)."""
        watcher = NodeWatcher(
            pipeline=self.pipeline,
            known=lambda: self.scheduler.nodes,
            post=self.post_event,
            removed=self._actors.node_removed,
        )
        if watch:
            watcher.start(every, self._tick, self._cluster_lost)
        return watcher

    def __repr__(self) -> str:
        if self.service is not None:
            return "RayRuntime(client of the shared scheduler)"
        return f"RayRuntime(nodes={len(self.scheduler.nodes)})"

    @property
    def runs_here(self) -> bool:
        return self.service is None  # a client's runs are the shared scheduler's to order

    def relay(self) -> Any:
        """The relay actor calls' channels go through (see :mod:`.relay`)."""
        return self._relay.handle()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._relay.close()
        self.nodes.stop()
        self._deadlines.close()
        self._failures.shutdown(wait=False)
        self._actors.close()
        if self._owns_ray:
            _ray().shutdown()

    def _forward(
        self, graph: TaskGraph, inputs: dict[str, Any], fail_fast: bool, hints: RunHints
    ) -> RunHandle | None:
        for task in graph.tasks.values():
            self.remotes.check_code(task.spec)
        if self.service is None:
            return None
        return self.service.submit(self, graph, inputs, fail_fast, hints)

    def post_event(self, event: Any) -> None:
        if self.service is not None:
            self.service.post_event(event)
        else:
            super().post_event(event)

    def ship(self, fn: Any, name: str) -> Any:
        """Pickle ``fn``'s package by value when workers may not have it and check it
        against ``ship_limit``, once per function (see :class:`Remotes`)."""
        return self.remotes.ship(fn, name)

    # -- dispatch -----------------------------------------------------------------------------

    def _process(self, events: list[Any]) -> None:
        instructions = self.scheduler.handle(*events)
        start = 0
        while start < len(instructions):
            end = start
            while end < len(instructions) and isinstance(instructions[end], Dispatch):
                end += 1
            if end == start:
                self._carry_out(instructions[start])
                start += 1
            else:
                self._dispatch_all([i for i in instructions[start:end] if isinstance(i, Dispatch)])
                start = end

    def _reporter(self, instruction: Dispatch) -> Callable[..., None]:
        """What hands an attempt's outcome to the loop (from Ray's callback thread); with
        ``pump=False`` the loop runs later (a bundle's members go in together)."""
        run_id, task_id, attempt = instruction.run_id, instruction.task_id, instruction.attempt
        key = (run_id, task_id, attempt)
        node = instruction.allocation.node

        def report(future: Future[Outcome], pump: bool = True) -> None:
            ref = self._tasks.pop(key, None)
            error = future.exception()
            if ref is not None:
                self._actors.finished(ref, dead=isinstance(error, WorkerLostError))
            if isinstance(error, WorkerLostError):
                # perhaps a node left: look (off Ray's callback thread, where a blocking
                # Ray call would deadlock) and tell the scheduler before the failure
                dead = node if node_died(error) else None
                self._failures.submit(self._report_lost, dead, run_id, task_id, attempt, future)
                return
            self._inbox.append(lambda: self.book.outcome(run_id, task_id, attempt, future))
            if pump:
                self._pump()

        return report

    def _prepare(self, instruction: Dispatch) -> tuple[ToolSpec, list[Any], list[Any]]:
        """Record that the task starts; its spec, call and the upstream ObjectRefs it takes."""
        run_id = instruction.run_id
        task, args, kwargs, context, _ = self.book.running(instruction, resolve_refs=False)
        deps: list[str] = []
        if task.has_refs:  # inputs are here; upstream outputs go worker to worker
            args, kwargs = resolve((args, kwargs), None, self.book.inputs_of(run_id))
            deps = task_refs((args, kwargs))
        outputs = self.book.outputs_of(run_id)
        inline = {dep: outputs[dep].data for dep in deps if isinstance(outputs[dep], Inline)}
        deps = [dep for dep in deps if dep not in inline]
        return task.spec, task_call(args, kwargs, deps, context, inline), [outputs[d] for d in deps]

    def _dispatch(self, instruction: Dispatch, lane: bool = False) -> None:
        """Submit the task to Ray: to a model actor for a tool with a model, to a lane of
        the node when ``lane`` (a tiny task) and one is free, else as a Ray task."""
        run_id, task_id, attempt = instruction.run_id, instruction.task_id, instruction.attempt
        node = instruction.allocation.node
        report = self._reporter(instruction)
        try:
            spec, call, values = self._prepare(instruction)
            if spec.load is not None and spec.model is not None:
                options = self.remotes.options(spec, node)
                execute = self.remotes.actor_task(spec)
                report_ref, value_ref = self._actors.submit(
                    node, spec.model, options, execute, call, values
                )
            else:
                refs = self._on_lane(spec, node, call, values) if lane else None
                report_ref, value_ref = refs or self.remotes.task(spec, node).remote(call, *values)
            if spec.resources.gpus:  # idle model actors may hold GPUs Ray must give it
                self._actors.make_room(node, sum(self.scheduler.nodes[node].free_gpu_share))
        except Exception as exc:  # unpicklable call, a node that just left: the task fails
            report(failed(exc))
            return
        self._tasks[run_id, task_id, attempt] = report_ref
        report_ref.future().add_done_callback(
            lambda done: report(outcome_of(done, value_ref, task_id))
        )
        if spec.timeout is not None:
            self._deadlines.add(
                time.monotonic() + spec.timeout, lambda: self._expire(run_id, task_id, attempt)
            )

    def _report_lost(
        self, dead: str | None, run_id: int, task_id: str, attempt: int, future: Future[Outcome]
    ) -> None:
        self.nodes.refresh(dead=dead)
        self._post(lambda: self.book.outcome(run_id, task_id, attempt, future))

    def _model_unloaded(self, node: str, model: str) -> None:
        self.post_event(ModelUnloaded(node, model, time.time()))

    def _expire(self, run_id: int, task_id: str, attempt: int) -> None:
        """An attempt ran out of time: it ends as a timeout (which keeps its retries) before
        its Ray task is cancelled, so the cancelled task's report, whenever it comes, finds
        the attempt over and is ignored, whether the task had started or not."""
        ref = self._tasks.pop((run_id, task_id, attempt), None)
        if ref is None:
            return
        self._post(lambda: self.book.expired(run_id, task_id, attempt))
        try:
            if not self._actors.abandon(ref):  # actor calls are abandoned, not killed
                _ray().cancel(ref, force=True)
        except Exception:  # already finished or gone: the timeout stands
            log.debug("maze: could not cancel %s", task_id, exc_info=True)

    # -- nodes ----------------------------------------------------------------------------------

    # -- nodes ----------------------------------------------------------------------------------

    def _tick(self) -> None:
        """After each look at a live cluster: stop model actors idle too long."""
        self._actors.evict_idle(self.model_idle_s)

    def _cluster_lost(self, gcs: str) -> None:
        """The cluster's head stopped answering: end every run with an error that says so."""
        now = time.time()
        reason = (
            f"the Ray cluster at {gcs} stopped answering for {CLUSTER_LOST_S:g} s (its head"
            " is gone); restart it and submit again"
        )
        log.error("maze: %s", reason)
        for name in list(self.scheduler.nodes):
            self.post_event(NodeRemoved(name, now))
        for run_id in self.book.active():
            self.post_event(CancelRun(run_id, now, reason))
