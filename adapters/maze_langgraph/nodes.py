"""``distribute(compiled_graph)``: the same graph, its node bodies run as Maze tasks.

LangGraph's Pregel loop stays where the graph is invoked: channels, reducers, routers,
``Send``, ``Command``, checkpointers, durability, retries, caching and interrupts keep working
untouched. Only node bodies move. Each node's bound ``RunnableCallable`` is copied with its
``func``/``afunc`` replaced by a stub (``functools.wraps`` keeps the signature LangGraph
injects ``config``/``runtime``/``writer`` by, and the name cache keys use) that submits a
one-task Maze run and waits for it; the compiled graph is copied with those nodes
(``compiled.copy(update={"nodes": ...})``), never rebuilt from its builder.

Nodes stay local (``maze_local_nodes`` maps each to the reason) when they cannot run
elsewhere: the start node, nodes that run a subgraph (their subgraph is distributed
instead), generator functions, nodes asking for the graph's ``store`` (a live connection),
error handlers, those named in ``keep_local``, and nodes whose function holds something that
cannot travel to a worker (a client with a lock, say: one warning names it). Distributing a
distributed graph distributes the original nodes again.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import dataclasses
import functools
import inspect
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from maze_core import (
    MazeError,
    Remote,
    Resources,
    RunHints,
    Runtime,
    SerializationError,
    get_runtime,
)
from maze_core.run.remote import is_coroutine
from maze_core.run.worker.captured import Captured
from maze_core.tools import Kind
from maze_langgraph.declared import Declared, Placement, declared, placement
from maze_langgraph.driver import LoopEnd, current_config, finish, prepare
from maze_langgraph.in_caller import why_in_caller
from maze_langgraph.remote import NodeCall, run_node
from maze_langgraph.structure import GraphShape

__all__ = ["distribute"]

_CONCURRENCY = 1024
_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "maze_langgraph_started", default=None
)  # when the outermost invocation began
_ENTRYPOINT = "the entrypoint (its tasks run in workers)"


def distribute(
    graph: Any,
    runtime: Runtime | str | None = None,
    *,
    resources: Mapping[str, Resources] | None = None,
    kinds: Mapping[str, Kind] | Kind | None = None,
    providers: Mapping[str, str] | None = None,
    keep_local: Iterable[str] = (),
    check: bool = True,
) -> Any:
    """Return a copy of the compiled LangGraph ``graph`` whose node bodies run as Maze tasks.

    ``runtime``: a Maze runtime or its name (default: the shared local ``processes``
    runtime; ``"ray"`` for a cluster). Where each node runs: a node that waits (``io``)
    runs in the caller, as plain LangGraph runs it, holding no CPU slot; one that computes
    runs in a worker with its resources. Nodes say so with ``kinds={"node": "io"}`` (or
    one kind for all: ``kinds="cpu"``), ``resources={"node": Resources(...)}`` or
    ``add_node(..., metadata={"maze": {"kind": ..., "resources": {...}, "model": ...}})``;
    a node declaring none of them runs in the caller until the runtime has learned from
    its calls that it computes (see :mod:`maze_core.predict.kinds`), then in workers with
    1 CPU. ``providers={"model": "openai"}`` (or metadata ``"provider"``) names the
    rate-limited service a node's calls wait on: the node runs in the caller holding one
    unit of the runtime's limit for it (``LocalRuntime(limits={"openai": 8})``), so Maze
    orders the calls of all invocations sharing it (see :mod:`maze_core.run.providers`).
    With ``check`` every distributed node's function must pickle, or a MazeError names the
    node and the object that would not.
    """
    from langgraph.graph.state import CompiledStateGraph
    from langgraph.pregel import Pregel

    if not isinstance(graph, Pregel):
        raise MazeError(
            f"distribute() takes a compiled LangGraph graph, not {type(graph).__name__}",
            fix="pass builder.compile() (a StateGraph must be compiled first)",
            culprit=graph,
        )
    chosen = runtime if isinstance(runtime, Runtime) or runtime is not None else "processes"
    target = get_runtime(chosen)
    if not isinstance(graph, CompiledStateGraph):  # @entrypoint: its tasks are distributed
        from maze_langgraph.functional import distribute_entrypoint

        kept = dict.fromkeys(graph.nodes, _ENTRYPOINT)
        return _stamped(distribute_entrypoint(graph, target), graph, kept, target)
    told = declared(graph, resources, kinds, providers, set(keep_local))
    nodes, kept = _distributed_nodes(graph, target, told, check)
    return _stamped(with_nodes(graph, nodes), graph, kept, target)


def _stamped(distributed: Any, plain: Any, kept: dict[str, str], runtime: Runtime) -> Any:
    """``distributed`` as the stamping subclass of its class, knowing its plain self (what
    it pickles as: inside a worker it runs there), its local nodes and its runtime."""
    distributed.__class__ = _stamping(type(plain))
    distributed.maze_plain = plain
    distributed.maze_local_nodes = kept
    distributed.maze_runtime = runtime
    return distributed


def _distributed_nodes(
    graph: Any, runtime: Runtime, told: Declared, check: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The graph's nodes that run as Maze tasks (by name), and why each other one stays
    local. A node holding what cannot travel stays too, with one warning naming it."""
    nodes: dict[str, Any] = {}
    kept: dict[str, str] = {}
    shape = GraphShape(graph)
    for name, node in graph.nodes.items():
        try:
            found = _distributed_node(graph, name, node, runtime, told, check, shape)
        except SerializationError as error:  # it runs here, as it would without Maze
            warnings.warn(f"maze: {error.problem}; it runs in this process", stacklevel=3)
            found = f"cannot travel to a worker: {error.problem}"
        if isinstance(found, str):
            kept[name] = found
        else:
            nodes[name] = found
    return nodes, kept


