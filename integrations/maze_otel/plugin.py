"""The tracing plugin: spans from Maze's hooks, a trace context carried into workers.

A run's span (``maze.run <workflow>``) starts when the run is submitted, as a child of the
span current in the submitting code: a LangGraph invocation or an agent turn that is traced
contains its runs. A task's span (``maze.task <tool>``) starts when its first attempt is
dispatched, as a child of its run's, and its W3C trace context goes with the call to the
worker (``maze_otel.worker.inside``), so spans the tool opens there nest under it. Both end
when the run ends, with the times the workers measured and the attributes known then: tool,
kind, node, resources, predicted and actual seconds, retries, outcome.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from maze_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from opentelemetry import trace

    from maze_core.graph import Task, TaskGraph
    from maze_core.run.result import RunResult

__all__ = ["TRACING", "MazeTracing", "disable", "enable"]

ENV = "MAZE_OTEL"
_switch = {"on": False}
log = logging.getLogger("maze")


@functools.cache
def opentelemetry_api() -> SimpleNamespace:
    """OpenTelemetry's API, imported the first time tracing is on (~0.2 s: every runtime
    registers this plugin, and most never trace); MissingDependencyError without it."""
    try:
        from opentelemetry import context, propagate, trace
        from opentelemetry.trace import Status, StatusCode
    except ImportError:
        from maze_core.errors import missing_dependency

        raise missing_dependency("opentelemetry-sdk", "otel") from None
    return SimpleNamespace(
        context=context, propagate=propagate, trace=trace, Status=Status, StatusCode=StatusCode
    )


def enable() -> None:
    """Turn tracing on for every runtime's entry-point plugin (as ``MAZE_OTEL=1`` does)."""
    _switch["on"] = True


def disable() -> None:
    _switch["on"] = False


class MazeTracing:
    """Maze's hooks as OpenTelemetry spans. ``enabled=None`` follows :func:`enable` and the
    ``MAZE_OTEL`` environment variable, checked when each run starts."""

    def __init__(self, enabled: bool | None = None, tracer_provider: Any = None) -> None:
        self.enabled = enabled
        self.tracer_provider = tracer_provider
        self._runs: dict[int, trace.Span] = {}
        self._tasks: dict[tuple[int, str], trace.Span] = {}
        self._lock = threading.Lock()

    def on(self) -> bool:
        """Whether to trace the run starting now (never without OpenTelemetry: warned)."""
        if self.enabled is not None:
            wanted = self.enabled
        else:
            wanted = _switch["on"] or os.environ.get(ENV, "") not in ("", "0", "false")
        if not wanted:
            return False
        try:
            opentelemetry_api()
        except ImportError as exc:
            log.warning("maze: tracing is on but cannot trace: %s", exc)
            return False
        return True

    @property
    def tracer(self) -> trace.Tracer:
        api = opentelemetry_api()
        tracer: trace.Tracer = api.trace.get_tracer("maze", tracer_provider=self.tracer_provider)
        return tracer

    @hookimpl
    def maze_run_started(self, run_id: int, graph: TaskGraph, inputs: Mapping[str, Any]) -> None:
        if not self.on():
            return
        span = self.tracer.start_span(  # the submitting code's current span is the parent
            f"maze.run {graph.name}",
            attributes={"maze.workflow": graph.name, "maze.tasks": len(graph.tasks)},
        )
        with self._lock:
            self._runs[run_id] = span

    @hookimpl
    def maze_task_wrap(self, run_id: int, task: Task) -> tuple[str, Any] | None:
        """Start the task's span at its first dispatch (here rather than on its ``running``
        transition: a plugin with no transition hook spares every task of every run four
        hook calls) and carry its context to the worker."""
        if not self._runs:  # nothing traced: every task of an untraced runtime asks
            return None
        with self._lock:
            run = self._runs.get(run_id)
            span = self._tasks.get((run_id, task.id))
        if run is None:
            return None
        if span is None:
            span = self._start_task(run, task)
            with self._lock:
                self._tasks[run_id, task.id] = span
        carrier: dict[str, str] = {}
        api = opentelemetry_api()
        empty = api.context.Context()
        api.propagate.inject(carrier, context=api.trace.set_span_in_context(span, empty))
        return ("maze_otel.worker:inside", carrier)

    def _start_task(self, run: trace.Span, task: Task) -> trace.Span:
        spec = task.spec
        attributes: dict[str, Any] = {
            "maze.task": task.id,
            "maze.tool": spec.name,
            "maze.kind": spec.kind,
            "maze.resources.cpus": spec.resources.cpus,
            "maze.resources.gpus": spec.resources.gpus,
        }
        if spec.resources.memory:
            attributes["maze.resources.memory"] = spec.resources.memory
        if spec.model:
            attributes["maze.model"] = spec.model
        parent = opentelemetry_api().trace.set_span_in_context(run)
        return self.tracer.start_span(
            f"maze.task {spec.name}", context=parent, attributes=attributes
        )

    @hookimpl
    def maze_run_finished(self, result: RunResult) -> None:
        with self._lock:
            run = self._runs.pop(result.run_id, None)
            spans = {
                task_id: self._tasks.pop((result.run_id, task_id), None) for task_id in result.tasks
            }
        if run is None:
            return
        for task_id, span in spans.items():
            if span is not None:
                _finish_task(span, result.tasks[task_id])
        run.set_attribute("maze.status", result.status)
        if not result.ok:
            api = opentelemetry_api()
            run.set_status(api.Status(api.StatusCode.ERROR, f"run {result.status}"))
        run.end(end_time=_ns(result.finished))


def _finish_task(span: trace.Span, record: Any) -> None:
    span.set_attribute("maze.outcome", record.status)
    span.set_attribute("maze.retries", max(0, record.attempts - 1))
    span.set_attribute("maze.node", record.node or "")
    if record.predicted_seconds is not None:
        span.set_attribute("maze.predicted_s", float(record.predicted_seconds))
    if record.seconds is not None:
        span.set_attribute("maze.actual_s", record.seconds)
    if record.queue_seconds is not None:
        span.set_attribute("maze.queue_s", record.queue_seconds)
    if record.status == "failed" and record.error is not None:
        span.record_exception(record.error)
        api = opentelemetry_api()
        span.set_status(api.Status(api.StatusCode.ERROR, str(record.error).splitlines()[0]))
    span.end(end_time=_ns(record.finished) if record.finished else None)


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


TRACING = MazeTracing()
"""The instance the ``maze`` entry point registers (off until enabled)."""
