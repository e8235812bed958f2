"""What a run gives back: outputs, and per task its status, timings, node and error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maze_core.errors import MazeError, TaskCancelledError, ValidationError
from maze_core.graph import TaskRef, _select
from maze_core.schedule.state import TaskStatus

__all__ = ["RunResult", "TaskRecord"]


@dataclass(slots=True)
class TaskRecord:
    """One task of one run. Times are seconds since the epoch; ``None`` if it never got there.

    ``queued`` is when it became ready (all inputs there), ``started``/``finished`` bound its
    last attempt as measured by the worker, ``cpu_seconds`` is the CPU time that attempt's
    thread spent, ``node`` is where it ran (``"caller"``: in the caller, see ``Remote``).
    """

    task_id: str
    tool: str
    kind: str
    status: TaskStatus = "waiting"
    attempts: int = 0
    submitted: float = 0.0
    queued: float | None = None
    started: float | None = None
    finished: float | None = None
    node: str | None = None
    cpu_seconds: float | None = None
    predicted_seconds: float | None = None
    error: BaseException | None = None
    deps: tuple[str, ...] = ()  # the tasks it waited for

    @property
    def seconds(self) -> float | None:
        """How long the last attempt ran."""
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    @property
    def queue_seconds(self) -> float | None:
        """How long the last attempt waited between ready and started."""
        if self.queued is None or self.started is None:
            return None
        return max(0.0, self.started - self.queued)

    @property
    def traceback(self) -> str:
        """The traceback text from the worker, when the task raised."""
        return str(getattr(self.error, "remote_traceback", "") or "")


class RunResult:
    """The result of one run: ``result[ref]`` or ``result["task_name"]`` gives an output.

    Reading the output of a task that failed or was cancelled raises that task's error.
    ``status`` is ``done`` (every task done), ``failed`` or ``cancelled``.
    """

    def __init__(
        self,
        run_id: int,
        workflow: str,
        status: str,
        tasks: Mapping[str, TaskRecord],
        outputs: Mapping[str, Any],
        submitted: float,
        finished: float,
        fetch: Callable[[Any], Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.workflow = workflow
        self.status = status
        self.tasks = dict(tasks)
        self.outputs = dict(outputs)
        self.submitted = submitted
        self.finished = finished
        self._fetch = fetch  # turns a remote handle (a Ray ObjectRef) into the value

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for record in self.tasks.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        return f"RunResult({self.workflow!r}, {self.status}, {summary}, {self.seconds:.3f}s)"

    def __getitem__(self, key: TaskRef | str) -> Any:
        task_id, path = (key.task_id, key.path) if isinstance(key, TaskRef) else (key, ())
        record = self.tasks.get(task_id)
        if record is None:
            raise ValidationError(
                f"run of {self.workflow!r} has no task {task_id!r}",
                fix=f"use a ref of this workflow or one of: {', '.join(self.tasks)}",
                culprit=key,
            )
        if task_id in self.outputs:
            value = self.outputs[task_id]
            return _select(self._fetch(value) if self._fetch else value, path)
        raise record.error or TaskCancelledError(
            f"task {task_id!r} has no output (status {record.status})",
            fix="check result.tasks[...].status",
            culprit=task_id,
        )

    def get(self, key: TaskRef | str, default: Any = None) -> Any:
        """The output, or ``default`` when the task has none."""
        try:
            return self[key]
        except MazeError:
            return default

    @property
    def ok(self) -> bool:
        return self.status == "done"

    @property
    def seconds(self) -> float:
        """Wall time from submit to the last task final."""
        return self.finished - self.submitted

    @property
    def errors(self) -> dict[str, BaseException]:
        """The error of every task that failed (cancelled tasks are left out)."""
        return {k: r.error for k, r in self.tasks.items() if r.status == "failed" and r.error}

    def timeline(self, path: str | Path) -> Path:
        """Write this run as Chrome trace-event JSON (Perfetto, chrome://tracing): a track
        per node and worker slot, a slice per task, arrows along data dependencies.
        ``maze timeline FILE --png OUT`` draws it as a Gantt chart."""
        from maze_core.timeline import slices_of, write_trace

        return write_trace(path, slices_of(self))

    def raise_for_status(self) -> RunResult:
        """Raise the first task failure (or cancellation) if the run did not succeed."""
        for record in self.tasks.values():
            if record.status == "failed" and record.error is not None:
                raise record.error
        for record in self.tasks.values():
            if record.status == "cancelled" and record.error is not None:
                raise record.error
        return self
