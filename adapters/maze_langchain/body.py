"""The worker's side of a remote tool call: what travels (:class:`ToolCallBody`), what
comes back (:class:`ToolReply`), and :func:`run_tool`, which runs the body as LangChain's
``run``/``arun`` would, with what the caller's process holds reached over the call's
channel: the callback events of what runs inside go up as they happen, and so do stream
chunks and ``emit_output_delta`` deltas; a tool's own ``_run`` gets a run manager standing
for the caller's tool run; ``ToolRuntime.store`` is the caller's store (see
:mod:`maze_core.run.worker.stores`), and ``ToolRuntime.tools`` the agent's tools, fetched
from the caller the first time the body looks at them (:class:`CallerTools`).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import sys
from typing import Any

from maze_core import MazeError
from maze_core.run.worker import channel
from maze_core.run.worker.call import settle
from maze_core.run.worker.callbacks import forwarding_handler
from maze_core.run.worker.stores import channel_store

__all__ = [
    "TOOLS",
    "CallerTools",
    "StoreLeftBehind",
    "ToolCallBody",
    "ToolReply",
    "delta_var",
    "invoke",
    "is_tool_runtime",
    "optional_class",
    "run_tool",
]


@dataclasses.dataclass(slots=True)
class ToolCallBody:
    """One call of a tool's body, as a worker receives it."""

    target: Any  # the tool's function, or the tool (a BaseTool with its own _run/_arun)
    asynchronous: bool  # called through arun: use the coroutine / _arun when there is one
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    config: dict[str, Any]
    streaming: bool = False  # the caller's callbacks want chat models to stream
    watched: bool = False  # the caller has callback handlers: forward the events inside
    tool_run: tuple[Any, ...] | None = None  # the caller's tool run: id, parent, tags, metadata


@dataclasses.dataclass(slots=True)
class ToolReply:
    """What the body returned, and the chunks it wrote to ``runtime.stream_writer``."""

    value: Any
    chunks: list[Any]


def run_tool(call: ToolCallBody) -> ToolReply:
    """Worker side: run the body as LangChain's ``run``/``arun`` would. The caller reports
    the call's own start and end; the events of what runs inside go up the call's channel,
    and so do stream chunks (kept for the reply where there is no channel)."""
    from langchain_core.runnables.config import set_config_context
    from langchain_core.tools import BaseTool

    target, kwargs, chunks, config = call.target, dict(call.kwargs), [], call.config
    link = channel.link()
    writer = chunks.append if link is None else functools.partial(_emit, link, "chunk")
    if link is not None and call.watched:
        config = {**config, "callbacks": [forwarding_handler(link, streaming=call.streaming)]}
    for name, value in kwargs.items():
        if is_tool_runtime(value):
            store = value.store
            if isinstance(store, StoreLeftBehind) and link is not None:  # the caller's, live
                store = channel_store(link, subject=f"tool {store.tool!r}", fix=store.fix)
            if isinstance(value.tools, CallerTools):
                value.tools.link = link
            kwargs[name] = dataclasses.replace(value, stream_writer=writer, store=store)
    with set_config_context(config) as context:  # type: ignore[arg-type]
        deltas = delta_var()
        if deltas is not None and link is not None:  # emit_output_delta goes up as it comes
            context.run(deltas.set, functools.partial(_emit, link, "delta"))
        if isinstance(target, BaseTool):
            own_arun = type(target)._arun is not BaseTool._arun
            asynchronous = call.asynchronous and own_arun
            method = target._arun if asynchronous else target._run
            manager = _run_manager(call, config, asynchronous)
            value = context.run(invoke, method, call.args, kwargs, config, manager, is_tool=True)
        else:
            value = context.run(invoke, target, call.args, kwargs, config, None, is_tool=False)
        value = context.run(settle, value)
    return ToolReply(value, chunks)


def _run_manager(call: ToolCallBody, config: Any, asynchronous: bool) -> Any:
    """The run manager a tool's own ``_run``/``_arun`` gets, as in place: the caller's tool
    run (its id, parent, tags and metadata), its events (``on_text``, what
    ``get_child()`` runs) going to the caller's handlers over the channel."""
    if call.tool_run is None:
        return None
    from langchain_core.callbacks.manager import (
        AsyncCallbackManagerForToolRun,
        CallbackManagerForToolRun,
    )

    run_id, parent_run_id, tags, metadata = call.tool_run
    handlers = list(config.get("callbacks") or []) if call.watched else []
    manager = AsyncCallbackManagerForToolRun if asynchronous else CallbackManagerForToolRun
    return manager(
        run_id=run_id,
        handlers=handlers,
        inheritable_handlers=handlers,
        parent_run_id=parent_run_id,
        tags=tags,
        inheritable_tags=tags,
        metadata=metadata,
        inheritable_metadata=metadata,
    )


