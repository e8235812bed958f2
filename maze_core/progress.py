"""A live view of what a runtime is doing: workflows, tasks per kind and state, tasks per node.

:class:`Progress` is a plugin (it implements the run and transition hooks); register it on a
runtime and wrap the wait in ``with progress.live(console):``. ``wf.run(progress=True)``
and the CLI do both. When the console is not a terminal the live view stays off and nothing
is printed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from maze_core.hookspecs import hookimpl
from maze_core.schedule.state import STATES
from maze_core.timeline import short_node

if TYPE_CHECKING:
    from maze_core.graph import Task
    from maze_core.run.result import RunResult

__all__ = ["Progress"]

RUN_STATES = ("running", "done", "failed", "cancelled")


class Progress:
    """Counts workflows by status, tasks by (kind, state) and running tasks by node.
    ``only`` limits it to some run ids (set it once they are known)."""

    def __init__(self, only: set[int] | None = None) -> None:
        self.only = only
        self.tasks: Counter[tuple[int, str, str]] = Counter()  # (run, kind, state)
        self.retries: Counter[tuple[int, str]] = Counter()  # (run, kind): attempts that failed
        self.runs: dict[int, str] = {}
        self.nodes: Counter[str] = Counter()  # running tasks per node
        self._where: dict[tuple[int, str], str] = {}
        self.started = time.monotonic()
        self._lock = threading.Lock()

    @hookimpl
    def maze_run_started(self, run_id: int) -> None:
        with self._lock:
            self.runs[run_id] = "running"

    @hookimpl
    def maze_run_finished(self, result: RunResult) -> None:
        with self._lock:
            self.runs[result.run_id] = result.status

    @hookimpl
    def maze_task_transition(
        self, run_id: int, task: Task, old: str, new: str, node: str | None
    ) -> None:
        kind = task.spec.kind
        with self._lock:
            if old:
                self.tasks[run_id, kind, old] -= 1
            self.tasks[run_id, kind, new] += 1
            if old == "running" and new in ("ready", "waiting"):  # it runs again
                self.retries[run_id, kind] += 1
            if old == "running":
                self.nodes[self._where.pop((run_id, task.id), "?")] -= 1
            if new == "running":
                place = self._where[run_id, task.id] = node or "?"
                self.nodes[place] += 1

    def counts(self) -> Counter[tuple[str, str]]:
        """Tasks by (kind, state), and failed attempts run again by (kind, "retries"),
        over the runs shown."""
        with self._lock:
            found: Counter[tuple[str, str]] = Counter()
            for (run, kind, state), n in self.tasks.items():
                if self.only is None or run in self.only:
                    found[kind, state] += n
            for (run, kind), n in self.retries.items():
                if self.only is None or run in self.only:
                    found[kind, "retries"] += n
            return found

    def table(self) -> Group:
        """The current counts: workflows, tasks per kind and state, running tasks per node."""
        elapsed = time.monotonic() - self.started
        counts = self.counts()
        tasks = Table(title=f"Maze tasks ({elapsed:.1f}s)", title_justify="left")
        tasks.add_column("kind")
        columns = (*STATES, "retries")
        for column in columns:
            tasks.add_column(column, justify="right")
        for kind in sorted({kind for kind, _ in counts}):
            tasks.add_row(kind, *(str(counts[kind, c] or "") for c in columns))
        parts: list[Any] = [tasks]
        with self._lock:
            runs = Counter(
                status for run, status in self.runs.items() if self.only is None or run in self.only
            )
            busy = {node: n for node, n in sorted(self.nodes.items()) if n > 0}
        if sum(runs.values()) > 1:
            parts.append("workflows: " + ", ".join(f"{runs[s]} {s}" for s in RUN_STATES if runs[s]))
        if len(busy) > 1 or (busy and "local" not in busy):
            parts.append(
                "running on " + ", ".join(f"{short_node(n)}: {k}" for n, k in busy.items())
            )
        return Group(*parts)

    @contextmanager
    def live(self, console: Console | None = None) -> Iterator[None]:
        """Show the counts live while the block runs (only on a terminal)."""
        console = console or Console()
        if not console.is_terminal:
            yield
            return
        with Live(
            get_renderable=self.table, console=console, refresh_per_second=8, transient=False
        ):
            yield