def _distributed_node(
    graph: Any,
    name: str,
    node: Any,
    runtime: Runtime,
    told: Declared,
    check: bool,
    shape: GraphShape,
) -> Any:
    """The node with its body as a Maze task, or its distributed subgraph; or why it stays
    local (a string)."""
    from langgraph._internal._runnable import RunnableCallable
    from langgraph.pregel import Pregel

    bound = node.bound
    if isinstance(bound, Pregel):  # a compiled graph as a node: distribute its nodes
        return node.copy(update={"bound": distribute(bound, runtime, check=check)})
    why = _local_reason(name, node, told.keep_local)
    if why is not None:
        return why
    if not isinstance(bound, RunnableCallable):
        return f"not a function ({type(bound).__name__})"
    afunc = _original(bound.afunc)
    func = _original(bound.func) or afunc
    if func is None:
        return "no function"
    for body in {func, afunc or func}:
        if inspect.isgeneratorfunction(body) or inspect.isasyncgenfunction(body):
            return "a generator (its chunks are produced here)"
        in_caller = why_in_caller(body)
        if in_caller is not None:
            return in_caller
    if "store" in bound.func_accepts and not runtime.channels:
        return "uses the graph's store, which this runtime's workers cannot reach yet"
    where = placement(name, node, told)
    submit = _NodeTask(graph.name or "graph", name, where, shape, runtime, func)
    submit.bodies(func, afunc or func, check)
    stub_bound = copy.copy(bound)
    stub_bound.func = submit.sync_stub()
    stub_bound.afunc = submit.async_stub()
    return node.copy(update={"bound": stub_bound})


def _local_reason(name: str, node: Any, keep_local: set[str]) -> str | None:
    """Why LangGraph's own structure keeps a node here (None: nothing does)."""
    if name.startswith("__"):
        return "LangGraph's own node"
    if name in keep_local:
        return "named in keep_local"
    if node.subgraphs:
        return _calls_graphs(name, node.subgraphs)
    if node.is_error_handler:
        return "an error handler"
    return None


def _calls_graphs(name: str, graphs: list[Any]) -> str:
    """Why a node whose function calls compiled graphs in its body stays here (LangGraph
    then runs them as its subgraphs, with this node's config); one warning when their nodes
    run in place too: Maze cannot reach into the function to swap the graph it calls."""
    plain = [graph for graph in graphs if not hasattr(graph, "maze_runtime")]
    if not plain:
        return "calls a distributed graph in its body"
    named = ", ".join(repr(getattr(graph, "name", None) or "LangGraph") for graph in plain)
    warnings.warn(
        f"maze: node {name!r} calls the compiled graph {named} in its body: that graph's"
        " nodes run in place, not as Maze tasks; add the graph itself as a node"
        " (builder.add_node(name, graph)), or call distribute(graph) once and have the node"
        " call the result",
        stacklevel=6,  # distribute()'s caller
    )
    return f"calls the compiled graph {named} in its body, whose nodes run in place"


