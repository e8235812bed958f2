"""OpenTelemetry tracing for Maze: a span per workflow run and per task.

Installed with the ``otel`` extra, the plugin is registered in every runtime through the
``maze`` entry-point group and stays off until enabled: set ``MAZE_OTEL=1`` or call
:func:`enable` (or pass ``MazeTracing(enabled=True)`` in a runtime's ``plugins=``). Spans go
to the global tracer provider the application configured, as any instrumentation's do.
"""

from __future__ import annotations

from maze_otel.plugin import TRACING, MazeTracing, disable, enable

__all__ = ["TRACING", "MazeTracing", "disable", "enable"]
