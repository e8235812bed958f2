"""What ``distribute()`` is told of each node: its resources, kind, model and provider.

Declared by the caller (``resources=``, ``kinds=``, ``providers=``) or on the node
(``add_node(..., metadata={"maze": {...}})``); the caller's word wins. A node declaring
nothing has its kind learned (see :mod:`maze_core.predict.kinds`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from maze_core import MazeError, Resources
from maze_core.tools import Kind, as_resources, check_kinds

__all__ = ["Declared", "Placement", "declared", "placement"]


def declared(
    graph: Any,
    resources: Mapping[str, Resources] | None,
    kinds: Mapping[str, Kind] | Kind | None,
    providers: Mapping[str, str] | None,
    keep_local: set[str],
) -> Declared:
    """What ``distribute()``'s arguments say of ``graph``'s nodes, checked against them."""
    return Declared(
        _named(graph, "resources", resources or {}),
        _kinds(graph, kinds),
        _named(graph, "providers", providers or {}),
        keep_local,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Declared:
    """What ``distribute()`` was told of the nodes."""

    resources: Mapping[str, Resources]
    kinds: Mapping[str, Kind]
    providers: Mapping[str, str]
    keep_local: set[str]


def _named(graph: Any, option: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` by node name, checked against the graph's nodes."""
    unknown = set(values) - set(graph.nodes)
    if unknown:
        raise MazeError(
            f"{option}= names nodes the graph does not have: {sorted(unknown)}",
            fix=f"use node names of this graph: {sorted(graph.nodes)}",
            culprit=sorted(unknown)[0],
        )
    return dict(values)


def _kinds(graph: Any, kinds: Mapping[str, Kind] | Kind | None) -> dict[str, Kind]:
    """The kind of each node named in ``kinds=`` (one kind: every node's)."""
    if kinds is None:
        return {}
    named = dict.fromkeys(graph.nodes, kinds) if isinstance(kinds, str) else kinds
    check_kinds(named, "node")
    return _named(graph, "kinds", named)


def placement(name: str, node: Any, declared: Declared) -> Placement:
    """The node's Resources, kind and model, from ``resources=``, ``kinds=`` or
    ``metadata["maze"]`` (``{"resources": {...}, "kind": "io", "model": "..."}``); all
    None when it declares none of them (its kind is learned)."""
    meta = (node.metadata or {}).get("maze", {}) if isinstance(node.metadata, Mapping) else {}
    model = meta.get("model")
    kind = declared.kinds.get(name, meta.get("kind"))
    spec = declared.resources.get(name) or as_resources(
        meta.get("resources"), f"node {name!r} declares metadata maze.resources"
    )
    if spec is None and kind is not None:
        spec = Resources(cpus=0) if kind == "io" else Resources()
    return Placement(spec, kind, model, declared.providers.get(name, meta.get("provider")))


@dataclasses.dataclass(frozen=True, slots=True)
class Placement:
    resources: Resources | None  # None: nothing declared, the node's kind is learned
    kind: Any  # "cpu" | "gpu" | "io" | None (inferred from resources)
    model: str | None
    provider: str | None  # the rate-limited service its calls wait on
