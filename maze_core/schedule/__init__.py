"""MaPath: the scheduler state machine and the cluster model it places tasks on."""

from __future__ import annotations

from maze_core.schedule.cluster import Allocation, Node
from maze_core.schedule.events import (
    Cancel,
    CancelRun,
    CancelTask,
    Dispatch,
    Fail,
    Finish,
    ModelUnloaded,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    PredictionUpdated,
    Reject,
    Retry,
    SubmitRun,
    TaskDone,
    TaskError,
)
from maze_core.schedule.policies import POLICIES, DapsWeights, Policy, make_policy
from maze_core.schedule.scheduler import Scheduler

__all__ = [
    "POLICIES",
    "Allocation",
    "Cancel",
    "CancelRun",
    "CancelTask",
    "DapsWeights",
    "Dispatch",
    "Fail",
    "Finish",
    "ModelUnloaded",
    "Node",
    "NodeAdded",
    "NodeChanged",
    "NodeRemoved",
    "Policy",
    "PredictionUpdated",
    "Reject",
    "Retry",
    "Scheduler",
    "SubmitRun",
    "TaskDone",
    "TaskError",
    "make_policy",
]
