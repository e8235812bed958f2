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
import pickle
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from maze_core.errors import (
    MazeError,
    SharedWorkerLostError,
    WorkerLostError,
)
from maze_core.graph import TaskGraph, resolve, task_refs
from maze_core.predict.malearn import MaLearn
from maze_core.run.context import TaskContext
from maze_core.run.executors import Outcome
from maze_core.run.ray_actors import ModelActors
from maze_core.run.ray_tasks import (
    Inline,
    failed,
    fetch,
    member_outcome,
    node_died,
    outcome_of,
    task_call,
    tool_bundle,
    tool_task,
)
from maze_core.run.ray_tasks import ray_module as _ray
from maze_core.run.runstate import RunBook
from maze_core.run.runtime import RunHandle, RunHints, Runtime
from maze_core.run.shipping import Shipped, check_shippable, ship_by_value, shipped_once
from maze_core.run.timers import Deadlines
from maze_core.schedule import (
    CancelRun,
    Dispatch,
    ModelUnloaded,
    Node,
    NodeAdded,
    NodeRemoved,
)
from maze_core.schedule.policies import Policy
from maze_core.tools import ToolSpec, parse_size

__all__ = ["RayRuntime"]

log = logging.getLogger("maze")
CLUSTER_LOST_S = 10.0  # the head silent this long: the cluster is gone
MAX_BUNDLE = 32  # tiny tasks sharing one Ray task, at most
MIN_SPLIT = 4  # a group of tiny tasks is split across CPUs into bundles no smaller
MAX_LANES = 4  # lane actors a node keeps at most (each is a worker process, ~100 MB)
_SKIPPED_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")


