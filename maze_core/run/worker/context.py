"""What a running task can know about itself: ``maze_core.current_task()``."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maze_core.schedule.events import Dispatch

__all__ = ["TaskContext", "current_task", "export_features"]


@dataclass(frozen=True, slots=True)
class TaskContext:
    """The identity and placement of the attempt now running in this worker.

    ``gpu_ids`` are the devices the scheduler reserved for it on ``node``; with the
    ``processes`` executor they are also in ``CUDA_VISIBLE_DEVICES``, while code on threads
    (which share one process environment) should select them explicitly. ``model_load`` is
    True when the scheduler placed the task where its model was not resident yet.
    """

    run_id: int
    task_id: str
    attempt: int
    node: str
    gpu_ids: tuple[int, ...] = ()
    model_load: bool = False
    wrappers: tuple[tuple[str, Any], ...] = ()  # from plugins: see the maze_task_wrap hook

    @classmethod
    def of(cls, dispatch: Dispatch, wrappers: tuple[tuple[str, Any], ...] = ()) -> TaskContext:
        """The context of the attempt a Dispatch instruction starts."""
        allocation = dispatch.allocation
        return cls(
            dispatch.run_id,
            dispatch.task_id,
            dispatch.attempt,
            allocation.node,
            allocation.gpu_ids,
            dispatch.model_load,
            wrappers,
        )


_current: ContextVar[TaskContext | None] = ContextVar("maze_current_task", default=None)


def current_task() -> TaskContext | None:
    """The task running in this thread or process, or None outside of a Maze task."""
    return _current.get()


_exported: ContextVar[dict[str, float] | None] = ContextVar("maze_exported", default=None)


def export_features(**features: float) -> None:
    """From inside a task, hand numbers to the duration predictor of its successors.

    A task that knows what its successors will face (the length of the prompt it built, the
    number of images it found) exports it; MaLearn sees these features when it predicts the
    direct successors. Outside a Maze task this does nothing.
    """
    exported = _exported.get()
    if exported is not None:
        from maze_core.predict.features import clean  # numbers only: a bad one never fails the end

        exported.update(clean(features))
