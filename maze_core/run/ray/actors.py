"""Actors Maze keeps on Ray nodes: model actors, which keep a tool's model, and lanes.

A tool with ``load=`` runs in per-node model actors.

Each actor is one worker process pinned to one node; it builds the model on its first call
(see :mod:`maze_core.run.worker.models`) and serves calls concurrently on threads, as many as
share its device: one per actor for whole-GPU requests (a second concurrent call gets a
second actor, with its own device), ``1 / gpus`` for fractional ones, and any number for
CPU-only models (one copy of the model per node; such tools should release the GIL, as
NumPy and PyTorch do). The scheduler admits no more concurrent calls than the node's
resources allow, so a pool never outgrows what runs at once. A timed-out call is
abandoned, not killed (the actor's other calls go on), as on the local thread executor.

Accounting. The scheduler accounts every call's resources, as for plain tasks. In Ray an
actor holds only its GPUs (so that Ray gives the process its own ``CUDA_VISIBLE_DEVICES``),
and holds them while idle too: the one difference between the two books. So before a GPU
request is handed to Ray on a node, idle actors there are stopped (least recently used
first) until Ray's free GPUs match the scheduler's; actors idle for ``idle_s`` are stopped
as well. Each stop is reported so the scheduler no longer counts the model as warm there.

Lanes. A Ray task waits ~1 ms for a worker lease from its node before it starts; a call to
an actor goes straight to the actor's process (a round trip of ~0.8 ms against ~1.7 ms for
a task, measured here). A tiny task that is dispatched alone (the next node of a LangGraph
chain, say) therefore runs on one of its node's lane actors: one call at a time each, at
most one per CPU of the node (four at most), none holding Ray resources (the scheduler
accounts the call, as for model actors), started on first need, warmed before they take
calls, and stopped when idle like model actors. When no lane of the node is free (or warm)
the task goes to Ray as a task.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelActors"]

log = logging.getLogger("maze")
Execute = Callable[..., Any] | bytes  # a tool's task function, or a pickled Shipped of it


def _capacity(gpus: float) -> int:
    """How many calls one actor serves at once (see the module docstring)."""
    if gpus >= 1:
        return 1
    if gpus > 0:
        return max(1, int(1 / gpus + 1e-9))
    return _CPU_MODEL_CONCURRENCY


_CPU_MODEL_CONCURRENCY = 256


class ModelWorker:
    """An actor's body: runs a tool's task function in this (long-lived) process.

    The runtime sends the function as bytes, a ``Shipped`` pickled once by the driver
    (see ``RayRuntime._actor_task``); the unpickled function comes from this process's
    cache after the first call."""

    def run(
        self, execute: Callable[..., tuple[Any, Any]] | bytes, call: list[Any], *deps: Any
    ) -> tuple[Any, Any]:
        function = pickle.loads(execute) if isinstance(execute, bytes) else execute
        return function(call, *deps)

    def ready(self, execute: Execute) -> bool:
        """Unpickle ``execute`` (imports what it needs and caches it), so that the first
        call finds this process warm."""
        if isinstance(execute, bytes):
            pickle.loads(execute)
        return True


@dataclass(slots=True, eq=False)
class _Actor:
    handle: Any
    node: str
    model: str | None  # None: a lane
    gpus: float
    busy: int = 0
    last_used: float = field(default_factory=time.monotonic)
    ready: bool = True  # a lane takes calls once warm


class ModelActors:
    """The model actors and lanes of one runtime, per (node, model); lanes have no model."""

    def __init__(self, ray: Any, unloaded: Callable[[str, str], None]) -> None:
        self._ray = ray
        self._unloaded = unloaded  # told (node, model) when a pool empties
        self._lock = threading.Lock()
        self._pools: dict[tuple[str, str | None], list[_Actor]] = {}
        self._calls: dict[Any, _Actor] = {}  # report ref -> the actor running it
        self._cls = ray.remote(ModelWorker)
        # ray.kill blocks on Ray's own threads, and this is called from a Ray callback
        # (a task's report) while Maze dispatches: killing there would deadlock.
        self._doomed: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reaper = threading.Thread(target=self._reap, name="maze-actor-reaper", daemon=True)
        self._reaper.start()

    def submit(
        self,
        node: str,
        model: str,
        options: dict[str, Any],
        execute: Execute,
        call: list[Any],
        deps: list[Any],
    ) -> tuple[Any, Any]:
        """Run one call on an idle actor of (node, model), started if there is none."""
        return self._call(self._idle_or_new(node, model, options), execute, call, deps)

    def lane(
        self,
        node: str,
        limit: int,
        options: dict[str, Any],
        execute: Execute,
        call: list[Any],
        deps: list[Any],
    ) -> tuple[Any, Any] | None:
        """Run one CPU call on a warm, idle lane of ``node``; None when there is none (the
        caller runs it as a Ray task). A node with fewer than ``limit`` lanes, none warming,
        gets one more: a new worker process imports Maze and the tool's modules (about a
        second), so it takes calls only after a first call of ``ready`` has done that."""
        with self._lock:
            pool = self._pools.setdefault((node, None), [])
            actor = next((a for a in pool if a.ready and not a.busy), None)
            if actor is not None:
                actor.busy = 1
            grow = actor is None and len(pool) < limit and all(a.ready for a in pool)
        if actor is not None:
            return self._call(actor, execute, call, deps)
        if grow:
            self._warm_lane(node, options, execute)
        return None

    def _warm_lane(self, node: str, options: dict[str, Any], execute: Execute) -> None:
        """Start a lane on ``node`` and warm it. A lane that cannot start costs its tasks
        nothing (they run as Ray tasks): it is logged and dropped."""
        try:
            actor = _Actor(self._new_actor(options, 0.0, 1), node, None, 0.0, ready=False)
        except Exception:
            log.warning("maze: could not start a lane on node %s", node, exc_info=True)
            return
        with self._lock:
            self._pools.setdefault((node, None), []).append(actor)
        try:
            warming = actor.handle.ready.remote(execute).future()
        except Exception:
            log.warning("maze: could not warm a lane on node %s", node, exc_info=True)
            self._stop(actor)
            return
        warming.add_done_callback(lambda done: self._warmed(actor, done))

    def _warmed(self, actor: _Actor, done: Any) -> None:
        if done.exception() is not None:  # it died, or its node left
            self._stop(actor)
            return
        with self._lock:
            actor.ready = True
            actor.last_used = time.monotonic()

    def _call(
        self, actor: _Actor, execute: Execute, call: list[Any], deps: list[Any]
    ) -> tuple[Any, Any]:
        try:
            report, value = actor.handle.run.options(num_returns=2).remote(execute, call, *deps)
        except BaseException:
            with self._lock:
                actor.busy -= 1
            raise
        with self._lock:
            self._calls[report] = actor
        return report, value

    def finished(self, report: Any, dead: bool = False) -> None:
        """The call ``report`` ended (its actor died with it when ``dead``)."""
        with self._lock:
            actor = self._calls.pop(report, None)
            if actor is None:
                return
            actor.busy -= 1
            actor.last_used = time.monotonic()
        if dead:
            self._stop(actor)

    def abandon(self, report: Any) -> bool:
        """Give up on the call ``report`` (a best-effort cancel: actor calls cannot be
        force-cancelled without killing the calls they share the actor with); False when
        it is not an actor call."""
        with self._lock:
            actor = self._calls.pop(report, None)
            if actor is None:
                return False
            actor.busy -= 1
        with contextlib.suppress(Exception):  # called from the timer thread, never a callback
            self._ray.cancel(report)
        return True

    def make_room(self, node: str, free_gpus: float) -> None:
        """Stop idle actors on ``node`` until they hold no more GPUs than the scheduler
        sees free there (``free_gpus``, after the request about to go to Ray)."""
        with self._lock:
            idle = sorted(
                (a for (n, _), pool in self._pools.items() if n == node for a in pool),
                key=lambda a: a.last_used,
            )
            idle = [a for a in idle if a.busy == 0 and a.gpus > 0]
        held = sum(actor.gpus for actor in idle)
        for actor in idle:
            if held <= free_gpus + 1e-9:
                break
            held -= actor.gpus
            self._stop(actor)

    def evict_idle(self, idle_s: float) -> None:
        cutoff = time.monotonic() - idle_s
        with self._lock:
            idle = [
                actor
                for pool in self._pools.values()
                for actor in pool
                if actor.busy == 0 and actor.last_used < cutoff
            ]
        for actor in idle:
            self._stop(actor)

    def node_removed(self, node: str) -> None:
        with self._lock:
            for key in [key for key in self._pools if key[0] == node]:
                del self._pools[key]

    def actors(self) -> list[tuple[str, str, int]]:
        """(node, model, busy calls) per live model actor, for status displays and tests."""
        with self._lock:
            return [
                (a.node, a.model, a.busy)
                for pool in self._pools.values()
                for a in pool
                if a.model is not None
            ]

    def lanes(self) -> dict[str, int]:
        """Live lanes per node."""
        with self._lock:
            return {
                node: len(pool)
                for (node, model), pool in self._pools.items()
                if model is None and pool
            }

    def close(self) -> None:
        with self._lock:
            actors = [actor for pool in self._pools.values() for actor in pool]
            self._pools.clear()
        for actor in actors:
            self._kill(actor)
        self._doomed.put(None)
        self._reaper.join(timeout=10)

    def _idle_or_new(self, node: str, model: str, options: dict[str, Any]) -> _Actor:
        """An actor of (node, model) with room for one more call (a new one if there is
        none), counted busy with it."""
        gpus = float(options.get("num_gpus") or 0)
        capacity = _capacity(gpus)
        with self._lock:
            pool = self._pools.setdefault((node, model), [])
            for actor in pool:
                if actor.busy < capacity and actor.gpus == gpus:
                    actor.busy += 1
                    return actor
        actor = _Actor(self._new_actor(options, gpus, capacity), node, model, gpus, busy=1)
        with self._lock:
            self._pools.setdefault((node, model), []).append(actor)
        return actor

    def _new_actor(self, options: dict[str, Any], gpus: float, capacity: int) -> Any:
        return self._cls.options(
            num_cpus=0,  # the scheduler accounts each call's CPUs; an idle actor takes none
            num_gpus=gpus,
            scheduling_strategy=options["scheduling_strategy"],
            max_concurrency=capacity,
            max_restarts=0,
        ).remote()

    def _stop(self, actor: _Actor) -> None:
        with self._lock:
            pool = self._pools.get((actor.node, actor.model))
            if pool is None or actor not in pool:
                return
            pool.remove(actor)
            emptied = not pool
            if emptied:
                del self._pools[(actor.node, actor.model)]
        self._kill(actor)
        if emptied and actor.model is not None:
            self._unloaded(actor.node, actor.model)

    def _kill(self, actor: _Actor) -> None:
        self._doomed.put(actor.handle)

    def _reap(self) -> None:
        while (handle := self._doomed.get()) is not None:
            with contextlib.suppress(Exception):  # already dead with its node
                self._ray.kill(handle, no_restart=True)
