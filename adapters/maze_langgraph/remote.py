"""The worker side of a distributed LangGraph node: run its body away from the Pregel loop.

The driver keeps LangGraph's loop (channels, reducers, routing, checkpoints, retries,
caching); only a node's function crosses to a worker, with its input and what LangGraph
would inject into it (``config``, ``runtime``, ``writer``, ``store``, ``previous``),
stripped of the loop's live objects. On the worker the call runs inside a rebuilt runnable
context, so ``get_config()``, ``get_stream_writer()``, ``get_runtime()``, ``get_store()``
and ``interrupt()`` work. Over the call's channel to the driver (where the runtime has one:
see :mod:`maze_core.run.worker.channel`), stream chunks go up as they are written and
every store operation runs against the graph's own store; without one, chunks come back
with the result. What the node did to the loop (resume writes, sends) is recorded and sent
back in the :class:`NodeReply`, which the driver replays into the real loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import itertools
import threading
from collections.abc import Callable, Generator, Iterator
from contextvars import Context, copy_context
from typing import Any

from langchain_core.runnables.config import set_config_context, var_child_runnable_config
from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CALL,
    CONFIG_KEY_RUNTIME,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_SEND,
)
from langgraph._internal._scratchpad import PregelScratchpad
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import RunControl, Runtime

from maze_core.run.worker import channel
from maze_core.run.worker.call import settle
from maze_core.run.worker.callbacks import forwarding_handler
from maze_core.run.worker.captured import Sent, Tracking
from maze_core.run.worker.stores import channel_store

__all__ = ["ChannelControl", "NodeCall", "NodeReply", "run_node"]

_STORE_FIX = (
    "keep the node in the caller: distribute(graph, keep_local=[node]), or run it on a"
    " local runtime"
)


@dataclasses.dataclass(slots=True)
class NodeCall:
    """Everything a worker needs to run one node body."""

    func: Callable[..., Any]
    input: Any
    kwargs: dict[str, Any]  # injected kwargs that pickle (config, previous, ...)
    wants: tuple[str, ...]  # injected kwargs rebuilt on the worker: "runtime", "writer"
    config: dict[str, Any]
    runtime: dict[str, Any]  # the picklable fields of LangGraph's Runtime
    resume: list[Any]
    null_resume: Any  # the pending Command(resume=...) value, None when there is none
    has_store: bool = False  # the graph has a store (reached over the call's channel)
    reads: tuple[str, ...] = ()  # the loop's state readers the caller has (CONFIG_KEY_READ*)
    streaming: bool = False  # the caller's callbacks want chat models to stream
    watched: bool = False  # the caller has callback handlers: forward the events inside
    captured: Sent | None = None  # the caller's values of what the function captures
    calls: bool = False  # the caller's loop can run @tasks the body calls
    controlled: bool = False  # the run has a RunControl (drain requests), in the caller
    pushes: bool = False  # the caller streams messages: push_message() in the body reaches it
    heartbeat: bool = False  # the run watches heartbeats (TimeoutPolicy(refresh_on=...))


@dataclasses.dataclass(slots=True)
class NodeReply:
    """What the node returned (or raised), and what it asked of the loop meanwhile."""

    value: Any = None
    error: BaseException | None = None
    chunks: list[Any] = dataclasses.field(default_factory=list)
    sends: list[list[tuple[str, Any]]] = dataclasses.field(default_factory=list)
    consumed_null_resume: bool = False
    captured: bytes | None = None  # the captured values the body changed


CAPTURED = "__maze_captured__"  # where an exception carries them back


def run_node(call: NodeCall) -> NodeReply:
    """Run ``call`` here. LangGraph's control-flow exceptions (interrupts, ``Command`` to a
    parent graph) come back in ``error`` to be raised by the driver; any other exception
    propagates, so Maze reports the task failed with it as the cause."""
    reply = NodeReply()
    link = channel.link()
    writer = _live_writer(link) if link is not None else reply.chunks.append
    store = channel_store(link, subject="this node", fix=_STORE_FIX) if call.has_store else None
    runtime = Runtime(**call.runtime, stream_writer=writer, store=store)
    if link is not None and call.controlled:
        runtime = runtime.override(control=ChannelControl(link))
    if link is not None and call.heartbeat:
        runtime = runtime.override(heartbeat=functools.partial(link.emit, ("heartbeat",)))
    configurable = dict(call.config.get(CONF, {}))
    configurable[CONFIG_KEY_RUNTIME] = runtime
    configurable[CONFIG_KEY_SEND] = reply.sends.append
    configurable[CONFIG_KEY_SCRATCHPAD] = _scratchpad(call, reply, link)
    if link is not None:  # the graph's state, read in the caller (ToolRuntime, InjectedState)
        for key in call.reads:
            configurable[key] = _reader(link, key)
        if call.calls:  # a @task called in the body: a task of the caller's loop
            configurable[CONFIG_KEY_CALL] = _loop_call(link)
    config = {"callbacks": [], **call.config, CONF: configurable}  # as in a graph: a list
    if link is not None and call.watched:  # events of what runs inside: the caller's handlers
        config["callbacks"] = [
            forwarding_handler(link, streaming=call.streaming),
            tool_deltas(link),
            *([pushed_messages(link)] if call.pushes else []),
        ]
    kwargs = dict(call.kwargs)
    if "config" in call.wants:
        kwargs["config"] = config
    if "runtime" in call.wants:
        kwargs["runtime"] = runtime
    if "writer" in call.wants:
        kwargs["writer"] = writer
    if "store" in call.wants:
        kwargs["store"] = store
    tracking = Tracking.start(call.func, call.captured)
    try:
        with _config_context(config) as context:
            value = context.run(call.func, call.input, **kwargs)
            value = context.run(settle, value)
    except GraphBubbleUp as bubble:  # interrupt(), Command(graph=PARENT): the loop's business
        reply.error = bubble
    except BaseException as exc:
        if tracking is not None:
            setattr(exc, CAPTURED, tracking.changes())
        raise
    else:
        reply.value = value
    if tracking is not None:
        reply.captured = tracking.changes()
    return reply


def _reader(link: channel.Link, key: str) -> Callable[..., Any]:
    """The loop's state reader ``key``, asked of the caller's own."""

    def read(*args: Any) -> Any:
        return link.ask(("read", key, args))

    return read


def _loop_call(link: channel.Link) -> Callable[..., Any]:
    """LangGraph's call of a ``@task`` from this body, made by the caller's loop (where it
    is scheduled, checkpointed and streamed as plain): its future's outcome is asked of
    the caller when first wanted, so tasks called one after another run side by side."""

    def call(
        func: Callable[..., Any], input: Any, *, callbacks: Any = None, **options: Any
    ) -> _LoopFuture:
        return _LoopFuture(link, link.ask(("call", func, input, options)))

    return call


class _LoopFuture(concurrent.futures.Future[Any]):
    """The future of a ``@task`` the caller's loop runs: ``result()`` and ``await`` ask
    the caller for its outcome (once)."""

    def __init__(self, link: channel.Link, handle: int) -> None:
        super().__init__()
        self._link = link
        self._handle = handle
        self._asked = threading.Lock()

    def _ask(self) -> None:
        with self._asked:
            if self.done():
                return
            try:
                self.set_result(self._link.ask(("result", self._handle)))
            except BaseException as exc:
                self.set_exception(exc)

    def result(self, timeout: float | None = None) -> Any:
        self._ask()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._ask()
        return super().exception(timeout)

    def __await__(self) -> Generator[Any, None, Any]:
        return self._wait().__await__()

    async def _wait(self) -> Any:
        await asyncio.to_thread(self._ask)
        return self.result()


def _live_writer(link: channel.Link) -> Callable[[Any], None]:
    """A stream writer whose chunks reach the driver's stream as they are written."""

    def write(chunk: Any) -> None:
        link.emit(("chunk", chunk))

    return write


