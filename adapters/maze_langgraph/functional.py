"""The functional API (``@entrypoint`` / ``@task``): tasks distributed, entrypoint body local.

An entrypoint's body orchestrates: it calls tasks and waits for their futures, so it stays
in the driver. While it runs, the ``call`` hook LangGraph puts in its config (what a
``@task`` call goes through) is wrapped so that each task function is replaced by a stub
running it as a Maze task; LangGraph still schedules, retries, caches and checkpoints the
task around the stub. A task runs as a plain call on the worker: ``interrupt()`` and
``get_stream_writer()`` inside a ``@task`` are not available remotely (call them in the
entrypoint).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from typing import Any

from maze_core import Resources, Workflow
from maze_core.errors import user_exception
from maze_core.run.executors import settle
from maze_core.run.runtime import Runtime
from maze_core.tools import make_spec

__all__ = ["distribute_entrypoint"]


def distribute_entrypoint(graph: Any, runtime: Runtime) -> Any:
    """A copy of an ``@entrypoint`` graph whose tasks run as Maze tasks."""
    from langgraph._internal._runnable import RunnableCallable

    nodes = {}
    for name, node in graph.nodes.items():
        bound = node.bound
        if name.startswith("__") or not isinstance(bound, RunnableCallable):
            continue
        wrapped = copy.copy(bound)
        if bound.func is not None:
            wrapped.func = _intercepting(bound.func, runtime)
        if bound.afunc is not None:
            wrapped.afunc = _intercepting_async(bound.afunc, runtime)
        nodes[name] = node.copy(update={"bound": wrapped})
    return graph.copy(update={"nodes": {**graph.nodes, **nodes}})


def _swap_call(runtime: Runtime) -> tuple[dict[str, Any], Any]:
    from langgraph._internal._constants import CONF, CONFIG_KEY_CALL
    from langgraph.config import get_config

    conf = get_config()[CONF]
    original = conf[CONFIG_KEY_CALL]

    def call(func: Callable[..., Any], input: Any, **options: Any) -> Any:
        return original(_remote(func, runtime), input, **options)

    conf[CONFIG_KEY_CALL] = call
    return conf, original


def _intercepting(func: Callable[..., Any], runtime: Runtime) -> Callable[..., Any]:
    from langgraph._internal._constants import CONFIG_KEY_CALL

    @functools.wraps(func)
    def body(*args: Any, **kwargs: Any) -> Any:
        conf, original = _swap_call(runtime)
        try:
            return func(*args, **kwargs)
        finally:
            conf[CONFIG_KEY_CALL] = original

    return body


def _intercepting_async(func: Callable[..., Any], runtime: Runtime) -> Callable[..., Any]:
    from langgraph._internal._constants import CONFIG_KEY_CALL

    @functools.wraps(func)
    async def body(*args: Any, **kwargs: Any) -> Any:
        conf, original = _swap_call(runtime)
        try:
            return await func(*args, **kwargs)
        finally:
            conf[CONFIG_KEY_CALL] = original

    return body


def run_task(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Worker side: the task function, called plainly (awaited if it is async)."""
    return settle(func(*args, **kwargs))


@functools.cache
def _task_graph(func: Callable[..., Any]) -> Any:
    """A one-task workflow running ``func`` (built once per task function)."""
    name = getattr(func, "__qualname__", getattr(func, "__name__", "task"))
    name = name.replace("<", "").replace(">", "")
    spec = make_spec(run_task, resources=Resources(), name=name)  # by reference, not a closure
    workflow = Workflow(f"task:{name}")
    workflow.add(
        spec,
        workflow.input("func"),
        workflow.input("args"),
        workflow.input("kwargs"),
        task_name="task",
    )
    return workflow.build()


def _remote(func: Callable[..., Any], runtime: Runtime) -> Callable[..., Any]:
    graph = _task_graph(func)
    travels = runtime.ship(func, next(iter(graph.tasks.values())).spec.name)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def astub(*args: Any, **kwargs: Any) -> Any:
            result = await runtime.submit(graph, func=travels, args=args, kwargs=kwargs)
            return _value(result)

        return astub

    @functools.wraps(func)
    def stub(*args: Any, **kwargs: Any) -> Any:
        return _value(runtime.call(graph, func=travels, args=args, kwargs=kwargs))

    return stub


def _value(result: Any) -> Any:
    record = result.tasks["task"]
    if record.status != "done":
        raise user_exception(record.error, "task")
    return result["task"]
