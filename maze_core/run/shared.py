"""The shared runtimes a process gets by name (``wf.run("processes")``, ``distribute(graph)``):
one of each kind per process, made on first use and closed at exit."""

from __future__ import annotations

import atexit
import os
import threading

from maze_core.errors import ValidationError
from maze_core.run.local.runtime import LocalRuntime
from maze_core.run.local.threads import ExecutorName
from maze_core.run.runtime import Runtime

__all__ = ["get_runtime"]


_default_runtime: LocalRuntime | None = None
_default_lock = threading.Lock()


def get_runtime(runtime: Runtime | str | None = None) -> Runtime:
    """``runtime`` itself, or by name: ``None``/``"local"`` is the shared local runtime
    (threads), ``"threads"``, ``"processes"`` and ``"inline"`` a shared one of that kind."""
    global _default_runtime
    if isinstance(runtime, Runtime):
        return runtime
    if runtime in (None, "local", "threads"):
        with _default_lock:
            if _default_runtime is None or _default_runtime._closed:
                _default_runtime = LocalRuntime()
                atexit.register(_default_runtime.close)
            return _default_runtime
    if runtime == "ray":
        return _shared_ray()
    if runtime == "inline":
        return _named_runtime("inline")
    if runtime == "processes":
        return _named_runtime("processes")
    raise ValidationError(
        f"unknown runtime {runtime!r}",
        fix='pass a Runtime object, or one of "local", "threads", "processes", "inline", "ray"',
        culprit=runtime,
    )


_named: dict[str, LocalRuntime] = {}


def _named_runtime(name: ExecutorName) -> LocalRuntime:
    with _default_lock:
        runtime = _named.get(name)
        if runtime is None or runtime._closed:
            runtime = _named[name] = LocalRuntime(name)
            atexit.register(runtime.close)
        return runtime


_ray_runtime: Runtime | None = None


def _shared_ray() -> Runtime:
    """One RayRuntime per process for ``runtime="ray"``: joins a running cluster when there
    is one (``ray start``, ``RAY_ADDRESS``), else starts an embedded local Ray."""
    global _ray_runtime
    from maze_core.run.ray.runtime import RayRuntime

    with _default_lock:
        if _ray_runtime is None or _ray_runtime._closed:
            _ray_runtime = RayRuntime(address=os.environ.get("RAY_ADDRESS"))
            atexit.register(_ray_runtime.close)
        return _ray_runtime
