"""Maze: task-level distributed execution for agent frameworks.

Declare tools with :func:`tool`, connect them by data flow in a :class:`Workflow`, and run
it on a :class:`LocalRuntime` (threads, processes or inline) or, later, on Ray.
"""

from __future__ import annotations

from maze_core.errors import (
    DuplicateToolError,
    InfeasibleResourcesError,
    MazeError,
    MissingDependencyError,
    RunCancelledError,
    SerializationError,
    TaskCancelledError,
    TaskFailedError,
    TaskTimeoutError,
    ValidationError,
    WorkerLostError,
)
from maze_core.graph import InputRef, TaskGraph, TaskRef, Workflow
from maze_core.hookspecs import hookimpl
from maze_core.plugins import make_plugin_manager
from maze_core.run import (
    LocalRuntime,
    Remote,
    RunHandle,
    RunHints,
    RunResult,
    Runtime,
    TaskRecord,
    get_runtime,
)
from maze_core.run.worker.context import TaskContext, current_task, export_features
from maze_core.run.worker.models import current_model
from maze_core.tools import Resources, ToolRegistry, ToolSpec, discover, tool

__version__ = "0.1.0"

__all__ = [
    "DuplicateToolError",
    "InfeasibleResourcesError",
    "InputRef",
    "LocalRuntime",
    "MazeError",
    "MissingDependencyError",
    "Remote",
    "Resources",
    "RunCancelledError",
    "RunHandle",
    "RunHints",
    "RunResult",
    "Runtime",
    "SerializationError",
    "TaskCancelledError",
    "TaskContext",
    "TaskFailedError",
    "TaskGraph",
    "TaskRecord",
    "TaskRef",
    "TaskTimeoutError",
    "ToolRegistry",
    "ToolSpec",
    "ValidationError",
    "WorkerLostError",
    "Workflow",
    "__version__",
    "current_model",
    "current_task",
    "discover",
    "export_features",
    "get_runtime",
    "hookimpl",
    "make_plugin_manager",
    "tool",
]
