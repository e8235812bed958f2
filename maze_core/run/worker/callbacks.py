"""LangChain callback events across a call's channel (see :mod:`.channel`).

In the worker, a :func:`forwarding_handler` in the call's config sends every callback event
of what runs inside the body (a chat model's start, each new token, its end with usage, tool,
chain and retriever events, custom events, errors) up the channel as it happens. In the
caller, :func:`replay` hands each one to the handlers of the caller's callback manager, the
body's top runs re-parented under the caller's own run: ``stream_mode="messages"``,
``astream_events``, usage callbacks, tracers and the user's handlers see what they would
have seen had the body run in place. Arguments that do not pickle travel as their ``repr``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from maze_core.run.worker import channel
from maze_core.run.worker.exceptions import portable_error
from maze_core.run.worker.portable import pickles

__all__ = ["CALLBACK", "CallerEvents", "forwarding_handler", "replay", "streams", "watched"]

CALLBACK = "callback"  # the kind of a channel message carrying one callback event

_IGNORED_BY = {  # event -> the handler flag that turns it off, as LangChain's managers check
    "on_llm_start": "ignore_llm",
    "on_llm_new_token": "ignore_llm",
    "on_llm_end": "ignore_llm",
    "on_llm_error": "ignore_llm",
    "on_stream_event": "ignore_llm",
    "on_chat_model_start": "ignore_chat_model",
    "on_chain_start": "ignore_chain",
    "on_chain_end": "ignore_chain",
    "on_chain_error": "ignore_chain",
    "on_agent_action": "ignore_agent",
    "on_agent_finish": "ignore_agent",
    "on_tool_start": "ignore_agent",
    "on_tool_end": "ignore_agent",
    "on_tool_error": "ignore_agent",
    "on_retriever_start": "ignore_retriever",
    "on_retriever_end": "ignore_retriever",
    "on_retriever_error": "ignore_retriever",
    "on_retry": "ignore_retry",
    "on_custom_event": "ignore_custom_event",
    "on_text": None,
}


def watched(callbacks: Any) -> bool:
    """Whether the caller has handlers for the events of what runs inside (if not, a body
    need not forward them: LangChain's callback machinery costs a body ~20 µs a call)."""
    return bool(getattr(callbacks, "handlers", callbacks))


def streams(callbacks: Any) -> bool:
    """Whether the caller's handlers want what runs inside to stream (LangChain's streaming
    handlers, those of ``stream_mode="messages"`` and ``astream_events``: a chat model
    called with one of them streams its answer token by token even from ``invoke``)."""
    handlers = getattr(callbacks, "handlers", callbacks) or []
    return any(hasattr(h, "tap_output_iter") for h in handlers)


def forwarding_handler(link: channel.Link, *, streaming: bool = False) -> Any:
    """A callback handler sending every event up ``link``, in order (it runs inline); with
    ``streaming``, one that asks chat models to stream, as the caller's handlers did."""
    handler = _forwarding_class(streaming)()
    handler.link = link
    return handler


@functools.cache
def _forwarding_class(streaming: bool) -> type:
    """The handler class (made once: a class with twenty methods costs ~100 µs to make)."""
    from langchain_core.callbacks import BaseCallbackHandler

    def forward(name: str) -> Callable[..., None]:
        def method(self: Any, *args: Any, **kwargs: Any) -> None:
            self.link.emit((CALLBACK, name, _travelling(args), _travelling(kwargs)))

        method.__name__ = name
        return method

    methods: dict[str, Any] = {name: forward(name) for name in _IGNORED_BY}
    methods["run_inline"] = True
    if streaming:
        methods["tap_output_iter"] = _tap_iter
        methods["tap_output_aiter"] = _tap_aiter
    return type("ForwardingHandler", (BaseCallbackHandler,), methods)


def replay(
    callbacks: Any, event: tuple[str, tuple[Any, ...], dict[str, Any]], loop: Any = None
) -> None:
    """Hand one forwarded event to the handlers of ``callbacks`` (the caller's callback
    manager, or a list of handlers), its top runs as children of the manager's run.
    Async handlers run on ``loop`` (the caller's event loop) when there is one."""
    from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
    from langchain_core.callbacks.manager import ahandle_event, handle_event

    name, args, kwargs = event
    handlers = list(getattr(callbacks, "handlers", callbacks) or [])
    if not handlers or name not in _IGNORED_BY:
        return
    if kwargs.get("parent_run_id") is None:
        kwargs["parent_run_id"] = getattr(callbacks, "parent_run_id", None)
    ignore = _IGNORED_BY[name]
    waiting: list[BaseCallbackHandler] = [
        h for h in handlers if isinstance(h, AsyncCallbackHandler) and not h.run_inline
    ]
    if waiting and loop is not None and loop.is_running():
        handlers = [h for h in handlers if h not in waiting]
        coroutine = ahandle_event(waiting, name, ignore, *args, **kwargs)
        asyncio.run_coroutine_threadsafe(coroutine, loop).result()
    if handlers:
        handle_event(handlers, name, ignore, *args, **kwargs)


class CallerEvents:
    """The caller's end of a LangChain body's channel, for its events: stream chunks (a
    ``("chunk", chunk)`` event) to ``writer``, callback events to ``callbacks``' handlers.
    Both run in the caller's context as it was when the call was made (events may arrive
    on another thread: the one reading the worker's result), async handlers on its loop."""

    def __init__(self, writer: Any, callbacks: Any) -> None:
        self.writer = writer
        self.callbacks = callbacks
        self.context = contextvars.copy_context()
        try:
            self.loop: Any = asyncio.get_running_loop()
        except RuntimeError:
            self.loop = None

    def event(self, message: tuple[Any, ...]) -> None:
        kind, *body = message
        if kind == "chunk" and self.writer is not None:
            self.context.run(self.writer, body[0])
        elif kind == CALLBACK:
            self.context.run(replay, self.callbacks, tuple(body), self.loop)


def _tap_iter(self: Any, run_id: Any, output: Iterator[Any]) -> Iterator[Any]:
    yield from output


async def _tap_aiter(self: Any, run_id: Any, output: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in output:
        yield item


def _travelling(values: Any) -> Any:
    """``values`` (a tuple or dict of arguments) with what does not pickle as its repr,
    and exceptions as they can travel."""
    if isinstance(values, dict):
        return {key: _one(value) for key, value in values.items()}
    return tuple(_one(value) for value in values)


def _one(value: Any) -> Any:
    if isinstance(value, BaseException):
        return portable_error(value)
    return value if pickles(value) else repr(value)
