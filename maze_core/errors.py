"""The one error tree of Maze.

Every error a user can cause is a :class:`MazeError`. Each subclass also subclasses the
builtin a Python user would reach for (``ValueError``, ``TimeoutError`` ...), so existing
``except`` clauses keep working. Every error names its culprit and says how to fix it, and
every error pickles, because errors cross process and node boundaries: a culprit that cannot
be pickled travels as its ``repr``.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = [
    "DuplicateToolError",
    "InfeasibleResourcesError",
    "MazeError",
    "MissingDependencyError",
    "RunCancelledError",
    "SerializationError",
    "TaskCancelledError",
    "TaskFailedError",
    "TaskTimeoutError",
    "ValidationError",
    "WorkerLostError",
]


def _portable(culprit: Any) -> Any:
    """The culprit itself when it pickles, else its ``repr`` (errors must always travel)."""
    try:
        pickle.dumps(culprit)
    except Exception:
        return repr(culprit)
    return culprit


class MazeError(Exception):
    """Base of every Maze error.

    ``problem`` says what is wrong, ``fix`` what to do about it and ``culprit`` is the
    offending object (a tool name, a task, an argument ...). ``str(error)`` shows both.
    """

    def __init__(self, problem: str, *, fix: str = "", culprit: Any = None) -> None:
        self.problem = problem
        self.fix = fix
        self.culprit = culprit
        super().__init__(f"{problem}\n  fix: {fix}" if fix else problem)

    def __reduce__(self) -> tuple[Any, ...]:
        skip = ("problem", "fix", "culprit")
        state = {k: _portable(v) for k, v in self.__dict__.items() if k not in skip}
        args = (type(self), self.problem, self.fix, _portable(self.culprit))
        return (_rebuild, args, state)


def _rebuild(cls: type[MazeError], problem: str, fix: str, culprit: Any) -> MazeError:
    error = cls.__new__(cls)
    MazeError.__init__(error, problem, fix=fix, culprit=culprit)
    return error


class ValidationError(MazeError, ValueError):
    """A tool, a workflow or its arguments are malformed; raised when they are built."""


class DuplicateToolError(ValidationError):
    """Two different functions were registered under one tool name."""


class InfeasibleResourcesError(MazeError, ValueError):
    """A task asks for more than any node has: it could never start, so it fails at submit."""


class SerializationError(MazeError, TypeError):
    """A function, an argument or a result cannot be pickled to cross a process boundary."""


class TaskFailedError(MazeError, RuntimeError):
    """A task raised. ``cause`` is the original exception (when it pickles) and
    ``remote_traceback`` the traceback text from the worker that ran it."""

    cause: BaseException | None = None
    remote_traceback: str = ""


class TaskTimeoutError(MazeError, TimeoutError):
    """A task ran longer than its ``timeout``."""


class TaskCancelledError(MazeError, RuntimeError):
    """A task never ran or was abandoned: an upstream task failed, or its run was cancelled."""


class RunCancelledError(TaskCancelledError):
    """The whole run was cancelled (``RunHandle.cancel()`` or ``fail_fast``)."""


class WorkerLostError(MazeError, RuntimeError):
    """The worker running a task died (killed process, lost node) before it answered."""


class SharedWorkerLostError(WorkerLostError):
    """The worker died running several tiny tasks together (see ``RayRuntime(bundle_s=)``):
    any one of them may have killed it, so each runs again on its own without spending a
    retry, and the one to blame then fails on its own account."""


class MissingDependencyError(MazeError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


def missing_dependency(module: str, extra: str) -> MissingDependencyError:
    """The error to raise when an optional module cannot be imported."""
    return MissingDependencyError(
        f"{module!r} is not installed",
        fix=f'pip install "maze-agents[{extra}]"',
        culprit=module,
    )


class RemoteTraceback(Exception):
    """The traceback of an exception raised in another process, as its ``__cause__``
    (what ``concurrent.futures`` does): printed, it shows the frames of the code that
    raised it there."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def user_exception(error: BaseException | None, task: str) -> BaseException:
    """The exception a task's own code raised, of its own class (see
    :mod:`maze_core.run.worker.exceptions`), so that a caller that hands tasks to Maze, an
    adapter above all, can raise it as if the code had run in place and match on its type;
    Maze's own error when Maze failed the task. One that came from another process gets the
    worker's traceback as its ``__cause__``."""
    if isinstance(error, TaskFailedError) and isinstance(error.cause, BaseException):
        cause = error.cause
        text = str(getattr(error, "remote_traceback", "") or "")
        if text and cause.__traceback__ is None and cause.__cause__ is None:
            cause.__cause__ = RemoteTraceback(text.rstrip())
        return cause
    if error is not None:
        return error
    return MazeError(f"task {task!r} did not run", fix="see the run's errors", culprit=task)
