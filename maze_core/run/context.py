"""What a running task can know about itself: ``maze_core.current_task()``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["TaskContext", "current_task"]


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The identity and placement of the attempt now running in this worker.

    ``gpu_ids`` are the devices the scheduler reserved for it on ``node``; with the
    ``processes`` executor they are also in ``CUDA_VISIBLE_DEVICES``, while code on threads
    (which share one process environment) should select them explicitly.
    """

    run_id: int
    task_id: str
    attempt: int
    node: str
    gpu_ids: tuple[int, ...] = ()


_current: ContextVar[TaskContext | None] = ContextVar("maze_current_task", default=None)


def current_task() -> TaskContext | None:
    """The task running in this thread or process, or None outside of a Maze task."""
    return _current.get()
