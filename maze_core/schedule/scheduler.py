"""The scheduler: a pure state machine, ``handle(*events) -> list[Instruction]``.

No I/O, no threads, no clock: time arrives inside events, and all state changes happen in
``handle``. The local runtime, the Ray runtime and the simulator drive this same object.

Task states::

    waiting --(all dependencies done)--> ready --(resources free)--> running
    running --TaskDone--> done
    running --TaskError, attempts left--> ready          (instruction Retry)
    running --TaskError, none left--> failed             (instruction Fail)
    waiting/ready/running --upstream failed / run cancelled--> cancelled (instruction Cancel)

A failed task cancels its descendants only; independent branches go on, unless the run is
``fail_fast``, which cancels everything not yet final. A run finishes (instruction Finish)
when all its tasks are final: ``done`` if all are done, else ``cancelled`` if the user
cancelled it, else ``failed``.

Order (policy ``fifo``): ready tasks are served in the order they became ready, across all
runs; the priority tuple is ``(seq,)``, where ``seq`` is a global counter taken when a task
becomes ready (a retried task takes a new one), so ties cannot happen. Ready tasks are
queued per distinct resource request; each step dispatches the queue head with the lowest
``seq`` among the heads that fit on some node (first fit over nodes in the order they
joined). A head that does not fit does not block other requests (backfill), which keeps one
decision at O(request shapes x nodes) whatever the queue length.

Admission: a run with a task that no node could hold even when idle is rejected at submit
(instruction Reject naming the task), never queued forever.

Events about an attempt that is no longer current (a late result after a timeout, or of a
cancelled task) are ignored: resources are given back exactly once.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from maze_core.errors import InfeasibleResourcesError, RunCancelledError, TaskCancelledError
from maze_core.graph import Task, TaskGraph
from maze_core.schedule.cluster import Allocation, Node
from maze_core.schedule.events import (
    Cancel,
    CancelRun,
    Dispatch,
    Event,
    Fail,
    Finish,
    Instruction,
    NodeAdded,
    Reject,
    Retry,
    RunStatus,
    SubmitRun,
    TaskDone,
    TaskError,
)
from maze_core.tools import Resources

__all__ = ["Scheduler", "TaskState"]

WAITING, READY, RUNNING, DONE, FAILED, CANCELLED = (
    "waiting",
    "ready",
    "running",
    "done",
    "failed",
    "cancelled",
)
FINAL = frozenset({DONE, FAILED, CANCELLED})


class TaskState:
    """The scheduler's view of one task of one run."""

    __slots__ = ("allocation", "attempt", "ready_at", "run", "seq", "state", "task", "waiting")

    def __init__(self, run: RunState, task: Task) -> None:
        self.run = run
        self.task = task
        self.state = WAITING
        self.waiting = len(task.deps)
        self.attempt = 0
        self.seq = 0
        self.ready_at = 0.0
        self.allocation: Allocation | None = None


class RunState:
    """The scheduler's view of one run."""

    __slots__ = ("cancelled", "fail_fast", "failed", "graph", "run_id", "tasks", "unfinished")

    def __init__(self, run_id: int, graph: TaskGraph, fail_fast: bool) -> None:
        self.run_id = run_id
        self.graph = graph
        self.fail_fast = fail_fast
        self.failed = False
        self.cancelled = False
        self.tasks = {task_id: TaskState(self, task) for task_id, task in graph.tasks.items()}
        self.unfinished = len(self.tasks)


