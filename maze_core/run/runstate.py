"""The runtime's books: per run, its task records, outputs and the attempt now running.

The scheduler decides; the books record. Every method is called with the runtime's lock
held, except :meth:`RunBook.open` (before the run is known to anyone else) and the event
factories :meth:`outcome` / :meth:`expired`, which the loop calls under the lock too.

An attempt enters the books twice: when it starts (:meth:`RunBook.running`) and when it
ends (:meth:`RunBook.outcome`). When tasks are predicted: :mod:`maze_core.run.estimates`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, NamedTuple

from maze_core.errors import SharedWorkerLostError, TaskFailedError, TaskTimeoutError
from maze_core.graph import Task, TaskGraph, resolve
from maze_core.plugins import PluginManager
from maze_core.predict.features import clean
from maze_core.run.estimates import Estimates
from maze_core.run.failures import infrastructure_error, task_error
from maze_core.run.here import Here
from maze_core.run.result import RunResult, TaskRecord
from maze_core.run.worker.call import Outcome
from maze_core.run.worker.context import TaskContext
from maze_core.schedule.events import Dispatch, Event, TaskDone, TaskError
from maze_core.schedule.state import (
    CANCELLED,
    DONE,
    FAILED,
    READY,
    RUNNING,
    WAITING,
    TaskStatus,
)

__all__ = ["Attempt", "RunBook", "RunRecord"]

log = logging.getLogger("maze")


class RunRecord:
    """Everything the runtime keeps about one run while it is in flight."""

    __slots__ = (
        "exported",
        "features",
        "future",
        "graph",
        "here",
        "inputs",
        "outputs",
        "p90",
        "records",
        "rejection",
        "run_id",
        "running",
        "slots",
        "submitted",
    )

    def __init__(
        self,
        run_id: int,
        graph: TaskGraph,
        inputs: Mapping[str, Any],
        now: float,
        here: Here | None = None,
    ) -> None:
        self.run_id = run_id
        self.here = here  # the caller that runs its tasks (None: workers do)
        self.graph = graph
        self.inputs = inputs
        self.submitted = now
        self.future: Future[RunResult] = Future()
        self.records = {
            task_id: TaskRecord(
                task_id, task.spec.name, task.spec.kind, submitted=now, deps=task.deps
            )
            for task_id, task in graph.tasks.items()
        }
        self.outputs: dict[str, Any] = {}
        self.p90: dict[str, float] = {}  # the predictor's 90th percentile, where it gave one
        self.features: dict[str, dict[str, float]] = {}
        self.exported: dict[str, dict[str, float]] = {}
        self.slots: dict[str, tuple[str, str]] = {}  # task -> (node, kind or model) it occupies
        self.running: dict[str, int] = {}
        self.rejection: BaseException | None = None

    def predictions(self) -> dict[str, float]:
        """Predicted seconds per task, for the scheduler (tasks without one are left out)."""
        return {
            task_id: record.predicted_seconds
            for task_id, record in self.records.items()
            if record.predicted_seconds is not None
        }


class Attempt(NamedTuple):
    """What starting an attempt takes: the task, its arguments, its context in the worker
    and the 90th percentile of its predicted duration (None: no prediction)."""

    task: Task
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    context: TaskContext
    p90: float | None


class RunBook:
    """The runs in flight, and the hooks that watch them. With ``fetch`` (Ray), outputs
    are handles to remote values: ``fetch`` turns one into its value for a result."""

    def __init__(self, plugins: PluginManager, fetch: Callable[[Any], Any] | None = None) -> None:
        self._plugins = plugins
        self._fetch = fetch
        self._estimates = Estimates(plugins, values_here=fetch is None)
        self._runs: dict[int, RunRecord] = {}
        self._inflight: dict[tuple[str, str], int] = {}

    def active(self) -> list[int]:
        return list(self._runs)

    def open(
        self,
        run_id: int,
        graph: TaskGraph,
        inputs: Mapping[str, Any],
        now: float,
        here: Here | None = None,
    ) -> RunRecord:
        run = RunRecord(run_id, graph, inputs, now, here)
        for task in graph.tasks.values():
            self._estimates.at_open(run, task)
        self._runs[run_id] = run
        self._call("maze_run_started", run_id=run_id, graph=graph, inputs=inputs)
        if self._plugins.caller("maze_task_transition") is not None:
            for task_id in graph.tasks:
                self._transition(run, task_id, WAITING, now)
        return run

    # -- instructions ---------------------------------------------------------------------

    def running(
        self, dispatch: Dispatch, *, resolve_refs: bool = True, node: str | None = None
    ) -> Attempt:
        """Record that an attempt starts; return what starting it takes, its arguments
        resolved (unless ``resolve_refs`` is False: a remote worker resolves them next to
        the data). ``node``: where it runs, when not where the scheduler placed it."""
        run = self._runs[dispatch.run_id]
        task = run.graph.tasks[dispatch.task_id]
        record = run.records[task.id]
        node = node or dispatch.allocation.node
        record.attempts = dispatch.attempt + 1
        record.queued = dispatch.ready_at
        record.node = node
        run.running[task.id] = dispatch.attempt
        run.features[task.id]["inflight_same"] = float(self._occupy(run, task, node))
        if record.status != READY:  # a retry went back to ready when it failed
            self._transition(run, task.id, READY, dispatch.ready_at)
        self._transition(run, task.id, RUNNING, time.time())
        args, kwargs = task.args, task.kwargs
        if task.has_refs and resolve_refs:
            try:
                args, kwargs = resolve((args, kwargs), run.outputs, run.inputs)
            except (KeyError, IndexError, TypeError) as exc:
                raise TaskFailedError(
                    f"task {task.id!r}: selecting part of an input failed: {exc!r}",
                    fix="check the keys/indexes used as ref[...] against what the upstream returns",
                    culprit=task.id,
                ) from None
        wrappers = self._wrappers(run.run_id, task, dispatch.attempt)
        context = TaskContext.of(dispatch, wrappers)
        return Attempt(task, args, kwargs, context, run.p90.get(task.id))

    def _wrappers(self, run_id: int, task: Task, attempt: int) -> tuple[tuple[str, Any], ...]:
        """What plugins want this attempt's call wrapped in (the ``maze_task_wrap`` hook)."""
        call = self._plugins.caller("maze_task_wrap")
        if call is None:
            return ()
        try:
            found = call(run_id=run_id, task=task, attempt=attempt)
        except Exception:
            log.exception("maze: hook maze_task_wrap raised")
            return ()
        return tuple((str(path), argument) for path, argument in found)

    def _occupy(self, run: RunRecord, task: Task, node: str) -> int:
        """Count the task in (node, its model or kind); return how many were there before:
        GPU tasks sharing a model server slow each other down, so the predictor learns it."""
        key = (node, task.spec.model or task.spec.kind)
        before = self._inflight.get(key, 0)
        self._inflight[key] = before + 1
        run.slots[task.id] = key
        return before

    def _leave(self, run: RunRecord, task_id: str) -> None:
        run.running.pop(task_id, None)
        key = run.slots.pop(task_id, None)
        if key is not None:
            left = self._inflight[key] - 1
            if left:
                self._inflight[key] = left
            else:
                del self._inflight[key]

    def retrying(self, run_id: int, task_id: str, error: BaseException, state: TaskStatus) -> None:
        """An attempt failed (or a done task's output was lost) and the task went back to
        ``state`` to run again."""
        self._final_or_retry(run_id, task_id, state, error)

    def failed(self, run_id: int, task_id: str, error: BaseException) -> None:
        self._final_or_retry(run_id, task_id, FAILED, error)

    def cancelled(self, run_id: int, task_id: str, error: BaseException) -> None:
        self._final_or_retry(run_id, task_id, CANCELLED, error)

    def close(self, run_id: int, status: str) -> None:
        run = self._runs.pop(run_id)
        result = RunResult(
            run_id,
            run.graph.name,
            status,
            run.records,
            run.outputs,
            run.submitted,
            time.time(),
            self._fetch,
        )
        self._call("maze_run_finished", result=result)
        if not run.future.cancelled():  # its awaiting task was cancelled: no one waits
            run.future.set_result(result)

    def reject(self, run_id: int, error: BaseException) -> None:
        run = self._runs.pop(run_id)
        run.rejection = error
        if not run.future.cancelled():
            run.future.set_exception(error)

    # -- events from workers -----------------------------------------------------------------

    def here_of(self, run_id: int) -> Here | None:
        """The caller that runs the run's tasks itself (None: workers do)."""
        return self._runs[run_id].here

    def task_of(self, run_id: int, task_id: str) -> Task:
        return self._runs[run_id].graph.tasks[task_id]

    def predicted_p90(self, run_id: int, task_id: str) -> float | None:
        """The 90th percentile of the task's predicted duration (None: no prediction)."""
        return self._runs[run_id].p90.get(task_id)

    def inputs_of(self, run_id: int) -> Mapping[str, Any]:
        """The workflow inputs of a live run."""
        return self._runs[run_id].inputs

    def outputs_of(self, run_id: int) -> dict[str, Any]:
        """The outputs (or handles to them) of a live run's finished tasks."""
        return self._runs[run_id].outputs

    def outcome(
        self, run_id: int, task_id: str, attempt: int, future: Future[Outcome]
    ) -> list[Event]:
        """The scheduler events for a finished attempt (none when it was abandoned): a
        TaskDone or a TaskError, after the refined predictions of the tasks it readies."""
        run = self._current(run_id, task_id, attempt)
        if run is None:
            return []
        now = time.time()
        task = run.graph.tasks[task_id]
        try:
            outcome = future.result()
        except BaseException as infrastructure:  # the executor failed, not the tool
            error, retryable = infrastructure_error(task, infrastructure)
            charged = not isinstance(infrastructure, SharedWorkerLostError)
            return [TaskError(run_id, task_id, attempt, now, error, retryable, charged)]
        record = run.records[task_id]
        record.started, record.finished = outcome.started, outcome.finished
        record.cpu_seconds = outcome.cpu
        if outcome.exported:
            run.exported[task_id] = clean(outcome.exported)
        if not outcome.ok:
            return [TaskError(run_id, task_id, attempt, now, task_error(task, outcome))]
        run.outputs[task_id] = outcome.value
        self._call(
            "maze_task_observed",
            task=task,
            features=run.features[task_id],
            seconds=outcome.finished - outcome.started,
            node=record.node,
            time=outcome.finished,
        )
        self._transition(run, task_id, DONE, outcome.finished)
        events: list[Event] = self._estimates.after(run, task_id, now)
        events.append(TaskDone(run_id, task_id, attempt, now, outcome.output_size, outcome.held))
        return events

    def expired(self, run_id: int, task_id: str, attempt: int) -> list[Event]:
        """The scheduler event for an attempt that ran out of time (none if it ended)."""
        run = self._current(run_id, task_id, attempt)
        if run is None:
            return []
        spec = run.graph.tasks[task_id].spec
        error = TaskTimeoutError(
            f"task {task_id!r} (tool {spec.name!r}) ran longer than its timeout of"
            f" {spec.timeout:g}s and was abandoned",
            fix="raise @tool(timeout=...) or make the task faster (a thread cannot be killed:"
            " an abandoned attempt may still finish in the background)",
            culprit=task_id,
        )
        return [TaskError(run_id, task_id, attempt, time.time(), error)]

    # -- helpers ---------------------------------------------------------------------------

    def _current(self, run_id: int, task_id: str, attempt: int) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None or run.running.get(task_id) != attempt:
            return None
        self._leave(run, task_id)
        return run

    def _final_or_retry(
        self, run_id: int, task_id: str, status: TaskStatus, error: BaseException
    ) -> None:
        run = self._runs[run_id]
        self._leave(run, task_id)
        run.records[task_id].error = error
        self._transition(run, task_id, status, time.time(), error)

    def _transition(
        self,
        run: RunRecord,
        task_id: str,
        new: TaskStatus,
        now: float,
        error: BaseException | None = None,
    ) -> None:
        record = run.records[task_id]
        old, record.status = record.status, new
        if self._plugins.caller("maze_task_transition") is not None:
            self._call(
                "maze_task_transition",
                run_id=run.run_id,
                task=run.graph.tasks[task_id],
                old="" if new == WAITING and not record.attempts else old,
                new=new,
                time=now,
                attempt=record.attempts - 1 if record.attempts else 0,
                node=record.node,
                error=error,
            )

    def _call(self, name: str, **kwargs: Any) -> None:
        call = self._plugins.caller(name)
        if call is None:
            return
        try:
            call(**kwargs)
        except Exception:  # an observer's bug must not lose a run
            log.exception("maze: hook %s raised", name)
