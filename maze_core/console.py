"""The terminal the ``maze`` commands write to."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console"]

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the tables, not 80 columns
    console = Console(width=max(console.width, 130))
