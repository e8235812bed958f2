"""MaPath: the scheduler state machine and the cluster model it places tasks on."""

from __future__ import annotations

from maze_core.schedule.cluster import Allocation, Node
from maze_core.schedule.events import (
    Cancel,
    CancelRun,
    Dispatch,
    Fail,
    Finish,
    NodeAdded,
    Reject,
    Retry,
    SubmitRun,
    TaskDone,
    TaskError,
)
from maze_core.schedule.scheduler import Scheduler

__all__ = [
    "Allocation",
    "Cancel",
    "CancelRun",
    "Dispatch",
    "Fail",
    "Finish",
    "Node",
    "NodeAdded",
    "Reject",
    "Retry",
    "Scheduler",
    "SubmitRun",
    "TaskDone",
    "TaskError",
]
