"""A live two-way channel between a call running as a task and the code that made it.

While the call runs, its body may send messages up to its caller, delivered in order as
they happen (:meth:`Link.emit`: callback events, stream chunks), and ask its caller for a
service and wait for the answer (:meth:`Link.ask`: an operation on the graph's store, say).
The caller opens a channel with a :class:`Handler` around the call (:func:`opened`); only
the channel's id travels with the call, and the body finds its end with :func:`link`.

How the messages travel depends on where the call runs:

* in the caller's process (threads, inline): the handler is called directly;
* in a local worker process: over that worker's own pipes, between the call and its
  result (up on the result pipe, answers down on the call pipe: see
  :mod:`maze_core.run.local.processes`), read by whichever thread reads the result;
* on Ray: through the runtime's relay actor (:mod:`maze_core.run.ray.relay`), which the
  caller's process long-polls;
* anywhere else there is no link (``link()`` is None) and the body does what it did
  without one.

A message is pickled with cloudpickle; one that cannot be is dropped with a warning (an
event) or fails the request with a SerializationError.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

import cloudpickle

from maze_core.errors import MazeError, SerializationError
from maze_core.run.worker import interrupt
from maze_core.run.worker.exceptions import portable_error

__all__ = [
    "Handler",
    "Link",
    "Route",
    "answer",
    "is_message",
    "link",
    "linked",
    "opened",
    "use_pipes",
]

log = logging.getLogger("maze")

_EVENT, _REQUEST, _ANSWER = b"E", b"Q", b"A"  # a result is a pickle: it starts with 0x80
_FLUSH = "maze:flush"  # a request the channel answers itself, once the events before it are in


class Handler(Protocol):
    """The caller's end: what to do with an event, and how to answer a request."""

    def event(self, message: Any) -> None: ...

    def serve(self, request: Any) -> Any: ...


_open: dict[int, tuple[int, Handler]] = {}  # channel id -> (the caller's pid, its handler)
_ids = itertools.count(1)
_pipes: tuple[Any, Any] | None = None  # in a worker process: (calls, results)
_pipe_lock = threading.Lock()  # a body's threads share the worker's pipes
_current: ContextVar[Link | None] = ContextVar("maze_channel", default=None)


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    """How a call reaches its channel: the channel's id, and the relay actor to go
    through when it runs on Ray (None: pipes, or the caller's own process)."""

    channel: int
    relay: Any = None


class opened:
    """Open a channel to ``handler`` for one call; its route, to send with the call. (A
    class, not a generator: every remote node call opens one.)"""

    __slots__ = ("route",)

    def __init__(self, handler: Handler, relay: Any = None) -> None:
        channel = next(_ids)
        _open[channel] = (os.getpid(), handler)
        self.route = Route(channel, relay)

    def __enter__(self) -> Route:
        return self.route

    def __exit__(self, *exc: object) -> None:
        _open.pop(self.route.channel, None)


class Link:
    """The body's end of a channel. ``flush`` (where messages may overtake the call's
    result: through the relay) returns once the caller has had every event sent so far."""

    def __init__(
        self,
        emit: Callable[[Any], None],
        ask: Callable[[Any], Any],
        flush: Callable[[], None] = lambda: None,
    ) -> None:
        self.emit = emit
        self.ask = ask
        self.flush = flush


def link() -> Link | None:
    """The channel of the call running in this context (None: none, or out of reach)."""
    return _current.get()


class linked:
    """Run the body of a call that came with ``route`` inside its link."""

    __slots__ = ("link", "token")

    def __init__(self, route: Route | None) -> None:
        self.link = _bind(route) if route is not None else None

    def __enter__(self) -> Link | None:
        self.token = _current.set(self.link)
        return self.link

    def __exit__(self, *exc: object) -> None:
        _current.reset(self.token)
        if self.link is not None:
            self.link.flush()


def use_pipes(calls: Any, results: Any) -> None:
    """In a worker process: messages travel on these pipes; the channels of the parent
    (this process's copy of them, made by ``fork``) are not this process's to serve."""
    global _pipes
    _pipes = (calls, results)
    _open.clear()


def is_message(data: bytes | bytearray) -> bool:
    """Whether ``data`` read from a worker is a channel message rather than a result."""
    return data[:1] in (_EVENT, _REQUEST)