def tool_deltas(link: channel.Link) -> Any:
    """A handler that gives each tool running in the body the writer its
    ``ToolRuntime.emit_output_delta`` reads (LangGraph's stream handler sets it in the
    tool's context when the tool starts, but runs in the caller here): each delta goes up
    the channel to the caller's handler of that tool call."""
    return _tool_deltas_class()(link)


@functools.cache
def _tool_deltas_class() -> type:
    from langchain_core.callbacks import BaseCallbackHandler
    from langgraph.pregel._tools import _tool_call_writer

    class ToolDeltas(BaseCallbackHandler):
        run_inline = True  # in the tool's own context, which its writer must be set in

        def __init__(self, link: channel.Link) -> None:
            self.link = link
            self.tokens: dict[Any, Any] = {}

        def on_tool_start(self, serialized: Any, input_str: str, *, run_id: Any, **_: Any) -> None:
            emit = self.link.emit
            self.tokens[run_id] = _tool_call_writer.set(
                lambda delta: emit(("tool_delta", run_id, delta))
            )

        def on_tool_end(self, output: Any, *, run_id: Any, **_: Any) -> None:
            token = self.tokens.pop(run_id, None)
            if token is not None:
                with contextlib.suppress(ValueError):  # ended in another context
                    _tool_call_writer.reset(token)

        on_tool_error = on_tool_end

    return ToolDeltas


