"""OpenTelemetry tracing for Maze: a span per workflow run and per task.

Installed with the ``otel`` extra, the plugin is registered in every runtime through the
``maze`` entry-point group and stays off until enabled: set ``MAZE_OTEL=1`` or call
:func:`enable` (or pass ``MazeTracing(enabled=True)`` in a runtime's ``plugins=``). Spans go
to the global tracer provider the application configured, as any instrumentation's do.
Without OpenTelemetry installed, the entry point registers an inert object.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TRACING", "MazeTracing", "disable", "enable"]

try:
    from maze_otel.plugin import TRACING, MazeTracing, disable, enable
except ImportError:  # the otel extra is not installed: every runtime loads this entry point
    TRACING = object()  # no hooks: nothing to trace

    def __getattr__(name: str) -> Any:
        from maze_core.errors import missing_dependency

        raise missing_dependency("opentelemetry-sdk", "otel")
