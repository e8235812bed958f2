"""Worker side: run a task inside the trace context of its span (see ``maze_task_wrap``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, propagate

__all__ = ["inside"]


@contextmanager
def inside(carrier: Mapping[str, str]) -> Iterator[None]:
    """Make the task's span the current one, so spans the tool opens nest under it."""
    token = context.attach(propagate.extract(dict(carrier)))
    try:
        yield
    finally:
        context.detach(token)
