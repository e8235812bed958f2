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

from maze_core.run.local.processes import ProcessExecutor
from maze_core.run.local.runtime import LocalRuntime
from maze_core.run.local.threads import InlineExecutor
from maze_core.run.remote import Remote
from maze_core.run.result import RunResult, TaskRecord
from maze_core.run.runtime import RunHandle, RunHints, Runtime
from maze_core.run.shared import get_runtime

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
