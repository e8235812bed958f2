"""``remote_tool(tool)``: the same LangChain tool, its body run as a Maze task.

The twin is the tool itself, copied into a subclass of its own class (made once per wrapped
tool) that overrides only ``_run`` and ``_arun``. So LangChain's ``run``/``arun`` still do
everything around the body in the caller's process, exactly as for the original: parse and
validate the input (``handle_validation_error``), inject the tool-call id and state, call
callbacks, turn a ``ToolException`` into an error message (``handle_tool_error``), split
``content_and_artifact`` and build the ``ToolMessage``. What crosses to a worker is the body:
the tool's function (``StructuredTool`` and ``Tool``) or the tool object (a ``BaseTool``
subclass with its own ``_run``), with the parsed arguments and the config stripped of the
caller's live objects (:mod:`maze_core.run.worker.portable`). An exception the body raises is raised
again in the caller, with its own type.

Over the call's channel (where the runtime has one: see
:mod:`maze_core.run.worker.channel`), the callback events of what runs inside the body (a
chat model it calls, say) reach the caller's handlers under the tool's run as they happen,
and ``ToolRuntime.stream_writer`` chunks reach the caller's writer as they are written.

Injected arguments: a tool-call id and ``InjectedState`` travel as values; a ``ToolRuntime``
travels without its live parts, which the worker reaches over the call's channel: its
stream writer (chunks are replayed into the caller's writer when the call returns, where
there is no channel), the graph's store (a live connection whose copy's writes would be
lost: ``runtime.store`` runs each batch of operations against the caller's store) and its
tools (fetched when the body first reads ``runtime.tools``). With no channel, using the
store or the tools raises a MazeError saying what to do. A call that takes the store as an
``InjectedStore`` argument runs in place, in the caller's process.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from langchain_core.runnables import RunnableConfig  # at run time: LangChain reads _run's hints

from maze_core import MazeError, Remote, Resources, Runtime, get_runtime
from maze_core.run.worker.callbacks import CallerEvents, streams, watched
from maze_core.run.worker.portable import pickles, portable_config
from maze_core.run.worker.stores import STORE
from maze_core.tools import Kind, as_resources
from maze_langchain.body import (
    TOOLS,
    CallerTools,
    StoreLeftBehind,
    ToolCallBody,
    ToolReply,
    delta_var,
    invoke,
    is_tool_runtime,
    optional_class,
    run_tool,
)

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

__all__ = ["ToolCallBody", "remote_tool", "run_tool", "twin"]


def _tool_run(run_manager: Any) -> tuple[Any, ...] | None:
    """What a worker needs to stand in for the caller's tool run (None without one)."""
    if run_manager is None:
        return None
    tags = list(getattr(run_manager, "inheritable_tags", None) or [])
    metadata = getattr(run_manager, "inheritable_metadata", None) or {}
    metadata = {key: value for key, value in metadata.items() if pickles(value)}
    return (run_manager.run_id, run_manager.parent_run_id, tags, metadata)


def remote_tool(
    tool: BaseTool,
    *,
    resources: Resources | Mapping[str, Any] | None = None,
    runtime: Runtime | str | None = None,
    model: str | None = None,
    kind: Kind | None = None,
    provider: str | None = None,
) -> BaseTool:
    """A twin of ``tool`` (same name, description, schema, ``return_direct``,
    ``response_format``, error handling, sync/async behaviour) whose body runs as a Maze
    task on ``runtime`` (default: the shared local ``processes`` runtime).

    Where: a body that waits (``kind="io"``) runs in the caller, as the original would,
    holding no CPU slot; one that computes runs in a worker process (or on Ray) with
    ``resources`` (default 1 CPU). A tool declaring neither ``kind``, ``resources`` nor
    ``model`` runs in the caller until the runtime has learned from its calls that it
    computes (see :mod:`maze_core.predict.kinds`). ``provider`` names the rate-limited
    service the body waits on: it runs in the caller holding one unit of the runtime's
    limit for it (see :mod:`maze_core.run.providers`). Raises MazeError at once when the
    body cannot be pickled for a worker."""
    from langchain_core.tools import BaseTool

    if isinstance(getattr(tool, "maze_body", None), _Body):  # a twin: wrap its original
        tool = tool.maze_body.tool
    if not isinstance(tool, BaseTool):
        raise MazeError(
            f"remote_tool() takes a LangChain BaseTool, not {type(tool).__name__}",
            fix="wrap a function with langchain_core.tools.tool first, or use a Maze @tool",
            culprit=tool,
        )
    declared = as_resources(resources, f"tool {tool.name!r} has resources")
    options = {"resources": declared, "kind": kind, "model": model, "provider": provider}
    return twin(tool, get_runtime("processes" if runtime is None else runtime), options)


