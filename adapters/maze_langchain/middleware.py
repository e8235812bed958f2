"""``MazeToolMiddleware``: every tool call of an existing agent becomes a Maze task.

For ``langchain.agents.create_agent(..., middleware=[MazeToolMiddleware()])``, and for a
LangGraph ``ToolNode(tools, wrap_tool_call=middleware.wrap_tool_call)``: each call's tool
is swapped for its :func:`~maze_langchain.remote_tool` twin (made once per tool) before
the agent's own handler runs it, so validation, injection, ``ToolMessage`` building and
error handling stay the agent's. The calls of one AI message, which the agent runs in
parallel, become parallel Maze tasks. With ``model_provider``, each call of the agent's
model is a task too, run in the caller holding a unit of that provider's limit, so the
runtime orders the model calls of every agent sharing the provider.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain.agents.middleware import AgentMiddleware

from maze_core import Remote, Resources, Runtime, get_runtime
from maze_core.tools import Kind, check_kinds
from maze_langchain.tools import remote_tool

__all__ = ["MazeToolMiddleware"]


class MazeToolMiddleware(AgentMiddleware):  # type: ignore[type-arg]
    """Run the agent's tool calls as Maze tasks on ``runtime`` (default: the shared local
    ``processes`` runtime): a tool that waits runs in the caller, as without Maze, holding
    no CPU slot; one that computes runs in a worker process (or on Ray). ``kinds`` maps
    tool names to a kind (``"io"``: in the caller; ``"cpu"``: in workers), or is one kind
    for every tool (``kinds="cpu"``, as ``distribute()`` takes it), ``resources``
    maps them to Resources (or dicts of them); a tool named in neither runs in the caller
    until the runtime has learned from its calls that it computes, then in workers with 1
    CPU (see :func:`~maze_langchain.remote_tool`). ``providers`` maps tool names to the
    rate-limited service each waits on (its calls hold a unit of the runtime's limit for
    it); ``model_provider`` names the one the agent's model calls wait on (they then hold
    a unit of it too, and a 429 is retried after a backoff, see
    :mod:`maze_core.run.providers`). Tools named in ``keep_local`` run as they would
    without Maze."""

    def __init__(
        self,
        *,
        resources: Mapping[str, Resources | Mapping[str, Any]] | None = None,
        kinds: Mapping[str, Kind] | Kind | None = None,
        providers: Mapping[str, str] | None = None,
        model_provider: str | None = None,
        runtime: Runtime | str | None = None,
        keep_local: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__()
        self.resources = dict(resources or {})
        self.kinds = _kinds(kinds)
        self.providers = dict(providers or {})
        self.runtime = get_runtime("processes" if runtime is None else runtime)
        self.keep_local = frozenset(keep_local)
        self._twins: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._model = (
            None
            if model_provider is None
            else Remote(_in_caller, name="model", runtime=self.runtime, provider=model_provider)
        )

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        if self._model is None:
            return handler(request)
        return self._model.here(lambda: handler(request))

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        if self._model is None:
            return await handler(request)
        return await self._model.ahere(lambda: handler(request))

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(self._remote(request))

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return await handler(self._remote(request))

    def _remote(self, request: Any) -> Any:
        """The request with its tool replaced by the tool's twin (unknown tools, which the
        agent reports as such, and tools kept local pass through)."""
        tool = request.tool
        if tool is None or tool.name in self.keep_local:
            return request
        with self._lock:
            twin = self._twins.get(id(tool))
            if twin is None or twin.maze_body.tool is not tool:
                twin = self._twins[id(tool)] = remote_tool(
                    tool,
                    resources=self.resources.get(tool.name),
                    kind=self.kinds.get(tool.name, self.kinds.get(_EVERY)),
                    provider=self.providers.get(tool.name),
                    runtime=self.runtime,
                )
        return request.override(tool=twin)


def _in_caller() -> None:
    """What a model call's task would run in a worker: it never does (the agent's model
    call runs in its caller, holding the provider's unit)."""
    raise AssertionError("a model call runs in its caller")


_EVERY = ""  # the key of a kind given for every tool (no tool has an empty name)


def _kinds(kinds: Mapping[str, Kind] | Kind | None) -> dict[str, Kind]:
    """``kinds=`` by tool name (one kind: under ``_EVERY``), each a kind Maze knows."""
    named: dict[str, Any] = {_EVERY: kinds} if isinstance(kinds, str) else dict(kinds or {})
    check_kinds(named, "tool")
    return named
