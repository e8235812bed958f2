"""Plain-text views of a finished run, for the CLI and for people reading logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from maze_core.run.result import RunResult

__all__ = ["timing_table"]

_STYLE = {"done": "green", "failed": "red", "cancelled": "yellow"}


def timing_table(result: RunResult) -> Table:
    """One row per task: tool, kind, status, node, queue wait, predicted and actual seconds."""
    table = Table(
        title=f"{result.workflow}: {result.status} in {result.seconds:.3f}s", title_justify="left"
    )
    table.add_column("task", no_wrap=True)
    for column in ("kind", "status", "node"):
        table.add_column(column)
    for column in ("tries", "queued s", "predicted s", "ran s"):
        table.add_column(column, justify="right")
    for record in result.tasks.values():
        style = _STYLE.get(record.status, "")
        table.add_row(
            record.task_id,
            record.kind,
            f"[{style}]{record.status}[/]" if style else record.status,
            record.node or "",
            str(record.attempts),
            _seconds(record.queue_seconds),
            _seconds(record.predicted_seconds),
            _seconds(record.seconds),
        )
    return table


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