def _original(func: Any) -> Any:
    """The node's own function, also when it is the stub of a distributed graph (then the
    graph is distributed anew, on the runtime given now)."""
    while getattr(func, "__maze_stub__", False):
        func = func.__wrapped__
    return func


class _NodeTask:
    """One node as a Maze tool (its body run by ``remote.run_node`` in a worker)."""

    def __init__(
        self,
        graph_name: str,
        node: str,
        placement: Placement,
        shape: GraphShape,
        runtime: Runtime,
        func: Any,
    ) -> None:
        self.node = node
        self.shape = shape
        origin = f"{getattr(func, '__module__', '')}:{getattr(func, '__qualname__', '')}"
        self.remote = Remote(
            run_node,
            name=f"{graph_name}.{node}".replace(" ", "_"),
            runtime=runtime,
            resources=placement.resources,
            kind=placement.kind,
            model=placement.model,
            observe=functools.partial(shape.observed, node),
            task=node,
            learn_as=f"{graph_name}.{node} {origin}",  # graphs share default names
            provider=placement.provider,
        )

    def bodies(self, func: Any, afunc: Any, check: bool) -> None:
        """The node's function for sync invocations and for async ones (a ToolNode has
        both: under ``ainvoke`` its async one awaits async-only tools)."""
        self.sync = self._body(func, check)
        self.async_ = self.sync if afunc is func else self._body(afunc, check)

    def _body(self, func: Any, check: bool) -> _Body:
        travels = self.remote.carry(  # what goes to workers in the function's place
            func,
            subject=f"node {self.node!r} cannot run in a worker",
            fix=f"create such objects inside the node, or keep it local:"
            f" distribute(graph, keep_local=[{self.node!r}])",
            check=check,
        )
        # what the body may change of its closure and globals, kept in step with workers
        captured = None if self.remote.runtime.shares_memory else Captured.of(func)
        return _Body(func, travels, captured, is_coroutine(func))

    def sync_stub(self) -> Any:
        body = self.sync

        @functools.wraps(body.func)
        def stub(state: Any, **injected: Any) -> Any:
            if self.remote.runs_here():  # as plain LangGraph runs it, scheduled by Maze
                hints = self._hints()
                return self.remote.here(lambda: body.func(state, **injected), hints=hints)
            call, loop, hints = self._call(body, state, injected)
            try:
                reply = self.remote.call((call,), hints=hints, handler=loop)
            except BaseException as error:
                loop.failed(error)
                raise
            return finish(reply, loop)

        stub.__maze_stub__ = True  # type: ignore[attr-defined]
        return stub

    def async_stub(self) -> Any:
        body = self.async_

        @functools.wraps(body.func)
        async def astub(state: Any, **injected: Any) -> Any:
            if self.remote.runs_here():  # as plain LangGraph runs it, scheduled by Maze
                run = functools.partial(_in_place, body, state, injected)
                return await self.remote.ahere(run, hints=self._hints())
            call, loop, hints = self._call(body, state, injected)
            try:
                reply = await self.remote.acall(
                    (call,), hints=hints, handler=loop, coroutine=body.coroutine
                )
            except BaseException as error:
                loop.failed(error)
                raise
            return finish(reply, loop)

        astub.__maze_stub__ = True  # type: ignore[attr-defined]
        return astub

    def _call(
        self, body: _Body, state: Any, injected: dict[str, Any]
    ) -> tuple[NodeCall, LoopEnd, RunHints]:
        """The picklable call, the caller's end of its channel, and what the scheduler
        should know: the invocation's age and the work left after this node."""
        config = injected.get("config") or current_config()
        call, loop = prepare(body.travels, state, injected, config, body.captured)
        return call, loop, self._hints()

    def _hints(self) -> RunHints:
        """The invocation's age and the work left after this node, for the scheduler."""
        return RunHints(_STARTED.get(), self.shape.work_after(self.node))