def twin(tool: BaseTool, runtime: Runtime, options: Mapping[str, Any]) -> BaseTool:
    """The twin of ``tool`` whose body is a Maze tool with ``options`` (of ``make_spec``)."""
    body = _Body(tool, runtime, options)
    namespace = {
        "__module__": type(tool).__module__,
        "__qualname__": type(tool).__qualname__,
        "__annotations__": {"maze_body": ClassVar[Any]},
        "maze_body": body,
        "_run": _run,
        "_arun": _arun,
        # LangChain reads a BaseTool's schema and injected arguments off its _run: the
        # original's, not the twin's
        "get_input_schema": _input_schema,
        "_injected_args_keys": functools.cached_property(_injected_args_keys),
    }
    clone = tool.model_copy()
    clone.__class__ = type(type(tool).__name__, (type(tool),), namespace)
    return clone


def _run(
    self: Any, *args: Any, config: RunnableConfig, run_manager: Any = None, **kwargs: Any
) -> Any:
    """The twin's body: a Maze task, in a worker or (the original's own body) in place; see
    the module doc."""
    body: _Body = self.maze_body
    if body.in_place(kwargs, asynchronous=False) or body.remote.runs_here():
        original = type(self).__mro__[1]._run.__get__(self)
        in_place = functools.partial(
            invoke, original, args, kwargs, config, run_manager, is_tool=True
        )
        return body.remote.here(in_place)
    return body.finish(body.run(args, kwargs, config, run_manager), kwargs)


async def _arun(
    self: Any, *args: Any, config: RunnableConfig, run_manager: Any = None, **kwargs: Any
) -> Any:
    body: _Body = self.maze_body
    if body.in_place(kwargs, asynchronous=True) or body.remote.runs_here():
        in_place = functools.partial(_arun_in_place, self, args, kwargs, config, run_manager)
        return await body.remote.ahere(in_place)
    return body.finish(await body.arun(args, kwargs, config, run_manager), kwargs)


async def _arun_in_place(
    tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any], config: Any, run_manager: Any
) -> Any:
    """The original's async body, as LangChain's ``arun`` runs it."""
    from langchain_core.tools import BaseTool

    original = type(tool).__mro__[1]
    if original._arun is BaseTool._arun:  # LangChain runs the sync body in a thread
        sync = functools.partial(
            invoke, original._run.__get__(tool), args, kwargs, config, None, is_tool=True
        )
        return await asyncio.to_thread(contextvars.copy_context().run, sync)
    method = original._arun.__get__(tool)
    return await invoke(method, args, kwargs, config, run_manager, is_tool=True)


def _input_schema(self: Any, config: RunnableConfig | None = None) -> Any:
    return self.maze_body.tool.get_input_schema(config)


def _injected_args_keys(self: Any) -> frozenset[str]:
    keys: frozenset[str] = self.maze_body.tool._injected_args_keys
    return keys


class _Body:
    """The wrapped tool's body as a Maze tool (run by :func:`run_tool` in a worker)."""

    def __init__(self, tool: BaseTool, runtime: Runtime, options: Mapping[str, Any]) -> None:
        self.tool = tool
        self.name = tool.name
        self.function_based = _function_based(tool)
        self.remote = Remote(run_tool, name=tool.name, runtime=runtime, **options)
        self.travels = {id(target): self._check(target) for target in self._targets()}

    def _targets(self) -> list[Any]:
        if not self.function_based:
            return [self.tool]
        functions = (getattr(self.tool, "func", None), getattr(self.tool, "coroutine", None))
        return [function for function in functions if function is not None]

    def _check(self, target: Any) -> Any:
        """What travels for ``target``, once it is known it can."""
        return self.remote.carry(
            target,
            subject=f"tool {self.name!r} cannot run in a worker",
            fix="create such objects inside the tool's function (or load them there once),"
            " or do not wrap this tool with remote_tool",
        )

    def in_place(self, kwargs: Mapping[str, Any], *, asynchronous: bool) -> bool:
        """Whether this call stays in the caller: it gets the graph's store, or the tool
        has no body for this mode (LangChain then raises, or runs the sync body in a
        thread, exactly as without Maze)."""
        if any(_is_store(value) for value in kwargs.values()):
            return True
        if not self.function_based:
            return False
        if asynchronous:
            return False
        return getattr(self.tool, "func", None) is None

    def run(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: Any, run_manager: Any = None
    ) -> ToolReply:
        """Run the tool's sync body as a Maze task and wait for its reply."""
        call = self.call(False, args, kwargs, config, run_manager)
        end = _CallerEnd(config, kwargs)
        reply: ToolReply = self.remote.call((call,), handler=end)
        return reply

    async def arun(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: Any, run_manager: Any = None
    ) -> ToolReply:
        """The same for the async body, without blocking the event loop."""
        call = self.call(True, args, kwargs, config, run_manager)
        end = _CallerEnd(config, kwargs)
        reply: ToolReply = await self.remote.acall((call,), handler=end, coroutine=True)
        return reply

    def call(
        self,
        asynchronous: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        config: Any,
        run_manager: Any = None,
    ) -> ToolCallBody:
        """What a worker needs to run the tool's body once (``run_manager``: the caller's
        tool run, which a tool's own ``_run`` gets in the worker as it would in place)."""
        target = self.tool
        if self.function_based:
            coroutine = getattr(self.tool, "coroutine", None)
            target = coroutine if asynchronous and coroutine is not None else self.tool.func
        portable = _portable_kwargs(kwargs, self.name)
        target = self.travels.get(id(target), target)
        callbacks = (config or {}).get("callbacks")
        return ToolCallBody(
            target,
            asynchronous,
            args,
            portable,
            portable_config(config),
            streams(callbacks),
            watched(callbacks),
            _tool_run(run_manager),
        )

    def finish(self, reply: ToolReply, kwargs: Mapping[str, Any]) -> Any:
        """The body's value, its stream chunks (when they did not go live) replayed into
        the caller's writer."""
        writer = _writer_of(kwargs)
        for chunk in reply.chunks:
            if writer is not None:
                writer(chunk)
        return reply.value


