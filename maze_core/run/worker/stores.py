"""The graph's store in a worker: a LangGraph ``BaseStore`` whose every batch of operations
runs against the caller's own store, over the call's channel (see :mod:`.channel`).

A store is a live connection of the caller's process (an in-memory dict, a database pool):
a copy in a worker would read stale data and lose its writes. Both adapters hand one of
these to a remote body wherever it would get the graph's store in place (a node's
``runtime.store`` and ``get_store()``, a tool's ``ToolRuntime.store``). LangGraph is
imported on first use, not with Maze.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any

from maze_core.errors import MazeError
from maze_core.run.worker import channel

__all__ = ["STORE", "channel_store"]

STORE = "store"  # the kind of a channel request carrying one batch of store operations


def channel_store(link: channel.Link | None, *, subject: str, fix: str) -> Any:
    """The caller's store as the body sees it over ``link``; with no link (a runtime
    without channels), one whose use raises a MazeError naming ``subject`` and ``fix``."""
    return _store_class()(link, subject, fix)


@functools.cache
def _store_class() -> type:
    from langgraph.store.base import BaseStore

    class ChannelStore(BaseStore):
        """See the module docstring."""

        def __init__(self, link: channel.Link | None, subject: str, fix: str) -> None:
            self._link = link
            self._subject = subject
            self._fix = fix

        def batch(self, ops: Iterable[Any]) -> list[Any]:
            if self._link is None:
                raise MazeError(
                    f"{self._subject} uses the graph's store, which its runtime's workers"
                    " cannot reach",
                    fix=self._fix,
                    culprit="store",
                )
            results: list[Any] = self._link.ask((STORE, list(ops)))
            return results

        async def abatch(self, ops: Iterable[Any]) -> list[Any]:
            return await asyncio.to_thread(self.batch, list(ops))

    return ChannelStore
