"""The node watcher: Ray's view of its nodes, as the scheduler's events (no Ray needed)."""

from __future__ import annotations

import sys
import types

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


RAYLET_DIED = """Raylet is terminated. Termination is unexpected. Last 3 lines of the Raylet logs:
    [2026-12-08 03:18:56,601 I 13194 13194] (raylet) worker_pool.cc:564: Started worker
    [state-dump] 	NodeManager.deadline_timer.flush_free_objects - 1 total (1 active)
    [state-dump] 	ClusterResourceManager.ResetRemoteNodeView - 1 total (1 active)"""


def test_a_dead_nodes_report_reaches_the_driver_without_rays_state_dumps(monkeypatch):
    """Ray sends every driver the tail of a dead raylet's log, mostly its event loop's
    counters (~60 lines in a client's terminal per dead node): those are left out."""
    printed: list[dict] = []
    worker = types.SimpleNamespace(
        print_to_stdstream=lambda data, ignore_prefix: printed.append(data)
    )
    monkeypatch.setitem(sys.modules, "ray._private.worker", worker)
    nodes.quiet_state_dumps()
    nodes.quiet_state_dumps()  # once is enough: a second call does not wrap it again
    worker.print_to_stdstream({"lines": [RAYLET_DIED], "pid": "raylet", "is_err": False}, False)
    worker.print_to_stdstream({"lines": ["a worker's own line"], "pid": 12, "is_err": True}, True)
    (dead, own) = printed
    assert dead["lines"] == [
        "Raylet is terminated. Termination is unexpected. Last 3 lines of the Raylet logs:\n"
        "    [2026-12-08 03:18:56,601 I 13194 13194] (raylet) worker_pool.cc:564: Started worker"
    ]
    assert dead["pid"] == "raylet"
    assert own == {"lines": ["a worker's own line"], "pid": 12, "is_err": True}