class _CallerEnd(CallerEvents):
    """The caller's end of a tool call's channel: the body's stream chunks go to the
    caller's writer, its callback events to the tool run's handlers."""

    def __init__(self, config: Any, kwargs: Mapping[str, Any]) -> None:
        super().__init__(_writer_of(kwargs), (config or {}).get("callbacks"))
        runtimes = [value for value in kwargs.values() if is_tool_runtime(value)]
        self.store = runtimes[0].store if runtimes else None  # the graph's, live
        self.tools = runtimes[0].tools if runtimes else None
        var = delta_var()
        self.deltas = var.get() if var is not None else None  # this tool call's, if streamed

    def event(self, message: tuple[Any, ...]) -> None:
        if message[0] == "delta":  # ToolRuntime.emit_output_delta in the body
            if self.deltas is not None:
                self.context.run(self.deltas, message[1])
            return
        super().event(message)

    def serve(self, request: Any) -> Any:
        if request[0] == STORE and self.store is not None:  # runtime.store in the body
            return self.context.run(self.store.batch, request[1])
        if request[0] == TOOLS and self.tools is not None:  # runtime.tools read in the body
            return [travelling(tool) for tool in self.tools]
        raise MazeError(
            f"a remote tool asked its caller for {request!r:.40}, which it does not serve",
            fix="report this: the tool's worker and its caller disagree",
            culprit=request,
        )


def travelling(tool: BaseTool) -> BaseTool:
    """A tool of the agent as a worker's ``runtime.tools`` holds it: the tool itself (a
    Maze twin's original: the worker runs what it calls in place), or, where it cannot
    travel, a tool of the same name, description and arguments whose call says why."""
    body = getattr(tool, "maze_body", None)
    original: BaseTool = body.tool if isinstance(body, _Body) else tool
    if pickles(original):
        return original
    from langchain_core.tools import StructuredTool

    return StructuredTool(
        name=original.name,
        description=original.description,
        args_schema={"type": "object", "properties": dict(original.args)},
        func=functools.partial(_left_behind, original.name, type(original).__name__),
    )


def _left_behind(name: str, kind: str, **_: Any) -> Any:
    raise MazeError(
        f"tool {name!r} ({kind}) holds what cannot travel to a Maze worker, so a tool"
        " running there cannot call it through runtime.tools",
        fix=f"keep the calling tool local: MazeToolMiddleware(keep_local=[...]), or {name!r}"
        " picklable",
        culprit=name,
    )


def _writer_of(kwargs: Mapping[str, Any]) -> Any:
    """The caller's stream writer of a ToolRuntime argument, if there is one."""
    runtimes = (value for value in kwargs.values() if is_tool_runtime(value))
    return next((runtime.stream_writer for runtime in runtimes), None)


def _function_based(tool: BaseTool) -> bool:
    """Whether the body is the tool's ``func``/``coroutine`` (StructuredTool, Tool): then
    only the function travels, not the tool with its generated schema classes."""
    from langchain_core.tools import StructuredTool, Tool

    return type(tool)._run in (StructuredTool._run, Tool._run)


def _portable_kwargs(kwargs: Mapping[str, Any], tool: str) -> dict[str, Any]:
    """The body's keyword arguments; a ``ToolRuntime`` without its live parts."""
    portable = {}
    for name, value in kwargs.items():
        if is_tool_runtime(value):
            value = dataclasses.replace(
                value,
                config=portable_config(value.config),
                stream_writer=None,
                tools=CallerTools(tool),
                store=None if value.store is None else StoreLeftBehind(tool),
            )
        portable[name] = value
    return portable


def _is_store(value: Any) -> bool:
    store_type = optional_class("langgraph.store.base", "BaseStore")
    return store_type is not None and isinstance(value, store_type)
