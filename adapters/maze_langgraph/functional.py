"""The functional API (``@entrypoint`` / ``@task``): tasks distributed, entrypoint body local.

An entrypoint's body orchestrates: it calls tasks and waits for their futures, so it stays
in the driver. While it runs, the ``call`` hook LangGraph puts in its config (what a
``@task`` call goes through) is wrapped so that each task function is replaced by a stub
running it as a Maze task; LangGraph still schedules, retries, caches and checkpoints the
task around the stub. Where a task runs is learned as for nodes (see
:func:`maze_langgraph.distribute`): in the caller until its calls prove to compute. In a
worker, a task runs as a node does (see
:mod:`maze_langgraph.remote`), inside its own rebuilt context: ``interrupt()`` (resumed
with ``Command(resume=...)``), ``get_stream_writer()``, ``get_store()`` and callbacks work
as in place, over the call's channel where the runtime has one.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import warnings
from collections.abc import Callable
from typing import Any

from maze_core import Remote, Runtime, SerializationError
from maze_core.run.remote import is_coroutine
from maze_core.run.worker.captured import Captured
from maze_core.run.worker.shipping import pickled
from maze_core.run.worker.wire import BY_VALUE
from maze_langgraph.driver import current_config, finish, prepare
from maze_langgraph.in_caller import why_in_caller
from maze_langgraph.remote import run_node

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
    from maze_langgraph.nodes import with_nodes

    return with_nodes(graph, nodes)


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


@functools.cache
def _in_place(func: Callable[..., Any], runtime: Runtime) -> bool:
    """Whether the task runs in the caller: it must (see ``in_caller``), or it holds what
    cannot travel to the runtime's workers (a lock, a threading.Event: one warning names
    it, and it runs as it would without Maze)."""
    if why_in_caller(func) is not None:
        return True
    if runtime.shares_memory:
        return False
    name = getattr(func, "__qualname__", getattr(func, "__name__", "task"))
    try:
        pickled(func, BY_VALUE, f"task {name!r} cannot run in a worker", fix="")
    except SerializationError as error:
        warnings.warn(f"maze: {error.problem}; it runs in this process", stacklevel=4)
        return True
    return False


@functools.cache
def _remote_of(
    func: Callable[..., Any], runtime: Runtime
) -> tuple[Remote, _TaskBody, Captured | None]:
    """``func`` as a Maze tool on ``runtime`` (made once per task function and runtime),
    what travels in its place with each call, and what it captures to keep in step."""
    name = getattr(func, "__qualname__", getattr(func, "__name__", "task"))
    remote = Remote(run_node, name=name.replace("<", "").replace(">", ""), runtime=runtime)
    # checked where it must travel: a task on threads may hold anything
    travels = remote.carry(
        func,
        subject=f"task {name!r} cannot run in a worker",
        fix="create such objects inside the task, or run the entrypoint on the threads runtime",
        check=False,
    )
    body = _TaskBody(travels)
    return remote, body, None if runtime.shares_memory else Captured.of(_TaskBody(func))


@dataclasses.dataclass(frozen=True, slots=True)
class _TaskBody:
    """A task function as a node body: its input is the call's (args, kwargs)."""

    fn: Callable[..., Any]

    @property
    def __wrapped__(self) -> Callable[..., Any]:  # where its captured values are
        return self.fn

    def __call__(self, input: tuple[tuple[Any, ...], dict[str, Any]]) -> Any:
        args, kwargs = input
        return self.fn(*args, **kwargs)


def _remote(func: Callable[..., Any], runtime: Runtime) -> Callable[..., Any]:
    if _in_place(func, runtime):
        return func
    remote, body, captured = _remote_of(func, runtime)
    if is_coroutine(func):

        @functools.wraps(func)
        async def astub(*args: Any, **kwargs: Any) -> Any:
            if remote.runs_here():  # as LangGraph runs it, scheduled by Maze
                return await remote.ahere(functools.partial(func, *args, **kwargs))
            call, loop = prepare(body, (args, kwargs), {}, current_config(), captured)
            try:
                reply = await remote.acall((call,), handler=loop, coroutine=True)
            except BaseException as error:
                loop.failed(error)
                raise
            return finish(reply, loop)

        astub.__name__ = _task_name(func)
        return astub

    @functools.wraps(func)
    def stub(*args: Any, **kwargs: Any) -> Any:
        if remote.runs_here():
            return remote.here(functools.partial(func, *args, **kwargs))
        call, loop = prepare(body, (args, kwargs), {}, current_config(), captured)
        try:
            reply = remote.call((call,), handler=loop)
        except BaseException as error:
            loop.failed(error)
            raise
        return finish(reply, loop)

    stub.__name__ = _task_name(func)
    return stub


def _task_name(func: Callable[..., Any]) -> str:
    """The name LangGraph gives a task of ``func`` (a partial is named after its function,
    an object after its class), which the stub standing for it must have too."""
    if hasattr(func, "__name__"):
        return str(func.__name__)
    if hasattr(func, "func"):
        return str(func.func.__name__)
    return type(func).__name__
