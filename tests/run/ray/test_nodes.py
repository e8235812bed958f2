"""The node watcher: Ray's view of its nodes, as the scheduler's events (no Ray needed)."""

from __future__ import annotations

import pytest

from maze_core.run.ray import nodes
from maze_core.run.ray.nodes import NodeWatcher
from maze_core.schedule import Node, NodeAdded, NodeChanged, NodeRemoved


@pytest.fixture
def cluster(monkeypatch):
    """Ray's nodes as a test sets them, and a watcher reporting to ``events``."""
    alive: dict[str, Node] = {}
    monkeypatch.setattr(nodes, "ray_module", lambda: None)
    monkeypatch.setattr(nodes, "ray_nodes", lambda ray, pipeline: list(alive.values()))
    known = {"a": Node("a", cpus=4, memory=8, custom={"slot": 2.0})}
    events: list = []
    watcher = NodeWatcher(
        pipeline=1.0, known=lambda: known, post=events.append, removed=lambda name: None
    )
    return alive, events, watcher


def test_a_node_whose_resources_ray_counts_differently_is_resized(cluster):
    alive, events, watcher = cluster
    alive["a"] = Node("a", cpus=8, memory=8, custom={})
    watcher.refresh()
    (changed,) = events
    assert isinstance(changed, NodeChanged)
    assert (changed.name, changed.cpus, changed.memory) == ("a", 8, 8)
    assert changed.custom == {"slot": 0.0}  # no longer counted: none of it left


def test_nodes_as_ray_counts_them_give_no_event(cluster):
    alive, events, watcher = cluster
    alive["a"] = Node("a", cpus=4, memory=8, custom={"slot": 2.0})
    watcher.refresh()
    assert events == []


def test_nodes_that_join_and_leave_are_added_and_removed(cluster):
    alive, events, watcher = cluster
    alive["b"] = Node("b", cpus=2)
    watcher.refresh()
    assert [type(e) for e in events] == [NodeRemoved, NodeAdded]
    assert [getattr(e, "name", None) or e.node.name for e in events] == ["a", "b"]