def _emit(link: channel.Link, kind: str, value: Any) -> None:
    link.emit((kind, value))


def invoke(
    method: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    config: Any,
    run_manager: Any,
    *,
    is_tool: bool,
) -> Any:
    """Call a tool's ``_run``/``_arun`` (``is_tool``) or function the way LangChain does:
    the run manager only to a ``_run`` that takes one, the config to the parameter
    annotated ``RunnableConfig`` (LangChain's own helpers decide both, so the twin sees
    exactly what the original would)."""
    from langchain_core.tools.base import _get_runnable_config_param
    from langchain_core.utils._signature import _signature_parameters

    extra: dict[str, Any] = {}
    if is_tool and "run_manager" in _signature_parameters(method):
        extra["run_manager"] = run_manager
    if param := _get_runnable_config_param(method):
        extra[param] = config
    return method(*args, **kwargs, **extra)


def delta_var() -> Any:
    """LangGraph's writer of the current tool call's ``tools`` stream-mode deltas (a context
    variable its stream handler sets at the call's start); None where LangGraph is not
    loaded (then no ``ToolRuntime`` exists to call ``emit_output_delta``)."""
    return getattr(sys.modules.get("langgraph.pregel._tools"), "_tool_call_writer", None)


@functools.cache
def optional_class(module: str, name: str) -> type | None:
    """A class of LangGraph's (``module.name``), or None where LangGraph is not installed:
    LangChain tools run without it, and then no value can be one."""
    try:
        found: type = getattr(importlib.import_module(module), name)
    except ImportError:
        return None
    return found


def is_tool_runtime(value: Any) -> bool:
    runtime_type = optional_class("langgraph.prebuilt.tool_node", "ToolRuntime")
    return runtime_type is not None and isinstance(value, runtime_type)


class StoreLeftBehind:
    """What travels for ``ToolRuntime.store``: the graph's store is a live connection of
    the caller's process. The worker puts the caller's store in its place, reached over
    the call's channel; where the runtime has no channel, any use says what to do."""

    def __init__(self, tool: str) -> None:
        self.tool = tool

    @property
    def fix(self) -> str:
        return (
            "take the store as an InjectedStore argument (such calls run in place), or keep"
            f" the tool local: MazeToolMiddleware(keep_local=[{self.tool!r}])"
        )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise MazeError(
            f"tool {self.tool!r} used runtime.store in a Maze worker, which does not have"
            " the graph's store",
            fix=self.fix,
            culprit=self.tool,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoreLeftBehind, (self.tool,))


TOOLS = "tools"  # the kind of a channel request for the agent's tools (ToolRuntime.tools)


class CallerTools(list[Any]):
    """What travels for ``ToolRuntime.tools``: the agent's tools, fetched from the caller
    over the call's channel the first time the body reads the list (most bodies never do,
    and a tool list costs ~0.2 ms a tool to pickle). Then it is a list of copies, as a
    worker has of everything it is given; a tool that cannot travel (it holds a client
    with a lock) is there by name and description, and calling it says why it cannot run
    here. Where the runtime has no channel, reading the list raises a MazeError."""

    def __init__(self, tool: str) -> None:
        super().__init__()
        self.tool = tool
        self.link: channel.Link | None = None
        self._fetched = False

    def _fetch(self) -> None:
        if self._fetched:
            return
        if self.link is None:
            raise MazeError(
                f"tool {self.tool!r} read runtime.tools in a Maze worker that cannot reach"
                " its caller",
                fix=f"keep the tool local: MazeToolMiddleware(keep_local=[{self.tool!r}])",
                culprit=self.tool,
            )
        list.extend(self, self.link.ask((TOOLS,)))
        self._fetched = True

    def __radd__(self, other: Any) -> Any:
        if not isinstance(other, list):
            return NotImplemented
        return [*other, *self]

    def __reduce__(self) -> tuple[Any, ...]:
        return (CallerTools, (self.tool,))


def _fetched_first(name: str) -> Any:
    method = getattr(list, name)

    def call(self: CallerTools, *args: Any, **kwargs: Any) -> Any:
        self._fetch()
        return method(self, *args, **kwargs)

    call.__name__ = name
    return call


for _name in (
    *("__len__", "__iter__", "__reversed__", "__getitem__", "__contains__", "__repr__"),
    *("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__mul__"),
    *("__iadd__", "__imul__", "__setitem__", "__delitem__", "append", "extend", "insert"),
    *("pop", "remove", "clear", "index", "count", "copy", "sort", "reverse"),
):
    setattr(CallerTools, _name, _fetched_first(_name))
