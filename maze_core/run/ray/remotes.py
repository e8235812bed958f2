"""What Ray runs for each tool, made once per tool (and node): remote functions with their
options, bundles of tiny calls, and the pickled task function actors get in each call.

Building these costs more than submitting a call (Ray exports a remote function once, each
worker imports it once; options objects are slow to make), so one object owns all of them.
A tool's code is checked once, when it is first needed: shippable by value when workers may
not have its package, and under the runtime's ``ship_limit``.
"""

from __future__ import annotations

import contextlib
import pickle
import weakref
from collections.abc import Callable
from typing import Any

from maze_core.run.ray.tasks import ray_module, tool_bundle, tool_task
from maze_core.run.worker.shipping import Shipped, check_shippable, ship_by_value, shipped_once
from maze_core.tools import ToolSpec

__all__ = ["Remotes", "options", "remote_function"]


class Remotes:
    """The remote functions of one runtime's tools; results over ``max_result`` bytes
    fail, code over ``ship_limit`` bytes is refused when first checked."""

    def __init__(self, *, max_result: int | None, ship_limit: int) -> None:
        self.max_result = max_result
        self.ship_limit = ship_limit
        self._checked: set[ToolSpec] = set()
        # id(fn) -> what travels for it (a Shipped holding fn, or fn): held weakly, so that a
        # graph's functions go when the graph goes; while an entry lives, so does its fn
        self._ship_checked: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self._functions: dict[Any, Any] = {}  # (function, async, GPUs) -> remote function
        self._pinned: dict[tuple[ToolSpec, str], Any] = {}  # with its options, on a node
        self._bundle_functions: dict[ToolSpec, Any] = {}
        self._bundles: dict[tuple[ToolSpec, str, int], Any] = {}
        self._actor_tasks: dict[ToolSpec, bytes] = {}
        self._options: dict[tuple[ToolSpec, str], dict[str, Any]] = {}

    def check_code(self, spec: ToolSpec) -> None:
        """Make the tool's code shippable to workers and check it, once per tool."""
        if spec in self._checked:
            return
        for part in (spec.fn, spec.load):
            if part is not None:
                self.ship(part, spec.name)
        self._checked.add(spec)

    def ship(self, fn: Any, name: str) -> Any:
        """Pickle ``fn``'s package by value when workers may not have it (see
        :mod:`maze_core.run.worker.shipping`) and check it against ``ship_limit``, once per
        function; return it as a :class:`Shipped` when it travels by value."""
        found = self._ship_checked.get(id(fn))
        if found is not None and (found.fn if isinstance(found, Shipped) else found) is fn:
            return found
        pickler = ray_module().cloudpickle
        ship_by_value(fn, pickler)
        travels = shipped_once(fn, pickler, check_shippable(name, fn, pickler, self.ship_limit))
        with contextlib.suppress(TypeError):  # not weakly referable: checked again next time
            self._ship_checked[id(fn)] = travels
        return travels

    def task(self, spec: ToolSpec, node: str) -> Any:
        """The tool's remote function with its request's options, pinned to ``node``.

        Tools of one function (every node of a LangGraph graph runs the adapter's) share
        one remote function, so that Ray reuses a worker lease from one to the next; each
        call is named after its tool."""
        pinned = self._pinned.get((spec, node))
        if pinned is None:
            key = (spec.fn, spec.is_async, spec.resources.gpus)
            function = self._functions.get(key)
            if function is None:
                self.check_code(spec)
                function = remote_function(tool_task(spec, self.max_result), spec)
                self._functions[key] = function
            pinned = function.options(name=spec.name, **self.options(spec, node))
            self._pinned[spec, node] = pinned
        return pinned

    def bundle(self, spec: ToolSpec, node: str, size: int) -> Any:
        """The remote function running ``size`` tiny calls of the tool on ``node``."""
        key = (spec, node, size)
        remote = self._bundles.get(key)
        if remote is None:
            function = self._bundle_functions.get(spec)
            if function is None:
                self.check_code(spec)
                function = remote_function(tool_bundle(spec, self.max_result), spec)
                self._bundle_functions[spec] = function
            pinned = {**self.options(spec, node), "num_returns": size + 1}
            remote = self._bundles[key] = function.options(name=f"{spec.name}*", **pinned)
        return remote

    def actor_task(self, spec: ToolSpec) -> bytes:
        """What actors (model actors, lanes) get in each call to run ``spec``: its task
        function as a pickled ``Shipped``, made once. Ray passes bytes as they are, where
        it would run a function or a ``Shipped`` through its cloudpickle on every call
        (~0.2 ms of a lane call's submit, measured); the actor unpickles it from its cache."""
        execute = self._actor_tasks.get(spec)
        if execute is None:
            self.check_code(spec)
            shipped = Shipped(tool_task(spec, self.max_result), ray_module().cloudpickle)
            execute = self._actor_tasks[spec] = pickle.dumps(shipped, pickle.HIGHEST_PROTOCOL)
        return execute

    def options(self, spec: ToolSpec, node: str) -> dict[str, Any]:
        """Ray options for one call of ``spec`` pinned to ``node``."""
        found = self._options.get((spec, node))
        if found is None:
            found = self._options[spec, node] = options(spec.resources, node)
        return found


def options(resources: Any, node_id: str) -> dict[str, Any]:
    """The request as Ray options, hard-pinned to the node the scheduler chose."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    chosen: dict[str, Any] = {
        "num_cpus": resources.cpus,
        "num_gpus": resources.gpus,
        "num_returns": 2,
        "max_retries": 0,  # Maze retries, with the scheduler choosing the node again
        "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id, soft=False),
    }
    if resources.memory:
        chosen["memory"] = resources.memory
    if resources.custom:
        chosen["resources"] = dict(resources.custom)
    return chosen


def remote_function(task: Callable[..., Any], spec: ToolSpec) -> Any:
    """``ray.remote(task)``; for GPU tools declared with their GPUs, so that Ray gives each
    call a fresh worker process (its default for GPU tasks: device memory is freed and
    ``CUDA_VISIBLE_DEVICES`` is right for a CUDA context made once per process). Tools that
    should keep state on the device between calls declare ``load=`` (model actors)."""
    gpus = spec.resources.gpus
    return ray_module().remote(num_gpus=gpus)(task) if gpus else ray_module().remote(task)