class Scheduler:
    """FIFO scheduler with resource accounting; see the module docstring for the rules."""

    def __init__(self, nodes: Iterable[Node] = ()) -> None:
        self.nodes: dict[str, Node] = {}
        self._runs: dict[int, RunState] = {}
        self._queues: dict[int, tuple[Resources, deque[TaskState]]] = {}
        self._seq = itertools.count()
        self._handlers: dict[type[Any], Callable[[Any, list[Instruction]], None]] = {
            SubmitRun: self._submit,
            TaskDone: self._done,
            TaskError: self._error,
            CancelRun: self._cancel_run,
            NodeAdded: self._node_added,
        }
        for node in nodes:
            self.nodes[node.name] = node

    def handle(self, *events: Event) -> list[Instruction]:
        """Apply ``events`` in order, then dispatch what fits; return the instructions."""
        out: list[Instruction] = []
        for event in events:
            self._handlers[type(event)](event, out)
        self._dispatch(out)
        return out

    def task_state(self, run_id: int, task_id: str) -> str | None:
        """The state of a task of a live run (None once the run finished)."""
        run = self._runs.get(run_id)
        return None if run is None else run.tasks[task_id].state

    @property
    def active_runs(self) -> int:
        return len(self._runs)

    def check_invariants(self) -> None:
        """Raise AssertionError if the books do not balance (for tests and chaos checks)."""
        held: dict[str, float] = dict.fromkeys(self.nodes, 0.0)
        for run in self._runs.values():
            assert run.unfinished == sum(t.state not in FINAL for t in run.tasks.values())
            for ts in run.tasks.values():
                assert (ts.state == RUNNING) == (ts.allocation is not None), ts.task.id
                if ts.allocation is not None:
                    held[ts.allocation.node] += ts.allocation.resources.cpus
        for name, node in self.nodes.items():
            assert abs(node.cpus - node.free_cpus - held[name]) < 1e-6, name

    # -- event handlers --------------------------------------------------------------------

    def _node_added(self, event: NodeAdded, out: list[Instruction]) -> None:
        self.nodes[event.node.name] = event.node

    def _submit(self, event: SubmitRun, out: list[Instruction]) -> None:
        error = self._infeasible(event.graph)
        if error is not None:
            out.append(Reject(event.run_id, error))
            return
        run = RunState(event.run_id, event.graph, event.fail_fast)
        self._runs[event.run_id] = run
        for ts in run.tasks.values():
            if ts.waiting == 0:
                self._make_ready(ts, event.time)

    def _done(self, event: TaskDone, out: list[Instruction]) -> None:
        ts = self._current(event.run_id, event.task_id, event.attempt)
        if ts is None:
            return
        self._release(ts)
        ts.state = DONE
        run = ts.run
        run.unfinished -= 1
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
        if event.retryable and ts.attempt < ts.task.spec.retries:
            ts.attempt += 1
            self._make_ready(ts, event.time)
            out.append(Retry(event.run_id, event.task_id, event.attempt, event.error))
            return
        ts.state = FAILED
        run = ts.run
        run.failed = True
        run.unfinished -= 1
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
        ts.state = READY
        ts.seq = next(self._seq)
        ts.ready_at = now
        request = ts.task.spec.resources
        entry = self._queues.get(id(request))
        if entry is None:
            entry = self._queues[id(request)] = (request, deque())
        entry[1].append(ts)

    def _release(self, ts: TaskState) -> None:
        allocation = ts.allocation
        if allocation is not None:
            node = self.nodes.get(allocation.node)
            if node is not None:
                node.release(allocation)
            ts.allocation = None

    def _cancel_all(self, run: RunState, error: BaseException, out: list[Instruction]) -> None:
        for ts in run.tasks.values():
            if ts.state not in FINAL:
                self._cancel(ts, error, out)

    def _cancel_descendants(self, failed: TaskState, out: list[Instruction]) -> None:
        run = failed.run
        stack = list(run.graph.dependents[failed.task.id])
        while stack:
            ts = run.tasks[stack.pop()]
            if ts.state in FINAL:
                continue
            error = TaskCancelledError(
                f"task {ts.task.id!r} did not run: upstream task {failed.task.id!r} failed",
                fix=f"fix the failure of {failed.task.id!r}; independent branches still ran",
                culprit=failed.task.id,
            )
            self._cancel(ts, error, out)
            stack.extend(run.graph.dependents[ts.task.id])

    def _cancel(self, ts: TaskState, error: BaseException, out: list[Instruction]) -> None:
        was_running = ts.state == RUNNING
        self._release(ts)
        ts.state = CANCELLED
        ts.run.unfinished -= 1
        out.append(Cancel(ts.run.run_id, ts.task.id, error, was_running))

    def _finish_if_done(self, run: RunState, out: list[Instruction]) -> None:
        if run.unfinished:
            return
        status: RunStatus = "cancelled" if run.cancelled else "failed" if run.failed else "done"
        out.append(Finish(run.run_id, status))
        del self._runs[run.run_id]

    def _infeasible(self, graph: TaskGraph) -> InfeasibleResourcesError | None:
        for task in graph.tasks.values():
            reasons = [node.could_ever_fit(task.spec.resources) for node in self.nodes.values()]
            if all(reasons):  # no node at all counts as infeasible too
                why = "; ".join(r for r in reasons if r) or "there are no nodes"
                return InfeasibleResourcesError(
                    f"task {task.id!r} (tool {task.spec.name!r}) can never start:"
                    f" it asks for {why}",
                    fix="lower the tool's Resources, or run on a runtime with a node that big",
                    culprit=task.id,
                )
        return None

    def _dispatch(self, out: list[Instruction]) -> None:
        """Start ready tasks, lowest ``seq`` first among queue heads that fit somewhere."""
        while True:
            best: tuple[deque[TaskState], Node] | None = None
            best_seq = -1
            for key, (request, queue) in list(self._queues.items()):
                while queue and queue[0].state != READY:
                    queue.popleft()  # cancelled while queued
                if not queue:
                    del self._queues[key]
                    continue
                if best is not None and queue[0].seq > best_seq:
                    continue
                node = self._first_fit(request)
                if node is not None:
                    best, best_seq = (queue, node), queue[0].seq
            if best is None:
                return
            queue, node = best
            ts = queue.popleft()
            ts.allocation = node.acquire(ts.task.spec.resources)
            ts.state = RUNNING
            out.append(Dispatch(ts.run.run_id, ts.task.id, ts.attempt, ts.allocation, ts.ready_at))

    def _first_fit(self, request: Resources) -> Node | None:
        for node in self.nodes.values():
            if node.fits(request):
                return node
        return None


def _fail_fast_error(task_id: str) -> RunCancelledError:
    return RunCancelledError(
        f"the run was cancelled because task {task_id!r} failed and fail_fast=True",
        fix=f"fix the failure of {task_id!r}, or run with fail_fast=False to keep other branches",
        culprit=task_id,
    )