async def _in_place(body: _Body, state: Any, injected: dict[str, Any]) -> Any:
    """The node's body under ``ainvoke``, in place: awaited, or (a sync function) called
    on the event loop's thread, as LangGraph calls a node without an async function."""
    if body.coroutine:
        return await body.func(state, **injected)
    return body.func(state, **injected)


@dataclasses.dataclass(frozen=True, slots=True)
class _Body:
    """One function of a node as it runs remotely."""

    func: Any  # the user's
    travels: Any  # what goes to workers in its place
    captured: Captured | None  # what it captures, kept in step with workers
    coroutine: bool  # cancelled, it is interrupted and waited for


@functools.cache
def _stamping(cls: type) -> type:
    """``cls`` whose invocations note when they started, so all node tasks of one
    invocation (and of the subgraphs its nodes invoke) age together in the scheduler, and
    run up to ``_CONCURRENCY`` parallel nodes unless the config says otherwise. The start
    is a context variable, which LangGraph's node threads and tasks inherit: a key in the
    config would show in what users read (debug and checkpoint configs) and in LangGraph's
    own checks (a ``configurable`` is no longer empty)."""

    def stream(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        token = _STARTED.set(time.time()) if _STARTED.get() is None else None
        try:
            yield from super(stamped, self).stream(input, _concurrent(self, config), **kwargs)
        finally:
            _forget(token)

    async def astream(self: Any, input: Any, config: Any = None, **kwargs: Any) -> Any:
        token = _STARTED.set(time.time()) if _STARTED.get() is None else None
        inner = super(stamped, self).astream(input, _concurrent(self, config), **kwargs)
        try:
            async with contextlib.aclosing(inner):  # closed with this one: its nodes cancelled
                async for chunk in inner:
                    yield chunk
        finally:
            _forget(token)

    def copy_graph(self: Any, update: Any = None) -> Any:  # with_config() & co keep Maze's
        new = super(stamped, self).copy(update)
        new.__dict__.update({k: v for k, v in vars(self).items() if k.startswith("maze_")})
        return new

    def __reduce_ex__(self: Any, protocol: Any) -> Any:
        """A distributed graph travels as its plain self (a node that invokes it runs it
        in the node's worker), not with the caller's runtime; copies stay distributed."""
        return (_as_is, (self.maze_plain,))

    def __copy__(self: Any) -> Any:
        new = object.__new__(type(self))
        new.__dict__.update(vars(self))
        return new

    def __deepcopy__(self: Any, memo: dict[int, Any]) -> Any:
        new = memo[id(self)] = object.__new__(type(self))
        new.__dict__.update(copy.deepcopy(vars(self), memo))
        return new

    methods = {"stream": stream, "astream": astream, "copy": copy_graph}
    methods.update(__reduce_ex__=__reduce_ex__, __copy__=__copy__, __deepcopy__=__deepcopy__)
    stamped = type(cls.__name__, (cls,), methods)
    stamped.__module__ = cls.__module__
    return stamped


def with_nodes(graph: Any, nodes: Mapping[str, Any]) -> Any:
    """A copy of ``graph`` with ``nodes`` replaced, keeping what ``compile()`` set beside
    the constructor's arguments (the state and output mappers that give pydantic and
    dataclass states back as such), which LangGraph's ``copy()`` drops."""
    copied = graph.copy(update={"nodes": {**graph.nodes, **nodes}})
    copied.__dict__.update({k: v for k, v in vars(graph).items() if k not in vars(copied)})
    return copied


def _as_is(value: Any) -> Any:
    return value


def _concurrent(graph: Any, config: Any) -> Any:
    """``config`` with LangGraph's limit on parallel nodes raised: a sync graph runs them
    on at most min(32, cpus + 4) threads, and distributed nodes mostly wait on Maze, which
    does the limiting by resources."""
    if (config and "max_concurrency" in config) or "max_concurrency" in (graph.config or {}):
        return config
    return {**(config or {}), "max_concurrency": _CONCURRENCY}


def _forget(token: contextvars.Token[float | None] | None) -> None:
    if token is None:
        return
    with contextlib.suppress(ValueError):  # a generator closed in another context
        _STARTED.reset(token)
