"""The errors a finished attempt reports: the tool's own exception as a TaskFailedError
carrying the worker's traceback, or what went wrong around the tool (a lost worker, an
argument that would not pickle) with whether running it again may help."""

from __future__ import annotations

from maze_core.errors import (
    MazeError,
    SerializationError,
    TaskFailedError,
    WorkerLostError,
)
from maze_core.graph import Task
from maze_core.run.worker.call import Outcome

__all__ = ["infrastructure_error", "task_error"]


def _describe(exc: BaseException | None) -> str:
    """``str(exc)``, even for exceptions whose ``__str__`` is broken."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() failed>"


def task_error(task: Task, outcome: Outcome) -> TaskFailedError:
    cause = outcome.error
    error = TaskFailedError(
        f"task {task.id!r} (tool {task.spec.name!r}) raised {type(cause).__name__}:"
        f" {_describe(cause)}\n"
        f"{outcome.traceback}".rstrip(),
        fix="fix the tool, or set @tool(retries=...) if the failure is transient",
        culprit=task.id,
    )
    error.cause = cause
    error.remote_traceback = outcome.traceback
    error.__cause__ = cause
    return error


def infrastructure_error(task: Task, error: BaseException) -> tuple[BaseException, bool]:
    """The error to report when the executor, not the tool, failed; and whether to retry."""
    where = f"task {task.id!r} (tool {task.spec.name!r})"
    if isinstance(error, WorkerLostError):
        return WorkerLostError(f"{where}: {error.problem}", fix=error.fix, culprit=task.id), True
    if isinstance(error, SerializationError):
        return SerializationError(
            f"{where}: {error.problem}", fix=error.fix, culprit=task.id
        ), False
    if isinstance(error, MazeError):
        return error, False
    return TaskFailedError(
        f"{where} could not be run: {type(error).__name__}: {_describe(error)}",
        fix="see the cause; this is not an exception raised by the tool itself",
        culprit=task.id,
    ), False
