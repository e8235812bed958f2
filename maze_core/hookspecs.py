"""Every hook of Maze, grouped by when it runs.

Hooks are called with keyword arguments only; an implementation may accept any subset of
them. All hooks run in the driver process (never in a worker), in the thread that is
driving the runtime's scheduler at that moment, so an implementation must be quick and must
not block. A hook that raises is logged and does not stop the run; ``firstresult`` hooks
stop at the first non-None result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable

    from maze_core.graph import Task, TaskGraph
    from maze_core.run.result import RunResult
    from maze_core.schedule.policies import Policy
    from maze_core.tools import ToolRegistry

__all__ = ["hookimpl", "hookspec"]

PROJECT = "maze"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- set-up ---------------------------------------------------------------------------------


@hookspec
def maze_register_tools(registry: ToolRegistry) -> None:
    """Add tools to a runtime's registry (``registry.register(fn)``).

    Called once, in the driver, when a runtime is created; a plugin package uses it to make
    its tools known by name (for ``maze run`` and remote lookups). A name registered twice
    by different functions raises :class:`~maze_core.errors.DuplicateToolError`.
    """


@hookspec
def maze_register_policies(policies: dict[str, Callable[[], Policy]]) -> None:
    """Add scheduling policies by name (``policies["mine"] = MyPolicy``).

    Called once, in the driver, when a runtime is created, before its scheduler is built;
    the runtime's ``policy="mine"`` then selects it. A policy subclasses
    :class:`maze_core.schedule.Policy` and decides the queue, the priority and the node of
    each ready task.
    """


# -- runs -----------------------------------------------------------------------------------


@hookspec
def maze_run_started(run_id: int, graph: TaskGraph, inputs: Mapping[str, Any]) -> None:
    """A run was submitted to a runtime.

    Called in the driver, once per run, before any of its tasks appears (as ``waiting``). If the
    scheduler then rejects the run (a task no node could ever hold), ``submit`` raises and
    ``maze_run_finished`` is not called.
    """


@hookspec
def maze_task_transition(
    run_id: int,
    task: Task,
    old: str,
    new: str,
    time: float,
    attempt: int,
    node: str | None,
    error: BaseException | None,
) -> None:
    """A task changed state: ``old`` -> ``new``, at ``time`` (seconds since the epoch).

    States (the scheduler's own, :data:`maze_core.schedule.state.TaskStatus`): ``waiting``
    (for inputs), ``ready`` (queued for resources), ``running``, ``done``, ``failed`` and
    ``cancelled``; ``old`` is ``""`` for the first transition. An attempt that failed and
    runs again goes from ``running`` back to ``ready`` (or ``waiting``, when an input must
    be computed again first), with ``error`` set; ``error`` is also set for ``failed`` and
    ``cancelled``. Called in the driver for every change, in the order the scheduler
    decided them.
    """


@hookspec
def maze_task_wrap(run_id: int, task: Task, attempt: int) -> tuple[str, Any] | None:
    """What the worker should run this attempt inside: ``("module:factory", argument)``.

    Called in the driver when an attempt is dispatched, right after its ``running``
    transition. The worker imports ``factory`` and enters ``factory(argument)`` (a context
    manager) around the tool's call, so a plugin can carry something into the worker that
    the tool's code then sees (a tracing context, say). ``argument`` must pickle; the
    module must be importable where the task runs (if it is not, the call runs unwrapped
    and the worker logs a warning).
    """


@hookspec
def maze_run_finished(result: RunResult) -> None:
    """A run ended (done, failed or cancelled); ``result`` is what the caller receives.

    Called in the driver once per run, after the last task transition and before the
    caller's ``RunHandle.result()`` returns.
    """


# -- prediction -----------------------------------------------------------------------------


@hookspec
def maze_task_features(
    task: Task, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> Mapping[str, float] | None:
    """Add features of one call for the duration predictor (numbers by name).

    Called in the driver before each prediction, with the call's arguments (at submit:
    with refs still unresolved; when the task starts: resolved). The results of all
    plugins are merged into the built-in features (argument sizes, the tool's own
    ``features=``). Must be quick and must not raise (a raising plugin is logged, ignored).
    """


@hookspec(firstresult=True)
def maze_predict_duration(task: Task, kind: str, features: Mapping[str, float]) -> float | None:
    """Predict how many seconds one attempt of ``task`` will run.

    Called in the driver when a run is submitted (and again when a task whose inputs were
    refs starts), once per task; stops at the first non-None result. MaLearn, the
    built-in predictor, answers unless a plugin registered later answers first; a fixed
    per-kind guess answers last when the runtime runs without MaLearn. May return a
    :class:`~maze_core.predict.model.Prediction` (a float with ``p90`` and ``source``).
    """


@hookspec
def maze_task_observed(
    task: Task, features: Mapping[str, float], seconds: float, node: str | None, time: float
) -> None:
    """An attempt of ``task`` finished normally after ``seconds`` (worker-measured) on
    ``node``; ``features`` are those its prediction used.

    Called in the driver once per successful attempt, before its ``done`` transition; this
    is how predictors learn.
    """
