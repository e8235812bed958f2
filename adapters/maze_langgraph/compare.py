"""``compare(graph, input)``: run a graph plainly and distributed, and say what differs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from maze_core import Runtime

__all__ = ["compare"]


def compare(
    graph: Any,
    input: Any,
    config: Mapping[str, Any] | None = None,
    *,
    runtime: Runtime | str | None = None,
) -> list[str]:
    """The differences between ``graph.invoke(input, config)`` and the same through
    ``distribute(graph, runtime)``, one line per differing path (empty when identical).
    Message and interrupt ids, which LangGraph makes anew on every run, are not compared; a
    graph with a checkpointer runs the distributed side on its own thread (``thread_id`` +
    ``-maze``)."""
    from maze_langgraph.nodes import distribute

    plain = graph.invoke(input, dict(config or {}))
    distributed = distribute(graph, runtime).invoke(input, _own_thread(config))
    return list(_differences(_normal(plain), _normal(distributed), "output"))


def _own_thread(config: Mapping[str, Any] | None) -> dict[str, Any]:
    config = dict(config or {})
    configurable = dict(config.get("configurable", {}))
    if "thread_id" in configurable:
        configurable["thread_id"] = f"{configurable['thread_id']}-maze"
        config["configurable"] = configurable
    return config


def _normal(value: Any) -> Any:
    """Messages and interrupts as their fields without the run-specific id; containers
    recursively."""
    from langgraph.types import Interrupt

    if isinstance(value, Interrupt):
        schema = getattr(value, "response_schema", None)
        return {"interrupt": _normal(value.value), "response_schema": schema}
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(value, "content"):
        value = {key: item for key, item in dump().items() if key != "id"}
    if isinstance(value, Mapping):
        return {key: _normal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_normal(item) for item in value)
    return value


def _differences(plain: Any, distributed: Any, path: str) -> Any:
    if isinstance(plain, Mapping) and isinstance(distributed, Mapping):
        for key in sorted(set(plain) | set(distributed), key=str):
            if key not in distributed:
                yield f"{path}[{key!r}]: only in the plain run"
            elif key not in plain:
                yield f"{path}[{key!r}]: only in the distributed run"
            else:
                yield from _differences(plain[key], distributed[key], f"{path}[{key!r}]")
    elif isinstance(plain, list | tuple) and isinstance(distributed, list | tuple):
        if len(plain) != len(distributed):
            yield f"{path}: {len(plain)} items plain, {len(distributed)} distributed"
        for index, (a, b) in enumerate(zip(plain, distributed, strict=False)):
            yield from _differences(a, b, f"{path}[{index}]")
    elif plain != distributed:
        yield f"{path}: plain {plain!r} != distributed {distributed!r}"
