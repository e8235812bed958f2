"""The run loop and its executors: inline, threads and processes on this machine."""

from __future__ import annotations

from maze_core.run.executors import InlineExecutor, ProcessExecutor
from maze_core.run.result import RunResult, TaskRecord
from maze_core.run.runtime import LocalRuntime, RunHandle, RunHints, Runtime, get_runtime

__all__ = [
    "InlineExecutor",
    "LocalRuntime",
    "ProcessExecutor",
    "RunHandle",
    "RunHints",
    "RunResult",
    "Runtime",
    "TaskRecord",
    "get_runtime",
]
