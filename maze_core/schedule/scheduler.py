"""The scheduler: a pure state machine, ``handle(*events) -> list[Instruction]``.

No I/O, no threads, no clock: time arrives inside events, and all state changes happen in
``handle``. The local runtime, the Ray runtime and the simulator drive this same object.

Task states::

    waiting --(all dependencies done)--> ready --(placed on a node)--> running
    running --TaskDone--> done
    running --TaskError, retries left--> ready           (instruction Retry)
    running --TaskError, none left--> failed             (instruction Fail)
    running --NodeRemoved--> ready                       (instruction Retry; not a retry)
    done --NodeRemoved took its output, still needed--> waiting/ready   (instruction Retry)
    waiting/ready/running --upstream failed / cancelled--> cancelled (instruction Cancel)

A failed task cancels its descendants only; independent branches go on, unless the run is
``fail_fast``, which cancels everything not yet final. A run finishes (instruction Finish)
when all its tasks are final: ``done`` if all are done, else ``cancelled`` if the user
cancelled it, else ``failed``.

Order: the ready queues (see :mod:`maze_core.schedule.queues`).

Admission: a run with a task that no node could hold even when idle is rejected at submit
(instruction Reject naming the task), never queued forever.

Lost data. When a node leaves with ``outputs_lost`` (its memory is gone, as in Ray), a done
task whose output lived there and is still needed (a dependent has yet to start, or it is a
sink: its value is a result of the run) runs again, with the lost upstream outputs that
recomputing it needs. A running dependent may have fetched its input already; if it fails
with a retryable error (it found the input gone) the input is recomputed then, and the
task waits for it without spending one of its retries. A task becomes ready only when
every input it needs exists.

Events about an attempt that is no longer current (a late result after a timeout, or of a
cancelled task, or from a removed node) are ignored: resources are given back exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from maze_core.errors import (
    RunCancelledError,
    TaskCancelledError,
)
from maze_core.schedule.admission import Admission
from maze_core.schedule.cluster import Cluster, Node
from maze_core.schedule.events import (
    Cancel,
    CancelRun,
    CancelTask,
    Dispatch,
    Event,
    Fail,
    Finish,
    Instruction,
    ModelUnloaded,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    PredictionUpdated,
    Reject,
    Retry,
    RunStatus,
    SubmitRun,
    TaskDone,
    TaskError,
)
from maze_core.schedule.policies import Policy, make_policy
from maze_core.schedule.queues import ReadyQueues
from maze_core.schedule.recovery import needed_now, node_left, output_lost, with_lost_inputs
from maze_core.schedule.state import (
    CANCELLED,
    DEFAULT_SECONDS,
    DONE,
    FAILED,
    FINAL,
    READY,
    RUNNING,
    WAITING,
    RunState,
    TaskState,
    TaskStatus,
)

__all__ = ["DEFAULT_SECONDS", "RunState", "Scheduler", "TaskState"]


class Scheduler:
    """See the module docstring for the rules; ``policy`` picks the order and placement."""

    def __init__(
        self,
        nodes: Iterable[Node] = (),
        policy: str | Policy = "daps",
        *,
        default_seconds: Mapping[str, float] = DEFAULT_SECONDS,
        model_load_s: float = 30.0,
    ) -> None:
        self.cluster = Cluster(nodes, model_load_s)
        self.policy = make_policy(policy)
        self.default_seconds = dict(default_seconds)
        self._runs: dict[int, RunState] = {}
        self.queues = ReadyQueues(self.policy)
        self.admission = Admission(self.cluster, self.policy)
        self._handlers: dict[type[Any], Callable[[Any, list[Instruction]], None]] = {
            SubmitRun: self._submit,
            TaskDone: self._done,
            TaskError: self._error,
            CancelRun: self._cancel_run,
            CancelTask: self._cancel_task,
            NodeAdded: self._node_added,
            NodeRemoved: self._node_removed,
            NodeChanged: self._node_changed,
            ModelUnloaded: self._model_unloaded,
            PredictionUpdated: self._prediction,
        }

    @property
    def nodes(self) -> dict[str, Node]:
        return self.cluster.nodes

    def handle(self, *events: Event) -> list[Instruction]:
        """Apply ``events`` in order, then dispatch what fits; return the instructions."""
        out: list[Instruction] = []
        cluster = self.cluster
        for event in events:
            cluster.now = max(cluster.now, event.time)
            self._handlers[type(event)](event, out)
        self.queues.dispatch(self.cluster, lambda ts, node: self._start(ts, node, out))
        return out

    def task_state(self, run_id: int, task_id: str) -> TaskStatus | None:
        """The state of a task of a live run (None once the run finished)."""
        run = self._runs.get(run_id)
        return None if run is None else run.tasks[task_id].state

    @property
    def active_runs(self) -> int:
        return len(self._runs)

    @property
    def ready_tasks(self) -> int:
        """Tasks queued for resources (stale heap entries excluded)."""
        return sum(self.ready_by_kind().values())

    def ready_by_kind(self) -> dict[str, int]:
        """Tasks queued for resources per kind (cpu, gpu, io), for status displays."""
        return self.queues.ready_by_kind()

    def check_invariants(self) -> None:
        """Raise AssertionError if the books do not balance (for tests and chaos checks)."""
        held: dict[str, float] = dict.fromkeys(self.nodes, 0.0)
        for run in self._runs.values():
            assert run.unfinished == sum(t.state not in FINAL for t in run.tasks.values())
            assert run.running == sum(t.state == RUNNING for t in run.tasks.values())
            for ts in run.tasks.values():
                assert (ts.state == RUNNING) == (ts.allocation is not None), ts.task.id
                if ts.allocation is not None:
                    held[ts.allocation.node] += ts.allocation.resources.cpus
        for name, node in self.nodes.items():
            assert abs(node.admitted_cpus - node.free_cpus - held[name]) < 1e-6, name

    # -- event handlers --------------------------------------------------------------------

    def _node_added(self, event: NodeAdded, out: list[Instruction]) -> None:
        self.cluster.add(event.node)
        self.admission.forget()

    def _node_removed(self, event: NodeRemoved, out: list[Instruction]) -> None:
        if self.cluster.remove(event.name) is None:
            return
        self.admission.forget()
        for run in list(self._runs.values()):
            for ts in run.tasks.values():
                if ts.allocation is not None and ts.allocation.node == event.name:
                    self._requeue_lost(ts, event, out)
            needed: list[TaskState] = []
            for ts in run.tasks.values():
                if ts.output_node == event.name:
                    ts.output_node = None  # its output is gone with the node's memory
                    if event.outputs_lost and ts.state == DONE:
                        ts.output_lost = True
                        if needed_now(ts):
                            needed.append(ts)
            if needed:
                self._recompute(run, needed, event.time, out)

    def _requeue_lost(self, ts: TaskState, event: NodeRemoved, out: list[Instruction]) -> None:
        error = node_left(ts.task.id, event.name)
        ts.allocation = None  # the node is gone: nothing to give back
        ts.run.running -= 1
        ts.attempt += 1
        self._ready_or_wait(ts, event.time)
        out.append(Retry(ts.run.run_id, ts.task.id, ts.attempt - 1, error, _back(ts)))

    def _recompute(
        self, run: RunState, needed: list[TaskState], now: float, out: list[Instruction]
    ) -> None:
        """Run again the done tasks in ``needed`` whose outputs were lost, and the lost
        upstream outputs those need in turn (see the module docstring)."""
        graph, tasks = run.graph, run.tasks
        redo = with_lost_inputs(run, needed)
        for ts in redo.values():
            ts.state = WAITING
            ts.output_lost = False
            ts.attempt += 1
            run.unfinished += 1
            run.remaining_seconds += ts.predicted
            self.policy.on_reopened(ts)
            lost = output_lost(ts.task.id)
            out.append(Retry(run.run_id, ts.task.id, ts.attempt - 1, lost, WAITING))
        for ts in redo.values():
            ts.waiting = sum(tasks[dep].state != DONE for dep in ts.task.deps)
            for dependent_id in graph.dependents[ts.task.id]:
                dependent = tasks[dependent_id]
                if dependent_id in redo or dependent.state in FINAL:
                    continue
                dependent.waiting += 1
                if dependent.state == READY:
                    self._unready(dependent)
        for ts in redo.values():
            if ts.waiting == 0:
                self._make_ready(ts, now)

    def _node_changed(self, event: NodeChanged, out: list[Instruction]) -> None:
        node = self.nodes.get(event.name)
        if node is not None:
            node.resize(event.cpus, event.memory, event.custom)
            self.admission.forget()

    def _model_unloaded(self, event: ModelUnloaded, out: list[Instruction]) -> None:
        node = self.nodes.get(event.node)
        if node is not None:
            node.unload_model(event.model)

    def _prediction(self, event: PredictionUpdated, out: list[Instruction]) -> None:
        run = self._runs.get(event.run_id)
        ts = run.tasks.get(event.task_id) if run is not None else None
        if run is None or ts is None or ts.state in FINAL:
            return
        run.remaining_seconds += event.seconds - ts.predicted
        ts.predicted = event.seconds
        run.expected_seconds = run.update_ranks()
        if ts.state == READY:
            self._make_ready(ts, ts.ready_at)  # re-key; the old heap entry turns stale

    def _submit(self, event: SubmitRun, out: list[Instruction]) -> None:
        error = self.admission.check(event.graph)
        if error is not None:
            out.append(Reject(event.run_id, error))
            return
        run = RunState(event, self.default_seconds)
        self._runs[event.run_id] = run
        self.policy.on_submit(run, self.cluster)
        for ts in run.tasks.values():
            if ts.waiting == 0:
                self._make_ready(ts, event.time)

    def _done(self, event: TaskDone, out: list[Instruction]) -> None:
        ts = self._current(event.run_id, event.task_id, event.attempt)
        if ts is None:
            return
        allocation = ts.allocation
        self._release(ts)
        ts.output_node = allocation.node if allocation is not None and not event.held else None
        ts.output_size = event.output_size
        self._final(ts, DONE)
        run = ts.run
        for dependent_id in run.graph.dependents[ts.task.id]:
            dependent = run.tasks[dependent_id]
            dependent.waiting -= 1
            if dependent.waiting == 0 and dependent.state == WAITING:
                self._make_ready(dependent, event.time)
        self._finish_if_done(run, out)

    def _error(self, event: TaskError, out: list[Instruction]) -> None:
        ts = self._current(event.run_id, event.task_id, event.attempt)
        if ts is None:
            return
        self._release(ts)
        lost = [ts.run.tasks[dep] for dep in ts.task.deps if ts.run.tasks[dep].output_lost]
        if lost and event.retryable:  # it found an input gone: not the task's fault
            self._recompute(ts.run, lost, event.time, out)
        free = ts.waiting > 0 or not event.charged  # an input to recompute, or not its fault
        if event.retryable and (free or ts.failures < ts.task.spec.retries):
            ts.failures += not free
            ts.attempt += 1
            self._ready_or_wait(ts, event.time)
            out.append(Retry(event.run_id, event.task_id, event.attempt, event.error, _back(ts)))
            return
        self._final(ts, FAILED)
        run = ts.run
        run.failed = True
        out.append(Fail(event.run_id, event.task_id, event.error))
        if run.fail_fast:
            self._cancel_all(run, _fail_fast_error(ts.task.id), out)
        else:
            self._cancel_descendants(ts, out)
        self._finish_if_done(run, out)

    def _cancel_run(self, event: CancelRun, out: list[Instruction]) -> None:
        run = self._runs.get(event.run_id)
        if run is None:
            return
        run.cancelled = True
        error = RunCancelledError(
            f"run {event.run_id} of workflow {run.graph.name!r} was cancelled: {event.reason}",
            fix="submit the workflow again to rerun it",
            culprit=run.graph.name,
        )
        self._cancel_all(run, error, out)
        self._finish_if_done(run, out)

    def _cancel_task(self, event: CancelTask, out: list[Instruction]) -> None:
        run = self._runs.get(event.run_id)
        ts = run.tasks.get(event.task_id) if run is not None else None
        if run is None or ts is None or ts.state in FINAL:
            return
        run.cancelled = True
        error = TaskCancelledError(
            f"task {event.task_id!r} was cancelled: {event.reason}",
            fix="submit the workflow again to run it",
            culprit=event.task_id,
        )
        self._cancel(ts, error, out)
        self._cancel_descendants(ts, out)
        self._finish_if_done(run, out)

    # -- helpers ----------------------------------------------------------------------------

    def _current(self, run_id: int, task_id: str, attempt: int) -> TaskState | None:
        """The task if the event is about its running attempt, else None (a stale event)."""
        run = self._runs.get(run_id)
        if run is None:
            return None
        ts = run.tasks.get(task_id)
        if ts is None or ts.state != RUNNING or ts.attempt != attempt:
            return None
        return ts

    def _make_ready(self, ts: TaskState, now: float) -> None:
        model = ts.task.spec.model
        if model is not None and ts.state != READY:
            demand = self.cluster.ready_models
            demand[model] = demand.get(model, 0) + 1
        ts.state = READY
        self.queues.push(ts, now)

    def _ready_or_wait(self, ts: TaskState, now: float) -> None:
        """Queue a task going back from running, unless an input must be recomputed first."""
        if ts.waiting == 0:
            self._make_ready(ts, now)
        else:
            ts.state = WAITING

    def _unready(self, ts: TaskState) -> None:
        """Take a ready task out of its queue (its heap entry turns stale) to wait again."""
        model = ts.task.spec.model
        if model is not None:
            self.cluster.ready_models[model] -= 1
        ts.state = WAITING

    def _final(self, ts: TaskState, state: TaskStatus) -> None:
        ts.state = state
        run = ts.run
        run.unfinished -= 1
        run.remaining_seconds -= ts.predicted
        self.policy.on_final(ts)

    def _release(self, ts: TaskState) -> None:
        allocation = ts.allocation
        if allocation is not None:
            node = self.nodes.get(allocation.node)
            if node is not None:
                node.release(allocation)
                self.cluster.running[node.name].discard(ts)
            ts.allocation = None
            ts.run.running -= 1

    def _cancel_all(self, run: RunState, error: BaseException, out: list[Instruction]) -> None:
        for ts in run.tasks.values():
            if ts.state not in FINAL:
                self._cancel(ts, error, out)

    def _cancel_descendants(self, origin: TaskState, out: list[Instruction]) -> None:
        run = origin.run
        stack = list(run.graph.dependents[origin.task.id])
        while stack:
            ts = run.tasks[stack.pop()]
            if ts.state in FINAL:
                continue
            verb = "failed" if origin.state == FAILED else "was cancelled"
            error = TaskCancelledError(
                f"task {ts.task.id!r} did not run: upstream task {origin.task.id!r} {verb}",
                fix=f"fix the failure of {origin.task.id!r}; independent branches still ran",
                culprit=origin.task.id,
            )
            self._cancel(ts, error, out)
            stack.extend(run.graph.dependents[ts.task.id])

    def _cancel(self, ts: TaskState, error: BaseException, out: list[Instruction]) -> None:
        was_running = ts.state == RUNNING
        if ts.state == READY:
            self._unready(ts)
        self._release(ts)
        self._final(ts, CANCELLED)
        out.append(Cancel(ts.run.run_id, ts.task.id, error, was_running))

    def _finish_if_done(self, run: RunState, out: list[Instruction]) -> None:
        if run.unfinished:
            return
        status: RunStatus = "cancelled" if run.cancelled else "failed" if run.failed else "done"
        out.append(Finish(run.run_id, status))
        del self._runs[run.run_id]
        self.policy.on_finish(run)

    def _start(self, ts: TaskState, node: Node, out: list[Instruction]) -> None:
        model = ts.task.spec.model
        cluster = self.cluster
        keeps = self.policy.keeps_models
        model_load = model is not None and (not keeps or model not in node.models)
        if model is not None:
            cluster.ready_models[model] -= 1
        ts.allocation = node.acquire(ts.task.spec.resources, model if keeps else None)
        ts.started_at = cluster.now
        ts.expected_end = cluster.now + ts.predicted + (cluster.model_load_s if model_load else 0)
        cluster.running[node.name].add(ts)
        ts.state = RUNNING
        ts.run.running += 1
        out.append(
            Dispatch(ts.run.run_id, ts.task.id, ts.attempt, ts.allocation, ts.ready_at, model_load)
        )


def _back(ts: TaskState) -> Literal["waiting", "ready"]:
    """The state a task that runs again went back to."""
    return READY if ts.state == READY else WAITING


def _fail_fast_error(task_id: str) -> RunCancelledError:
    return RunCancelledError(
        f"the run was cancelled because task {task_id!r} failed and fail_fast=True",
        fix=f"fix the failure of {task_id!r}, or run with fail_fast=False to keep other branches",
        culprit=task_id,
    )
