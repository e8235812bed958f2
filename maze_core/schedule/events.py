"""What goes into the scheduler (events) and what comes out (instructions).

Events carry the time they happened: the scheduler has no clock of its own, so a simulator
can drive it in virtual time and a test can assert exact instruction lists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from maze_core.graph import TaskGraph
    from maze_core.schedule.cluster import Allocation, Node

__all__ = [
    "Cancel",
    "CancelRun",
    "CancelTask",
    "Dispatch",
    "Event",
    "Fail",
    "Finish",
    "Instruction",
    "NodeAdded",
    "NodeChanged",
    "NodeRemoved",
    "PredictionUpdated",
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
    """A run of ``graph`` starts; ``fail_fast`` cancels it all at the first final failure.

    ``predicted`` gives each task's predicted seconds (missing tasks: the kind's default).
    ``age_from`` and ``work_after`` describe a run that is one step of a larger job (a
    LangGraph invocation's node): the run ages from the job's start (default: ``time``) and
    ``work_after`` predicted seconds of the job follow it, so policies rank the job as a whole.
    """

    run_id: int
    graph: TaskGraph
    time: float
    fail_fast: bool = False
    predicted: Mapping[str, float] = field(default_factory=dict)
    age_from: float | None = None
    work_after: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskDone:
    """Attempt ``attempt`` of a task returned normally; its output (``output_size`` bytes,
    0 if unknown) now lives on the node that ran it, or in the driver when ``held`` (a
    small value that came back with the task's report: no node's loss loses it)."""

    run_id: int
    task_id: str
    attempt: int
    time: float
    output_size: int = 0
    held: bool = False


@dataclass(frozen=True, slots=True)
class TaskError:
    """Attempt ``attempt`` of a task raised, timed out or lost its worker.
    ``retryable`` False fails the task at once, whatever retries it has left; ``charged``
    False runs it again without spending one (it failed for what another task did)."""

    run_id: int
    task_id: str
    attempt: int
    time: float
    error: BaseException
    retryable: bool = True
    charged: bool = True


@dataclass(frozen=True, slots=True)
class CancelRun:
    """The user cancelled a run: nothing of it starts any more."""

    run_id: int
    time: float
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class CancelTask:
    """The user cancelled one task: it and its descendants will not run."""

    run_id: int
    task_id: str
    time: float
    reason: str = "cancelled by the user"


@dataclass(frozen=True, slots=True)
class NodeAdded:
    """A node joined (in local mode: the machine itself, once)."""

    node: Node
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeRemoved:
    """A node left or died: its running tasks go back to the queue (not counted as retries).
    With ``outputs_lost`` (the default: a dead node's memory is gone) the outputs it held
    that are still needed are computed again."""

    name: str
    time: float
    outputs_lost: bool = True


@dataclass(frozen=True, slots=True)
class NodeChanged:
    """A node's capacities changed (resources added or taken away while it runs)."""

    name: str
    time: float
    cpus: float | None = None
    memory: int | None = None
    custom: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class ModelUnloaded:
    """A worker dropped a resident model (idle, or to free its devices): placement stops
    counting on it being warm there."""

    node: str
    model: str
    time: float


@dataclass(frozen=True, slots=True)
class PredictionUpdated:
    """A better duration estimate for a task that has not finished yet."""

    run_id: int
    task_id: str
    seconds: float
    time: float


Event = (
    SubmitRun
    | TaskDone
    | TaskError
    | CancelRun
    | CancelTask
    | NodeAdded
    | NodeRemoved
    | NodeChanged
    | ModelUnloaded
    | PredictionUpdated
)

# -- instructions -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Start attempt ``attempt`` of a task on ``allocation.node``; ready since ``ready_at``.

    ``model_load`` is True when the task's model was not resident on that node and must be
    loaded first (the simulator charges the load time).
    """

    run_id: int
    task_id: str
    attempt: int
    allocation: Allocation
    ready_at: float
    model_load: bool = False


@dataclass(frozen=True, slots=True)
class Retry:
    """Attempt ``attempt`` failed with ``error`` (or a done task's output was lost); the
    task runs again, from ``state``: ``ready`` (queued) or ``waiting`` (for an input that
    must be computed again first)."""

    run_id: int
    task_id: str
    attempt: int
    error: BaseException
    state: Literal["waiting", "ready"] = "ready"


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
