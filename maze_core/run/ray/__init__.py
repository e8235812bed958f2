"""Ray: :class:`RayRuntime` (the same loop and scheduler, tasks on a Ray cluster) and server
mode. Importing this package does not import Ray."""

from __future__ import annotations

from typing import Any

__all__ = ["RayRuntime"]


def __getattr__(name: str) -> Any:
    if name == "RayRuntime":
        from maze_core.run.ray.runtime import RayRuntime

        return RayRuntime
    raise AttributeError(f"module 'maze_core.run.ray' has no attribute {name!r}")