def answer(data: bytes | bytearray) -> bytes | None:
    """The caller's side of one message from a worker: deliver an event (None), or serve a
    request and return the answer to send back down. Never raises: a worker waiting for
    an answer always gets one."""
    event = data[:1] == _EVENT
    try:
        channel, body = cloudpickle.loads(memoryview(data)[1:])
        found = _open.get(channel)
        if event:
            if found is not None:
                _deliver(found[1], body)
            return None
        if body == _FLUSH:
            reply: tuple[bool, Any] = (True, None)
            return _ANSWER + _pickled(reply, "an answer")
        if found is None:
            raise MazeError(
                "the call's caller stopped waiting for it (it timed out or was cancelled)",
                fix="nothing to do: the call's result is discarded too",
                culprit=channel,
            )
        reply = (True, found[1].serve(body))
    except Exception as exc:
        if event:
            log.warning("maze: an event of a remote call could not be delivered: %r", exc)
            return None
        reply = (False, portable_error(exc))
    try:
        return _ANSWER + _pickled(reply, "the answer to a worker's request")
    except SerializationError as error:
        return _ANSWER + bytes(cloudpickle.dumps((False, error)))


def _deliver(handler: Handler, message: Any) -> None:
    try:
        handler.event(message)
    except Exception:  # the caller's observer failed: the call goes on, as it would here
        log.exception("maze: a handler of a remote call's events raised")


def _bind(route: Route) -> Link | None:
    """The body's link: through the relay (on Ray), over the worker's pipes, or straight
    to the handler when the call runs in its caller's process."""
    channel = route.channel
    if route.relay is not None:
        return _relay_link(route)
    if _pipes is not None:
        return Link(
            lambda message: _send_event(channel, message),
            lambda request: _send_request(channel, request),
        )
    found = _open.get(channel)
    if found is None or found[0] != os.getpid():
        return None
    handler = found[1]
    return Link(lambda message: _deliver(handler, message), handler.serve)


def _relay_link(route: Route) -> Link:
    import ray

    relay, channel = route.relay, route.channel
    numbers = itertools.count()  # the relay queues the channel's messages in this order
    lock = threading.Lock()
    unflushed = [False]  # an event went since the last answer

    def emit(message: Any) -> None:
        data = _event(channel, message)
        if data is not None:
            with lock:
                relay.emit.remote(channel, next(numbers), data)
                unflushed[0] = True

    def ask(request: Any) -> Any:
        data = _REQUEST + _pickled((channel, request), "a request to the caller")
        with lock:
            asked = relay.ask.remote(channel, next(numbers), data)
            unflushed[0] = False
        return _unwrap(ray.get(asked))

    def flush() -> None:
        if unflushed[0]:
            ask(_FLUSH)

    return Link(emit, ask, flush)


def _unwrap(reply: bytes) -> Any:
    ok, value = cloudpickle.loads(memoryview(reply)[1:])
    if not ok:
        raise value
    return value


def _event(channel: int, message: Any) -> bytes | None:
    """An event as it travels (None: it does not pickle, and is dropped with a warning)."""
    try:
        return _EVENT + bytes(cloudpickle.dumps((channel, message)))
    except Exception as exc:
        log.warning("maze: an event of a remote call could not be pickled, dropped: %r", exc)
        return None


def _send_event(channel: int, message: Any) -> None:
    assert _pipes is not None
    data = _event(channel, message)
    if data is not None:
        with interrupt.shielded(), _pipe_lock:
            _pipes[1].send_bytes(data)


def _send_request(channel: int, request: Any) -> Any:
    assert _pipes is not None
    data = _REQUEST + _pickled((channel, request), "a request to the caller")
    with interrupt.shielded(), _pipe_lock:
        _pipes[1].send_bytes(data)
        reply = _pipes[0].recv_bytes()
    return _unwrap(reply)


def _pickled(value: Any, what: str) -> bytes:
    try:
        return bytes(cloudpickle.dumps(value))
    except Exception as exc:
        raise SerializationError(
            f"{what} cannot be pickled: {exc}",
            fix="send plain data through the channel",
            culprit=type(value).__name__,
        ) from None
