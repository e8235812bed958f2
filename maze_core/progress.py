"""A live view of what a runtime is doing: tasks per kind and state, as a rich table.

:class:`Progress` is a plugin (it implements ``maze_task_transition``); register it on a
runtime and wrap the wait in ``with progress.live(console):``. When the console is not a
terminal the live view stays off and nothing is printed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live
from rich.table import Table

from maze_core.hookspecs import hookimpl

if TYPE_CHECKING:
    from maze_core.graph import Task

__all__ = ["STATES", "Progress"]

STATES = ("pending", "ready", "running", "done", "retrying", "failed", "cancelled")


class Progress:
    """Counts tasks per (kind, state) from transitions; renders them as a table."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.started = time.monotonic()
        self._lock = threading.Lock()

    @hookimpl
    def maze_task_transition(self, task: Task, old: str, new: str) -> None:
        kind = task.spec.kind
        with self._lock:
            if old:
                self.counts[kind, old] -= 1
            self.counts[kind, new] += 1

    def table(self) -> Table:
        """The current counts: one row per kind, one column per state."""
        elapsed = time.monotonic() - self.started
        table = Table(title=f"Maze tasks ({elapsed:.1f}s)", title_justify="left")
        table.add_column("kind")
        for state in STATES:
            table.add_column(state, justify="right")
        with self._lock:
            kinds = sorted({kind for kind, _ in self.counts})
            for kind in kinds:
                table.add_row(kind, *(str(self.counts[kind, s] or "") for s in STATES))
        return table

    @contextmanager
    def live(self, console: Console | None = None) -> Iterator[None]:
        """Show the table live while the block runs (only on a terminal)."""
        console = console or Console()
        if not console.is_terminal:
            yield
            return
        with Live(
            get_renderable=self.table, console=console, refresh_per_second=8, transient=False
        ):
            yield