def pushed_messages(link: channel.Link) -> Any:
    """What ``push_message()`` in the body finds in its config to write to (LangGraph's
    handler of ``stream_mode="messages"``, which is the caller's): each message goes up the
    channel to the caller's handlers, which decide whether their stream takes it. It takes
    no callback events itself (those reach the caller's handler already)."""
    return _pushed_messages_class()(link)


@functools.cache
def _pushed_messages_class() -> type:
    from langgraph.pregel._messages import StreamMessagesHandler

    class PushedMessages(StreamMessagesHandler):
        ignore_llm = ignore_chain = ignore_agent = ignore_retriever = True
        ignore_chat_model = ignore_custom_event = ignore_retry = True

        def __init__(self, link: channel.Link) -> None:
            super().__init__(lambda chunk: None, subgraphs=True)
            self.link = link

        def _emit(self, meta: Any, message: Any, *, dedupe: bool = False) -> None:
            self.link.emit(("pushed_message", meta[1], message))

        def tap_output_iter(self, run_id: Any, output: Any) -> Any:
            return output

        def tap_output_aiter(self, run_id: Any, output: Any) -> Any:
            return output

    return PushedMessages


class ChannelControl(RunControl):
    """The run's RunControl, in a worker: a drain the body requests, or asks about, is the
    caller's (LangGraph stops the run at the step's end, wherever the node ran)."""

    __slots__ = ("_link",)

    def __init__(self, link: channel.Link) -> None:
        super().__init__()
        self._link = link

    def request_drain(self, reason: str = "shutdown") -> None:
        self._link.ask(("control", "request_drain", reason))

    @property
    def drain_requested(self) -> bool:
        return self.drain_reason is not None

    @property
    def drain_reason(self) -> str | None:
        reason: str | None = self._link.ask(("control", "drain_reason", None))
        return reason


@contextlib.contextmanager
def _config_context(config: dict[str, Any]) -> Iterator[Context]:
    """A context in which ``get_config()`` finds ``config``. LangChain's
    ``set_config_context`` also points LangSmith's tracing at the run of a live tracer in
    the config's callbacks; without callbacks (live ones do not travel to workers) setting
    the config is all it does, and doing only that costs 0.2 instead of 17 µs a node."""
    if config.get("callbacks"):
        with set_config_context(config) as context:  # type: ignore[arg-type]
            yield context
        return
    context = copy_context()
    context.run(var_child_runnable_config.set, config)  # type: ignore[arg-type]
    yield context


def _scratchpad(call: NodeCall, reply: NodeReply, link: channel.Link | None) -> Any:
    """A scratchpad with what ``interrupt()`` reads: the resume values of this node, and
    the pending resume value. That one is taken from the caller's own scratchpad when
    ``interrupt()`` asks for it, over the call's channel (a subgraph's nodes share it: the
    first to take it consumes it); without a channel it is the value pending when the call
    was made, and its consumption is reported back to the driver."""

    def get_null_resume(consume: bool = False) -> Any:
        if link is not None:
            return link.ask(("null_resume", consume))
        if call.null_resume is None or reply.consumed_null_resume:
            return None
        if consume:
            reply.consumed_null_resume = True
        return call.null_resume

    return PregelScratchpad(
        step=0,
        stop=1,
        call_counter=itertools.count().__next__,
        interrupt_counter=itertools.count().__next__,
        get_null_resume=get_null_resume,
        resume=list(call.resume),
        subgraph_counter=itertools.count().__next__,
    )
