"""What goes into the scheduler (events) and what comes out (instructions).

Events carry the time they happened: the scheduler has no clock of its own, so a simulator
can drive it in virtual time and a test can assert exact instruction lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule.cluster import Allocation, Node

__all__ = [
    "Cancel",
    "CancelRun",
    "Dispatch",
    "Event",
    "Fail",
    "Finish",
    "Instruction",
    "NodeAdded",
    "Reject",
    "Retry",
    "RunStatus",
    "SubmitRun",
    "TaskDone",
    "TaskError",
]

RunStatus = Literal["done", "failed", "cancelled"]

# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitRun:
    """A run of ``graph`` starts; ``fail_fast`` cancels it all at the first final failure."""

    run_id: int
    graph: TaskGraph
    time: float
    fail_fast: bool = False


@dataclass(frozen=True, slots=True)
class TaskDone:
    """Attempt ``attempt`` of a task returned normally."""

    run_id: int
    task_id: str
    attempt: int
    time: float


@dataclass(frozen=True, slots=True)
class TaskError:
    """Attempt ``attempt`` of a task raised, timed out or lost its worker.
    ``retryable`` False fails the task at once, whatever retries it has left."""

    run_id: int
    task_id: str
    attempt: int
    time: float
    error: BaseException
    retryable: bool = True


@dataclass(frozen=True, slots=True)
class CancelRun:
    """The user cancelled a run: nothing of it starts any more."""

    run_id: int
    time: float
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class NodeAdded:
    """A node joined (in local mode: the machine itself, once)."""

    node: Node
    time: float = 0.0


Event = SubmitRun | TaskDone | TaskError | CancelRun | NodeAdded

# -- instructions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Start attempt ``attempt`` of a task on ``allocation.node``; ready since ``ready_at``."""

    run_id: int
    task_id: str
    attempt: int
    allocation: Allocation
    ready_at: float


@dataclass(frozen=True, slots=True)
class Retry:
    """Attempt ``attempt`` failed with ``error``; the task is queued again."""

    run_id: int
    task_id: str
    attempt: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class Fail:
    """The task failed for good with ``error``."""

    run_id: int
    task_id: str
    error: BaseException


@dataclass(frozen=True, slots=True)
class Cancel:
    """The task will not run (or its running attempt is abandoned) because of ``error``."""

    run_id: int
    task_id: str
    error: BaseException
    was_running: bool


@dataclass(frozen=True, slots=True)
class Finish:
    """Every task of the run is final."""

    run_id: int
    status: RunStatus


@dataclass(frozen=True, slots=True)
class Reject:
    """The run was refused at submit (e.g. a task no node could ever hold)."""

    run_id: int
    error: BaseException


Instruction = Dispatch | Retry | Fail | Cancel | Finish | Reject
