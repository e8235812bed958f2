"""What the runtime asks the duration predictor, and when.

A task is predicted when its run opens, from what is known then (its arguments, with the
run's inputs in place), and again only when what the prediction depends on changed: when
its last input arrives, its arguments are known (where outputs are values here, not
handles to remote ones) and so are the features its upstream tasks exported. A changed
prediction goes to the scheduler as a ``PredictionUpdated`` before the task is ready.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from maze_core.graph import Task, resolve
from maze_core.plugins import PluginManager
from maze_core.predict.features import call_features, clean
from maze_core.schedule.events import Event, PredictionUpdated

if TYPE_CHECKING:
    from maze_core.run.runstate import RunRecord

__all__ = ["Estimates"]

log = logging.getLogger("maze")


class Estimates:
    """Features and predictions of a run's tasks, kept in its :class:`RunRecord`."""

    def __init__(self, plugins: PluginManager, *, values_here: bool) -> None:
        self._plugins = plugins
        self._values_here = values_here

    def at_open(self, run: RunRecord, task: Task) -> None:
        """Predict ``task`` from what is known when its run opens."""
        args, kwargs = _with_inputs(task, run.inputs)
        features = run.features[task.id] = self._features(task, args, kwargs)
        run.records[task.id].predicted_seconds = self._predict(run, task, features)

    def after(self, run: RunRecord, done: str, now: float) -> list[Event]:
        """Predict again the dependents of task ``done`` whose last input it was, where what
        the prediction depends on changed; the events saying so."""
        events: list[Event] = []
        outputs = run.outputs
        for dependent in run.graph.dependents[done]:
            task = run.graph.tasks[dependent]
            if all(dep in outputs for dep in task.deps):
                seconds = self._refine(run, task)
                if seconds is not None:
                    events.append(PredictionUpdated(run.run_id, dependent, seconds, now))
        return events

    def _refine(self, run: RunRecord, task: Task) -> float | None:
        """The task's new prediction if its features changed and so did the prediction."""
        values = task.has_refs and self._values_here
        upstream = [run.exported[dep] for dep in task.deps if dep in run.exported]
        if not values and not upstream:
            return None
        args, kwargs = task.args, task.kwargs
        if values:
            try:
                args, kwargs = resolve((args, kwargs), run.outputs, run.inputs)
            except (KeyError, IndexError, TypeError):
                return None  # the task fails when it starts, with its own error
        features = self._features(task, args, kwargs)
        for exported in upstream:
            features.update(exported)
        if features == run.features[task.id]:
            return None
        run.features[task.id] = features
        record = run.records[task.id]
        seconds = self._predict(run, task, features)
        if seconds is None or seconds == record.predicted_seconds:
            return None
        record.predicted_seconds = seconds
        return seconds

    def _features(
        self, task: Task, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> dict[str, float]:
        """The call's features, and what ``maze_task_features`` plugins add."""
        spec = task.spec
        features = call_features(args, kwargs, spec.features, tuple(spec.parameters["properties"]))
        call = self._plugins.caller("maze_task_features")
        if call is not None:
            try:
                extra = call(task=task, args=args, kwargs=kwargs)
            except Exception:
                log.exception("maze: maze_task_features failed for task %r", task.id)
                extra = []
            for found in extra:
                features.update(clean(found))
        return features

    def _predict(self, run: RunRecord, task: Task, features: Mapping[str, float]) -> float | None:
        """The predicted seconds (None: no plugin answered), its 90th percentile noted."""
        call = self._plugins.caller("maze_predict_duration")
        if call is None:
            return None
        try:
            seconds = call(task=task, kind=task.spec.kind, features=features)
        except Exception:
            log.exception("maze: maze_predict_duration failed for task %r", task.id)
            return None
        if seconds is None:
            return None
        run.p90[task.id] = float(getattr(seconds, "p90", seconds))
        return float(seconds)


def _with_inputs(task: Task, inputs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The task's arguments with the run's inputs in place of input refs (task refs stay),
    as far as they can be known when the run opens; unchanged if a selection fails (the
    task fails when it runs, with its own error)."""
    if not task.has_refs:
        return task.args, task.kwargs
    try:
        args, kwargs = resolve((task.args, task.kwargs), None, inputs)
    except (KeyError, IndexError, TypeError):
        return task.args, task.kwargs
    return args, kwargs
