"""OpenTelemetry tracing for Maze: a span per workflow run and per task.

Installed with the ``otel`` extra, the plugin is registered in every runtime through the
``maze`` entry-point group and stays off until enabled: set ``MAZE_OTEL=1`` or call
:func:`enable` (or pass ``MazeTracing(enabled=True)`` in a runtime's ``plugins=``). Spans go
to the global tracer provider the application configured, as any instrumentation's do.
OpenTelemetry itself is imported only when a run is traced, so the plugin costs a runtime
nothing until then; without it installed, tracing stays off with a warning.
"""

from __future__ import annotations

from typing import Any

from maze_otel.plugin import TRACING, disable, enable

__all__ = ["TRACING", "MazeTracing", "disable", "enable"]


def __getattr__(name: str) -> Any:
    """``MazeTracing`` (MissingDependencyError without the ``otel`` extra)."""
    if name != "MazeTracing":
        raise AttributeError(f"module 'maze_otel' has no attribute {name!r}")
    from maze_otel.plugin import MazeTracing, opentelemetry_api

    opentelemetry_api()
    return MazeTracing
