"""The run loop and the runtime's bookkeeping, then one room per place work runs.

* ``runtime`` / ``runstate`` / ``result`` / ``timers``: the loop every runtime shares (events
  in, the scheduler's instructions out), the books of runs and attempts, what a run returns.
* ``worker/``: the one worker contract: a call (:func:`~maze_core.run.worker.call.run_call`),
  its outcome, its context, model residency, how calls travel.
* ``local/``: :class:`LocalRuntime`, its thread pools and worker processes.
* ``ray/``: :class:`~maze_core.run.ray.RayRuntime` and server mode.
* ``remote``: one callable run as one task, the primitive adapters build on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maze_core.run.local.runtime import LocalRuntime
from maze_core.run.local.threads import InlineExecutor
from maze_core.run.remote import Remote
from maze_core.run.result import RunResult, TaskRecord
from maze_core.run.runtime import RunHandle, RunHints, Runtime
from maze_core.run.shared import get_runtime

if TYPE_CHECKING:
    from maze_core.run.local.processes import ProcessExecutor

__all__ = [
    "InlineExecutor",
    "LocalRuntime",
    "ProcessExecutor",
    "Remote",
    "RunHandle",
    "RunHints",
    "RunResult",
    "Runtime",
    "TaskRecord",
    "get_runtime",
]


def __getattr__(name: str) -> Any:
    """Worker processes (multiprocessing, sockets, ~35 ms) are imported when first used."""
    if name == "ProcessExecutor":
        from maze_core.run.local.processes import ProcessExecutor

        return ProcessExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
