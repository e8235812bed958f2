"""Functions that must run in the caller to behave as they do plain, and why.

* One that invokes a compiled graph inside its body (a supervisor's wrapper node, a
  ``@task`` that calls an agent, a method of an object holding one): a compiled graph does
  not survive a trip to another process (LangGraph compares values with its own sentinel
  objects, which a copy does not hold), and run in place the graph's own nodes are
  distributed when it is.
* One that signals other code of the caller while it runs, through an asyncio primitive
  (an ``asyncio.Event`` a test or a supervisor waits on, a ``Queue`` it feeds): a copy in a
  worker would signal nobody, and whoever waits would wait forever. (The threading ones do
  not pickle, so such a function stays for that reason already.)
"""

from __future__ import annotations

import asyncio
import types
from typing import Any

from maze_core.run.worker.captured import captured_values

__all__ = ["why_in_caller"]

_DEPTH = 5  # deep: a ToolNode's dict of tools, a tool's function, the graph it closes over
_ITEMS = 64  # items of one container looked at
_SIGNALS = (asyncio.Event, asyncio.Condition, asyncio.Lock, asyncio.Semaphore, asyncio.Queue)


def why_in_caller(func: Any) -> str | None:
    """Why ``func`` must run in the caller (None: it may run anywhere), from what it
    captures (its closure, its globals, the object of a bound method, and what containers
    or objects they hold)."""
    from langgraph.pregel import Pregel

    values = list(captured_values(func))
    if any(_holds(value, Pregel, _DEPTH) for value in values):
        return "invokes a compiled graph (distribute that graph to spread its nodes)"
    for value in values:
        if _holds(value, _SIGNALS, _DEPTH):
            return "signals the caller while it runs (an asyncio primitive: a copy would not)"
    return None


def _holds(value: Any, cls: type | tuple[type, ...], depth: int) -> bool:
    if isinstance(value, cls):
        return True
    if depth == 0 or isinstance(value, str | bytes | int | float | type):
        return False
    if isinstance(value, types.FunctionType | types.MethodType):
        items = list(captured_values(value))  # a tool's function, say
    elif isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        items = list(getattr(value, "__dict__", {}).values())
    return any(_holds(item, cls, depth - 1) for item in items[:_ITEMS])