class RayRuntime(Runtime):
    """Run workflows on Ray: an embedded local Ray (no ``address``), or a cluster to join
    (``address="auto"`` or ``"HOST:PORT"``). Closing stops only a Ray this runtime started.

    ``pipeline`` is how many CPU-tasks per CPU the scheduler hands a node at once: above 1,
    the next tasks wait in the node's own Ray queue instead of a driver round trip away
    (~1 ms), at the price of that much priority order. GPUs and memory are never overcommitted.

    Tools from the user's own modules are shipped to workers by value (see
    :mod:`maze_core.run.shipping`), each checked against ``ship_limit`` when first submitted.
    ``runtime_env`` goes to ``ray.init`` (when this runtime starts or joins Ray) for what
    shipping by value cannot carry: data files, modules imported only at run time.

    Tasks predicted (90th percentile) to take less than ``bundle_s`` seconds are tiny: Ray's
    own cost per task, about a millisecond here, would otherwise be most of their run time.
    Tiny tasks dispatched together to one node share Ray tasks (one per CPU of the node),
    each keeping its own call, outcome, retries and output; a worker dying under a bundle
    costs its members no retry (each runs again alone). A tiny task dispatched alone runs on
    one of the node's lane actors (see :mod:`maze_core.run.ray_actors`), which skips Ray's
    worker lease. ``bundle_s=0`` turns both off. Tools with a timeout, a model or GPUs are
    never tiny.

    Tools declared with ``load=`` run in per-node model actors (see
    :mod:`maze_core.run.ray_actors`), stopped after ``model_idle_s`` unused. ``max_result``
    bounds a result's (estimated) size: a bigger one fails its task with a SerializationError.

    Joining a cluster that ``maze start --head`` started, the runtime is a client of the
    cluster's shared scheduler (see :mod:`maze_core.run.server`): runs go to one queue for
    all clients. ``shared=False`` schedules this client's runs itself; ``shared=True``
    requires the shared scheduler. Hooks of a client do not see the shared scheduler's runs.
    """

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
        if address is not None:
            from maze_core.run.server import use_ray_token

            use_ray_token()
        ray = _ray()
        self._owns_ray = not ray.is_initialized()
        if address is not None:
            from maze_core.run.server import check_reachable

            check_reachable(address)
            if not self._owns_ray:
                _check_same_cluster(ray, address)
        if self._owns_ray:
            try:
                ray.init(
                    address=address or "local",  # embedded: never attach to a stray cluster
                    num_cpus=num_cpus if address is None else None,
                    num_gpus=num_gpus if address is None else None,
                    object_store_memory=object_store_memory if address is None else None,
                    include_dashboard=include_dashboard,
                    log_to_driver=True,
                    runtime_env=runtime_env,
                )
            except ConnectionError as exc:
                raise MazeError(
                    f"cannot join the Ray cluster at {address!r}: {exc}",
                    fix="start one with `maze start --head`, or give its HOST:PORT",
                    culprit=address,
                ) from None
        self.pipeline = pipeline
        super().__init__(
            _ray_nodes(ray, pipeline),
            policy=policy,
            predictor=predictor,
            plugins=plugins,
            autoload_plugins=autoload_plugins,
        )
        self.book = RunBook(self.plugins.hook, fetch=fetch)
        self.ship_limit = parse_size(ship_limit, what="ship_limit") or 0
        self.max_result = parse_size(max_result, what="max_result")
        self._shipped: dict[Any, Any] = {}  # (function, async, GPUs) -> remote
        self._checked: set[ToolSpec] = set()
        self._ship_checked: dict[int, tuple[Any, Any]] = {}  # id -> (fn, what travels)
        self._remotes: dict[tuple[ToolSpec, str], Any] = {}
        self.bundle_s = bundle_s
        self.bundled = 0  # tasks that ran in bundles
        self._bundles: dict[tuple[ToolSpec, str, int], Any] = {}
        self._shipped_bundle: dict[ToolSpec, Any] = {}
        self._actor_tasks: dict[ToolSpec, bytes] = {}
        self._solo: set[tuple[int, str]] = set()  # tasks whose bundle lost its worker
        self.model_idle_s = model_idle_s
        self._actors = ModelActors(ray, self._model_unloaded)
        self._options_cache: dict[tuple[ToolSpec, str], dict[str, Any]] = {}
        self._deadlines = Deadlines()
        self._tasks: dict[tuple[int, str, int], Any] = {}
        self._dead: set[str] = set()  # Ray never reuses a node id: these never come back
        self._failures = ThreadPoolExecutor(1, thread_name_prefix="maze-ray-failures")
        self._nodes_lock = threading.Lock()
        self._stop = threading.Event()
        self.service = self._find_service(ray, address, shared)
        self._watcher = threading.Thread(
            target=self._watch_nodes, args=(poll_nodes_s,), name="maze-ray-nodes", daemon=True
        )
        if self.service is None:  # a client of the shared scheduler watches nothing
            self._watcher.start()

    def __repr__(self) -> str:
        return f"RayRuntime(nodes={len(self.scheduler.nodes)})"

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        self._stop.set()
        self._deadlines.close()
        self._failures.shutdown(wait=False)
        self._actors.close()
        if self._owns_ray:
            _ray().shutdown()

    @staticmethod
    def _find_service(ray: Any, address: str | None, shared: bool | None) -> Any | None:
        from maze_core.run.server import find_service

        if shared is False or (shared is None and address is None):
            return None
        service = find_service(ray)
        if service is None and shared:
            raise MazeError(
                "this Ray cluster has no shared Maze scheduler",
                fix="start the cluster with `maze start --head`, or pass shared=False",
                culprit=address,
            )
        return service

    def _forward(
        self, graph: TaskGraph, inputs: dict[str, Any], fail_fast: bool, hints: RunHints
    ) -> RunHandle | None:
        for task in graph.tasks.values():
            self._check_code(task.spec)
        if self.service is None:
            return None
        ray = _ray()
        run_id, error = ray.get(self.service.submit.remote(graph, inputs, fail_fast, hints))
        if error is not None:
            raise error
        future = self.service.result.remote(run_id).future()
        return RunHandle(self, run_id, graph.name, future)

    def post_event(self, event: Any) -> None:
        if self.service is not None:
            self.service.post_event.remote(event)
        else:
            super().post_event(event)

    def _check_code(self, spec: ToolSpec) -> None:
        """Make the tool's code shippable to workers and check it, once per tool."""
        if spec in self._checked:
            return
        for part in (spec.fn, spec.load):
            if part is not None:
                self.ship(part, spec.name)
        self._checked.add(spec)

    def ship(self, fn: Any, name: str) -> Any:
        """Pickle ``fn``'s package by value when workers may not have it (see
        :mod:`maze_core.run.shipping`) and check it against ``ship_limit``, once per
        function; return it as a :class:`Shipped` when it travels by value."""
        found = self._ship_checked.get(id(fn))
        if found is not None and found[0] is fn:
            return found[1]
        pickler = _ray().cloudpickle
        ship_by_value(fn, pickler)
        check_shippable(name, fn, pickler, self.ship_limit)
        travels = shipped_once(fn, pickler)
        self._ship_checked[id(fn)] = (fn, travels)  # fn held, so that its id is never reused
        return travels

    def _ship(self, spec: ToolSpec) -> Any:
        """The tool's Ray remote function, made on first use: Ray exports it once and each
        worker imports it once, instead of pickling it with every call. Tools of one
        function (every node of a LangGraph graph runs the adapter's) share one, so that
        Ray reuses a worker lease from one to the next; each call is named after its tool
        (``_remote_for``)."""
        key = (spec.fn, spec.is_async, spec.resources.gpus)
        remote = self._shipped.get(key)
        if remote is None:
            self._check_code(spec)
            remote = self._shipped[key] = _remote_function(tool_task(spec, self.max_result), spec)
        return remote

    def _actor_task(self, spec: ToolSpec) -> bytes:
        """What actors (model actors, lanes) get in each call to run ``spec``: its task
        function as a pickled ``Shipped``, made once. Ray passes bytes as they are, where
        it would run a function or a ``Shipped`` through its cloudpickle on every call
        (~0.2 ms of a lane call's submit, measured); the actor unpickles it from its cache."""
        execute = self._actor_tasks.get(spec)
        if execute is None:
            self._check_code(spec)
            shipped = Shipped(tool_task(spec, self.max_result), _ray().cloudpickle)
            execute = self._actor_tasks[spec] = pickle.dumps(shipped, pickle.HIGHEST_PROTOCOL)
        return execute

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

    def _dispatch_all(self, dispatches: list[Dispatch]) -> None:
        """Dispatches in a row (of different tasks: their order among themselves is free).
        The tiny ones of one tool to one node, predicted to take less than ``bundle_s``
        (Ray's own cost per task, ~1 ms, would dwarf them), share Ray tasks."""
        groups: dict[tuple[str, ToolSpec], list[Dispatch]] = {}
        for dispatch in dispatches:
            spec = self._tiny(dispatch) if self.bundle_s else None
            if spec is None:
                self._carry_out(dispatch)
            else:
                groups.setdefault((dispatch.allocation.node, spec), []).append(dispatch)
        for group in groups.values():
            self._carry_out(group)

    def _apply_batch(self, instructions: Sequence[Any]) -> None:
        """Tiny tasks of one tool to one node: in bundles, or on a lane when alone."""
        tiny = [i for i in instructions if isinstance(i, Dispatch)]
        if len(tiny) == 1:
            self._dispatch(tiny[0], lane=True)
        else:
            self._dispatch_bundle(tiny)

    def _tiny(self, instruction: Dispatch) -> ToolSpec | None:
        """The task's tool when the task may share a Ray task (None: it runs alone)."""
        if (instruction.run_id, instruction.task_id) in self._solo:
            self._solo.discard((instruction.run_id, instruction.task_id))
            return None
        spec = self.book.task_of(instruction.run_id, instruction.task_id).spec
        if spec.load is not None or spec.resources.gpus or spec.timeout is not None:
            return None
        p90 = self.book.predicted_p90(instruction.run_id, instruction.task_id)
        return spec if p90 is not None and p90 < self.bundle_s else None

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
        run_id, attempt = instruction.run_id, instruction.attempt
        task, args, kwargs = self.book.running(instruction, resolve_refs=False)
        deps: list[str] = []
        if task.has_refs:  # inputs are here; upstream outputs go worker to worker
            args, kwargs = resolve((args, kwargs), None, self.book.inputs_of(run_id))
            deps = task_refs((args, kwargs))
        outputs = self.book.outputs_of(run_id)
        inline = {dep: outputs[dep].data for dep in deps if isinstance(outputs[dep], Inline)}
        deps = [dep for dep in deps if dep not in inline]
        context = TaskContext.of(instruction, self.book.wrappers(run_id, task, attempt))
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
                options = self._options_for(spec, node)
                execute = self._actor_task(spec)
                report_ref, value_ref = self._actors.submit(
                    node, spec.model, options, execute, call, values
                )
            else:
                refs = self._on_lane(spec, node, call, values) if lane else None
                report_ref, value_ref = refs or self._remote_for(spec, node).remote(call, *values)
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

    def _dispatch_bundle(self, group: list[Dispatch]) -> None:
        """Run tiny tasks of one tool in shared Ray tasks, each member with its own call,
        report and (unless it came back inline) output ObjectRef. A group splits across the
        node's CPUs, but not below ``MIN_SPLIT`` members a bundle: a bundle's members end
        together and are dispatched again together, so small bundles would beget smaller."""
        node = group[0].allocation.node
        cpus = max(1, int(self.scheduler.nodes[node].cpus))
        size = min(MAX_BUNDLE, max(MIN_SPLIT, -(-len(group) // cpus)))
        for start in range(0, len(group), size):
            self._send_bundle(group[start : start + size])
        self.bundled += len(group)

    def _send_bundle(self, members: list[Dispatch]) -> None:
        reports = [self._reporter(member) for member in members]
        prepared: list[tuple[Dispatch, Callable[..., None], list[Any]]] = []
        calls, counts, values = [], [], []
        spec: ToolSpec | None = None
        for member, report in zip(members, reports, strict=True):
            try:
                spec, call, upstream = self._prepare(member)
            except Exception as exc:  # a bad selection: this member fails, not the bundle
                report(failed(exc))
                continue
            prepared.append((member, report, upstream))
            calls.append(call)
            counts.append(len(upstream))
            values.extend(upstream)
        if spec is None:
            return
        try:
            refs = self._bundle_for(spec, members[0].allocation.node, len(calls)).remote(
                calls, counts, *values
            )
        except Exception as exc:
            for _, report, _ in prepared:
                report(failed(exc))
            return
        reports_ref = refs[0]
        for member, _, _ in prepared:
            self._tasks[member.run_id, member.task_id, member.attempt] = reports_ref

        def done(future: Future[Any]) -> None:  # all members' outcomes, then one pass
            shared = len(prepared) > 1
            for index, (member, report, _) in enumerate(prepared):
                outcome = member_outcome(future, index, refs[index + 1], member.task_id, shared)
                if isinstance(outcome.exception(), SharedWorkerLostError):
                    self._solo.add((member.run_id, member.task_id))  # its next attempt: alone
                report(outcome, False)
            self._pump()

        reports_ref.future().add_done_callback(done)

    def _on_lane(
        self, spec: ToolSpec, node: str, call: list[Any], values: list[Any]
    ) -> tuple[Any, Any] | None:
        """The task's (report, value) refs from a lane of ``node``; None when none is free
        and warm (see ``ModelActors.lane``)."""
        execute = self._actor_task(spec)
        lanes = max(1, min(MAX_LANES, int(self.scheduler.nodes[node].cpus)))
        options = self._options_for(spec, node)
        return self._actors.lane(node, lanes, options, execute, call, values)

    def _bundle_for(self, spec: ToolSpec, node_id: str, size: int) -> Any:
        key = (spec, node_id, size)
        remote = self._bundles.get(key)
        if remote is None:
            shipped = self._shipped_bundle.get(spec)
            if shipped is None:
                self._check_code(spec)
                shipped = self._shipped_bundle[spec] = _remote_function(
                    tool_bundle(spec, self.max_result), spec
                )
            options = {**self._options_for(spec, node_id), "num_returns": size + 1}
            remote = self._bundles[key] = shipped.options(name=f"{spec.name}*", **options)
        return remote

    def _remote_for(self, spec: ToolSpec, node_id: str) -> Any:
        """The tool's remote function with its request's options, pinned to ``node_id``
        (cached: building Ray options costs more than submitting)."""
        key = (spec, node_id)
        remote = self._remotes.get(key)
        if remote is None:
            options = self._options_for(spec, node_id)
            remote = self._remotes[key] = self._ship(spec).options(name=spec.name, **options)
        return remote

    def _options_for(self, spec: ToolSpec, node_id: str) -> dict[str, Any]:
        key = (spec, node_id)
        options = self._options_cache.get(key)
        if options is None:
            options = self._options_cache[key] = _options(spec.resources, node_id)
        return options

    def _report_lost(
        self, dead: str | None, run_id: int, task_id: str, attempt: int, future: Future[Outcome]
    ) -> None:
        self._refresh_nodes(dead=dead)
        self._post(lambda: self.book.outcome(run_id, task_id, attempt, future))

    def _model_unloaded(self, node: str, model: str) -> None:
        self.post_event(ModelUnloaded(node, model, time.time()))

    def _expire(self, run_id: int, task_id: str, attempt: int) -> None:
        ref = self._tasks.pop((run_id, task_id, attempt), None)
        if ref is None:
            return
        try:
            if not self._actors.abandon(ref):  # actor calls are abandoned, not killed
                _ray().cancel(ref, force=True)
        except Exception:  # already finished or gone: the report decides
            log.debug("maze: could not cancel %s", task_id, exc_info=True)
        self._post(lambda: self.book.expired(run_id, task_id, attempt))

    # -- nodes ----------------------------------------------------------------------------------

    def _watch_nodes(self, every: float) -> None:
        """Poll Ray's nodes; when the cluster's control store stops answering for
        ``CLUSTER_LOST_S``, end every run with an error that says so: Ray itself would keep
        the runs waiting until it terminates this process, a minute later."""
        gcs = _ray().get_runtime_context().gcs_address
        silent_since: float | None = None
        while not self._stop.wait(every):
            if _answers(gcs):
                silent_since = None
                self._refresh_nodes()
                self._actors.evict_idle(self.model_idle_s)
                continue
            silent_since = silent_since or time.monotonic()
            if time.monotonic() - silent_since >= CLUSTER_LOST_S:
                self._cluster_lost(gcs)
                return

    def _cluster_lost(self, gcs: str) -> None:
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

    def _refresh_nodes(self, dead: str | None = None) -> None:
        """Tell the scheduler which nodes left (``dead`` among them: Ray said so, even if
        its control store has not noticed yet) and which joined."""
        with self._nodes_lock:
            try:
                alive = {node.name: node for node in _ray_nodes(_ray(), self.pipeline)}
            except Exception:  # the cluster is going away; runs fail through their tasks
                return
            if dead is not None:
                self._dead.add(dead)
            now = time.time()
            known = set(self.scheduler.nodes)
            for name in known - alive.keys() | (known & self._dead):
                self._dead.add(name)
                self._actors.node_removed(name)
                self.post_event(NodeRemoved(name, now))
            for name in alive.keys() - known - self._dead:
                self.post_event(NodeAdded(alive[name], now))


def _check_same_cluster(ray: Any, address: str) -> None:
    """A process already connected to Ray stays on that cluster: asking for another is an
    error, not a silent reuse of the first."""
    current = ray.get_runtime_context().gcs_address
    port = address.rpartition(":")[2]
    if address != "auto" and port.isdigit() and port != current.rpartition(":")[2]:
        raise MazeError(
            f"this process is already connected to the Ray cluster at {current}, not {address}",
            fix="use one cluster per process (ray.shutdown() first to switch), or pass"
            f" address={current!r}",
            culprit=address,
        )


def _answers(address: str) -> bool:
    """Whether something accepts connections at ``address`` (HOST:PORT)."""
    from maze_core.run.server import connect_error

    host, _, port = address.rpartition(":")
    return port.isdigit() and connect_error(host, int(port)) is None


def _ray_nodes(ray: Any, pipeline: float = 1.0) -> list[Node]:
    """The alive Ray nodes as scheduler nodes (name = Ray node id); ``pipeline`` lets the
    scheduler hand each node that many times its CPUs (see ``RayRuntime``)."""
    nodes = []
    for info in ray.nodes():
        if not info.get("Alive"):
            continue
        resources = info.get("Resources", {})
        custom = {
            key: float(value)
            for key, value in resources.items()
            if key not in _SKIPPED_RESOURCES and not key.startswith(("node:", "accelerator_type"))
        }
        nodes.append(
            Node(
                info["NodeID"],
                cpus=float(resources.get("CPU", 0.0)),
                memory=int(resources.get("memory", 0)),
                gpus=int(resources.get("GPU", 0)),
                custom=custom,
                labels=dict(info.get("Labels", {})),
                cpu_overcommit=pipeline,
            )
        )
    return nodes


def _options(resources: Any, node_id: str) -> dict[str, Any]:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    options: dict[str, Any] = {
        "num_cpus": resources.cpus,
        "num_gpus": resources.gpus,
        "num_returns": 2,
        "max_retries": 0,  # Maze retries, with the scheduler choosing the node again
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False),
    }
    if resources.memory:
        options["memory"] = resources.memory
    if resources.custom:
        options["resources"] = dict(resources.custom)
    return options


def _remote_function(task: Callable[..., Any], spec: ToolSpec) -> Any:
    """``ray.remote(task)``; for GPU tools declared with their GPUs, so that Ray gives each
    call a fresh worker process (its default for GPU tasks: device memory is freed and
    ``CUDA_VISIBLE_DEVICES`` is right for a CUDA context made once per process). Tools that
    should keep state on the device between calls declare ``load=`` (model actors)."""
    gpus = spec.resources.gpus
    return _ray().remote(num_gpus=gpus)(task) if gpus else _ray().remote(task)
