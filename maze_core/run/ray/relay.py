"""Calls' channels on Ray (see :mod:`maze_core.run.worker.channel`): a relay actor.

A Ray worker cannot reach the driver's objects, and the driver takes no connections: the
messages of a call's channel go through one async actor per runtime, which the worker
calls (``emit``, ``ask``) and the driver long-polls (``pull``) from one thread, answering
requests (``answer``). Everything travels through Ray's own calls: no port is opened, and
nothing is unpickled that did not come through Ray. An async actor may run calls out of the
order they were made in, so each message carries its number in its channel and the actor
queues a channel's messages in that order.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Any

from maze_core.run.ray.tasks import ray_module
from maze_core.run.worker import channel

__all__ = ["Relay", "RelayActor"]

log = logging.getLogger("maze")
_PULL_S = 1.0  # how long a pull waits for a message before the driver looks again
_CHANNELS = 10_000  # channels whose next number the actor remembers (older ones ended)


class RelayActor:
    """The actor: a queue of messages for the driver, and the requests waiting for it."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[int | None, bytes]] = asyncio.Queue()
        self._waiting: dict[int, asyncio.Future[bytes]] = {}
        self._ids = itertools.count()
        self._next: dict[int, int] = {}  # channel -> the number of its next message
        self._held: dict[int, dict[int, tuple[int | None, bytes]]] = {}  # came early

    async def emit(self, channel: int, number: int, data: bytes) -> None:
        self._arrived(channel, number, (None, data))

    async def ask(self, channel: int, number: int, data: bytes) -> bytes:
        request = next(self._ids)
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting[request] = answered
        self._arrived(channel, number, (request, data))
        return await answered

    def _arrived(self, channel: int, number: int, item: tuple[int | None, bytes]) -> None:
        """Queue the channel's messages in the order they were sent."""
        held = self._held.setdefault(channel, {})
        held[number] = item
        following = self._next.pop(channel, 0)
        while following in held:
            self._queue.put_nowait(held.pop(following))
            following += 1
        self._next[channel] = following  # (re)inserted: the dict's order is recency
        if not held:
            del self._held[channel]
        while len(self._next) > _CHANNELS:
            del self._next[next(iter(self._next))]

    async def answer(self, request: int, data: bytes) -> None:
        answered = self._waiting.pop(request, None)
        if answered is not None:
            answered.set_result(data)

    async def pull(self, timeout: float = _PULL_S) -> list[tuple[int | None, bytes]]:
        try:
            items = [await asyncio.wait_for(self._queue.get(), timeout)]
        except TimeoutError:
            return []
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


class Relay:
    """The driver's side: the actor, made on first use, and the thread serving it."""

    def __init__(self) -> None:
        self._actor: Any = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def handle(self) -> Any:
        """The relay actor (started, with the driver's thread, the first time)."""
        with self._lock:
            if self._actor is None:
                ray = ray_module()
                actor_class = ray.remote(num_cpus=0, max_concurrency=1000)(RelayActor)
                self._actor = actor_class.remote()
                thread = threading.Thread(target=self._serve, name="maze-ray-relay", daemon=True)
                thread.start()
            return self._actor

    def close(self) -> None:
        self._stopped.set()
        with self._lock:
            actor, self._actor = self._actor, None
        if actor is not None:
            try:
                ray_module().kill(actor)
            except Exception:  # Ray is going away
                log.debug("maze: the relay actor was gone already", exc_info=True)

    def _serve(self) -> None:
        ray = ray_module()
        while not self._stopped.is_set():
            actor = self._actor
            if actor is None:
                return
            try:
                items = ray.get(actor.pull.remote())
            except Exception:  # the actor or Ray is gone: channels end with their calls
                if not self._stopped.is_set():
                    log.warning("maze: the Ray relay of calls' channels stopped", exc_info=True)
                return
            for request, data in items:
                reply = channel.answer(data)
                if request is not None and reply is not None:
                    actor.answer.remote(request, reply)
