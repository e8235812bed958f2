"""The driver side of a remote node or ``@task`` call: what travels to the worker (a
:class:`~maze_langgraph.remote.NodeCall`), and the caller's end of the call's channel
(:class:`LoopEnd`), through which the body reaches the live objects of LangGraph's loop
while it runs: stream chunks and callback events up, the store and the state readers down
(see :mod:`maze_core.run.worker.channel`). What it did to the loop otherwise (sends, the
resume value it consumed) comes back in its reply and is replayed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langgraph._internal._constants import (
    CONF,
    CONFIG_KEY_CALL,
    CONFIG_KEY_READ,
    CONFIG_KEY_READ_STATE,
    CONFIG_KEY_RUNTIME,
    CONFIG_KEY_SCRATCHPAD,
    CONFIG_KEY_SEND,
)

from maze_core import MazeError
from maze_core.run.worker.callbacks import CallerEvents, streams, watched
from maze_core.run.worker.captured import Captured
from maze_core.run.worker.portable import portable, portable_config
from maze_langgraph.remote import CAPTURED, NodeCall, NodeReply

__all__ = ["REBUILT", "LoopEnd", "current_config", "finish", "prepare"]

REBUILT = ("config", "runtime", "writer", "store")  # injected kwargs the worker makes anew
_READS = (CONFIG_KEY_READ, CONFIG_KEY_READ_STATE)  # the loop's state readers, asked remotely
_RUNTIME_FIELDS = ("context", "previous", "execution_info", "server_info")


def prepare(
    func: Any,
    input: Any,
    injected: Mapping[str, Any],
    config: Mapping[str, Any],
    captured: Captured | None = None,
) -> tuple[NodeCall, LoopEnd]:
    """The call of ``func`` (what travels in the function's place) on ``input``, with what
    LangGraph injected, under ``config`` and with the current values of what the function
    ``captured``; and the caller's end of its channel."""
    configurable = config.get(CONF, {})
    live_runtime = injected.get("runtime") or configurable.get(CONFIG_KEY_RUNTIME)
    scratchpad = configurable.get(CONFIG_KEY_SCRATCHPAD)
    loop = LoopEnd(
        writer=injected.get("writer") or getattr(live_runtime, "stream_writer", None),
        callbacks=config.get("callbacks"),
        send=configurable.get(CONFIG_KEY_SEND),
        scratchpad=scratchpad,
        store=injected.get("store") or getattr(live_runtime, "store", None),
        reads={key: configurable[key] for key in _READS if key in configurable},
        captured=captured,
        call=configurable.get(CONFIG_KEY_CALL),
        runtime=live_runtime,
    )
    call = NodeCall(
        func=func,
        input=input,
        kwargs={k: v for k, v in injected.items() if k not in REBUILT},
        wants=tuple(k for k in REBUILT if k in injected),
        config=portable_config(config),
        runtime=_portable_runtime(live_runtime),
        resume=list(getattr(scratchpad, "resume", None) or []),
        null_resume=scratchpad.get_null_resume(False) if scratchpad is not None else None,
        has_store=loop.store is not None,
        reads=tuple(loop.reads),
        streaming=streams(loop.callbacks),
        watched=watched(loop.callbacks),
        captured=loop.sent,
        calls=loop.call is not None,
        controlled=getattr(live_runtime, "control", None) is not None,
        pushes=bool(_message_streams(loop.callbacks)),
        heartbeat=_watches_heartbeats(live_runtime),
    )
    return call, loop


def finish(reply: NodeReply, loop: LoopEnd) -> Any:
    """The call's value, once what it did to the loop is replayed (or its bubble raised:
    an interrupt, a ``Command`` to the parent graph)."""
    loop.replay(reply)
    if reply.error is not None:
        raise reply.error
    return reply.value


class LoopEnd(CallerEvents):
    """The live objects of LangGraph's loop that a remote node's effects reach: live over
    the call's channel (stream chunks and callback events up, the store and the state
    readers down), or replayed from its reply (sends, the resume value it consumed)."""

    def __init__(
        self,
        *,
        writer: Any,
        callbacks: Any,
        send: Any,
        scratchpad: Any,
        store: Any,
        reads: dict[str, Any],
        captured: Captured | None = None,
        call: Any = None,
        runtime: Any = None,
    ) -> None:
        super().__init__(writer, callbacks)
        self.runtime = runtime  # LangGraph's Runtime of the run: its control and heartbeat
        self.send = send
        self.scratchpad = scratchpad
        self.store = store
        self.reads = reads
        self.captured = captured
        self.sent = captured.send() if captured is not None else None
        self.call = call  # the loop's: runs a @task the body calls
        self.called: list[Any] = []  # the futures of those tasks

    def serve(self, request: tuple[str, Any]) -> Any:
        kind, *body = request
        if kind == "store" and self.store is not None:
            return self.context.run(self.store.batch, body[0])
        if kind == "read" and body[0] in self.reads:
            return self.context.run(self.reads[body[0]], *body[1])
        if kind == "call" and self.call is not None:
            func, input, options = body
            self.called.append(self.call(func, input, callbacks=self.callbacks, **options))
            return len(self.called) - 1
        if kind == "result":
            return _outcome(self.called[body[0]])
        if kind == "null_resume":
            return self.scratchpad.get_null_resume(body[0]) if self.scratchpad else None
        control = getattr(self.runtime, "control", None)
        if kind == "control" and control is not None:
            operation, argument = body
            if operation == "request_drain":
                return control.request_drain(argument)
            return control.drain_reason
        raise MazeError(
            f"a remote node asked for {kind!r}, which its caller does not have",
            fix="report this: the node and the graph disagree",
            culprit=kind,
        )

    def event(self, message: tuple[Any, ...]) -> None:
        if message[0] == "heartbeat" and self.runtime is not None:
            self.context.run(self.runtime.heartbeat)
        elif message[0] == "tool_delta":
            _tool_delta(self.callbacks, *message[1:])
        elif message[0] == "pushed_message":
            self.context.run(_pushed_message, self.callbacks, *message[1:])
        else:
            super().event(message)

    def failed(self, error: BaseException) -> None:
        """The body raised ``error``: take back what it changed of its captured values
        (carried on the error, and taken off it before the user sees it)."""
        self._take_back(error.__dict__.pop(CAPTURED, None))

    def _take_back(self, changes: bytes | None) -> None:
        if changes is not None and self.captured is not None and self.sent is not None:
            self.captured.take_back(self.sent, changes)

    def replay(self, reply: NodeReply) -> None:
        self._take_back(reply.captured)
        if reply.consumed_null_resume and self.scratchpad is not None:
            self.scratchpad.get_null_resume(True)
        for writes in reply.sends:
            if self.send is not None:
                self.send(writes)
        for chunk in reply.chunks:
            if self.writer is not None:
                self.writer(chunk)


def _outcome(future: Any) -> Any:
    """The outcome of a task the loop ran, waited for on this thread (an asyncio future,
    from an async loop, is waited for on its loop)."""
    import asyncio

    if not isinstance(future, asyncio.Future) or future.done() or _on_loop(future.get_loop()):
        return future.result()

    async def outcome() -> Any:
        return await future

    return asyncio.run_coroutine_threadsafe(outcome(), future.get_loop()).result()


def _on_loop(loop: Any) -> bool:
    """Whether this thread runs ``loop`` (it cannot then wait for it)."""
    import asyncio

    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _tool_delta(callbacks: Any, run_id: Any, delta: Any) -> None:
    """A delta a tool emitted in a worker, to the stream as LangGraph's tool stream handler
    of that call would have written it in place (its writer lives in the tool's context,
    which was the worker's)."""
    from langgraph.pregel._tools import StreamToolCallHandler

    for handler in getattr(callbacks, "handlers", callbacks) or ():
        started = getattr(handler, "_run_to_call", {}).get(run_id)
        if isinstance(handler, StreamToolCallHandler) and started is not None:
            namespace, tool_call_id, _ = started
            event = {"event": "tool-output-delta", "tool_call_id": tool_call_id, "delta": delta}
            handler.stream((namespace, "tools", event))


def _message_streams(callbacks: Any) -> list[Any]:
    """The caller's handlers of ``stream_mode="messages"``."""
    from langgraph.pregel._messages import StreamMessagesHandler

    handlers = getattr(callbacks, "handlers", callbacks) or ()
    return [handler for handler in handlers if isinstance(handler, StreamMessagesHandler)]


def _pushed_message(callbacks: Any, metadata: dict[str, Any], message: Any) -> None:
    """A message the body pushed (``push_message``), to the streams that take it, as
    ``push_message`` decides in place."""
    from langgraph.pregel._messages import graph_namespace

    namespace = graph_namespace(metadata)
    for handler in _message_streams(callbacks):
        if handler.subgraphs or not namespace or namespace == handler.parent_ns:
            handler._emit((namespace, metadata), message, dedupe=False)


def current_config() -> dict[str, Any]:
    """The config of the runnable running now ({} outside one)."""
    from langgraph.config import get_config

    try:
        return dict(get_config())
    except RuntimeError:
        return {}


def _watches_heartbeats(runtime: Any) -> bool:
    """Whether the run's heartbeat does anything (LangGraph's default does nothing: then
    the body's heartbeats are not sent up)."""
    from langgraph.runtime import _no_op_heartbeat

    heartbeat = getattr(runtime, "heartbeat", None)
    return heartbeat is not None and heartbeat is not _no_op_heartbeat


def _portable_runtime(runtime: Any) -> dict[str, Any]:
    if runtime is None:
        return {}
    return portable({name: getattr(runtime, name, None) for name in _RUNTIME_FIELDS})
