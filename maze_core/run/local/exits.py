"""Exit hooks of worker pools: at interpreter exit a pool's workers are stopped, before
anything waits for them, and only by the process that started them."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["before_interpreter_joins", "kill_at_exit"]


def kill_at_exit(executor: weakref.ref[Any]) -> Callable[[], None]:
    """The exit hook of one pool. Forked workers inherit the hook list, so it checks that it
    runs in the process that created the pool (a worker must not touch its parent's pool)."""
    owner = os.getpid()

    def kill() -> None:
        live = executor()
        if live is not None and os.getpid() == owner:
            live.shutdown(wait=False, cancel_futures=True)

    return kill


def before_interpreter_joins(callback: Callable[[], None]) -> None:
    """Run ``callback`` at exit *before* concurrent.futures joins its pools' workers.

    ``concurrent.futures`` waits for every pool worker through ``threading``'s exit hooks,
    which run before ``atexit`` and in reverse order of registration; registering there,
    later than it did, puts us first. Falls back to ``atexit`` where the hook is missing.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(callback)
    except RuntimeError:  # no such hook, or the interpreter is already shutting down
        import atexit

        atexit.register(callback)
