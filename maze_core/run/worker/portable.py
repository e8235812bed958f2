"""What of a call's context can travel to a worker: values that pickle, and what of a
LangChain ``RunnableConfig`` does (both adapters send one with every call).

A config inside an agent or graph carries live objects of the caller's process: callback
managers, LangGraph's ``__pregel_*`` loop internals (channels, the checkpointer, the send
function). A worker gets the rest: tags, metadata, run name, the user's ``configurable``
values, whatever pickles.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import cloudpickle

__all__ = ["pickles", "portable", "portable_config"]

_CONF = "configurable"


def portable_config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """``config`` without callbacks, values that do not pickle, and the ``__pregel_*`` keys
    that hold the loop's live objects (those holding plain data, the run's durability or
    task id, stay: a node may read them)."""
    config = config or {}
    kept = portable({k: v for k, v in config.items() if k not in ("callbacks", _CONF)})
    configurable = config.get(_CONF) or {}
    kept[_CONF] = portable(
        {k: v for k, v in configurable.items() if not k.startswith("__pregel_") or _scalar(v)}
    )
    return kept


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def portable(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the entries that do not pickle. One C-pickler pass over the whole
    mapping settles the usual case (everything travels) in a few µs; only when it fails is
    each value tried on its own (a node runs this for every call)."""
    try:
        pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return {key: value for key, value in values.items() if pickles(value)}
    return values


def pickles(value: Any) -> bool:
    """Whether ``value`` can travel to a worker (the C pickler first: it is fast and says
    yes for most values; cloudpickle for what only it can pickle)."""
    if _plain(value):
        return True
    for pickler in (pickle, cloudpickle):
        try:
            pickler.dumps(value)
        except Exception:
            continue
        return True
    return False


def _plain(value: Any, depth: int = 3) -> bool:
    """Whether ``value`` is built of primitives only (so it pickles: no need to try)."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if depth and isinstance(value, list | tuple):
        return all(_plain(item, depth - 1) for item in value)
    if depth and isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v, depth - 1) for k, v in value.items())
    return False
