"""Chaos: work goes on while nodes leave and workers die; nothing is lost or left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TypedDict

import pytest

CHAOS = Path(__file__).with_name("chaos.py")
ROOT = CHAOS.parents[2]


def chaos(workflows: int, every: float, tmp_path: Path, *, tiny: bool = False) -> dict:
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "MAZE_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    out = subprocess.run(
        [sys.executable, str(CHAOS), str(workflows), str(every), *(["tiny"] if tiny else [])],
        capture_output=True,
        text=True,
        timeout=1500,
        env=env,
        cwd=tmp_path,
    )
    line = next((s for s in out.stdout.splitlines() if s.startswith("CHAOS ")), None)
    assert line is not None, out.stdout[-2000:] + out.stderr[-4000:]
    figures = json.loads(line.removeprefix("CHAOS "))
    assert out.returncode == 0, (figures, out.stderr[-4000:])
    return figures


def check(figures: dict) -> None:
    assert figures["completed"] == figures["workflows"]  # 100%, each with the right answer
    assert figures["wrong"] == []
    assert figures["active_runs"] == 0
    assert figures["unfreed_nodes"] == []  # nothing stays accounted to dead tasks
    assert figures["nodes_removed"] >= 2


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray workers through /proc")
def test_workflows_complete_while_nodes_leave_and_workers_die(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    check(chaos(30, 1.5, tmp_path))


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray workers through /proc")
def test_tiny_tasks_sharing_ray_tasks_complete_while_nodes_leave_and_workers_die(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    figures = chaos(1500, 0.7, tmp_path, tiny=True)
    check(figures)
    assert figures["bundled"] > 0  # the chaos hit tasks running in bundles


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_two_hundred_workflows_through_constant_chaos(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    check(chaos(200, 2.0, tmp_path))


class Count(TypedDict):
    n: int


def test_a_langgraph_invocation_cut_by_a_killed_worker_resumes_from_its_checkpoint(tmp_path):
    pytest.importorskip("langgraph", reason="langgraph is not installed")
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import START, StateGraph

    from maze_core import LocalRuntime, WorkerLostError
    from maze_langgraph import distribute

    marker = tmp_path / "died-once"

    def first(state: Count) -> dict:
        return {"n": state["n"] + 1}

    def fragile(state: Count) -> dict:
        if not marker.exists():
            marker.write_text("x")
            os._exit(9)  # the worker process dies mid-node
        return {"n": state["n"] * 10}

    builder = StateGraph(Count)
    builder.add_node("first", first)
    builder.add_node("fragile", fragile)
    builder.add_edge(START, "first")
    builder.add_edge("first", "fragile")
    with LocalRuntime("processes", cpus=2, autoload_plugins=False) as runtime:
        graph = distribute(builder.compile(checkpointer=InMemorySaver()), runtime, kinds="cpu")
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        with pytest.raises(WorkerLostError, match="died"):
            graph.invoke({"n": 1}, config)
        assert graph.get_state(config).next == ("fragile",)  # "first" is checkpointed
        assert graph.invoke(None, config) == {"n": 20}  # resumed, not started over


CLUSTER_GOES_AWAY = """
import os, sys, time
from ray.cluster_utils import Cluster
from maze_core import Workflow, tool
from maze_core.run.ray import RayRuntime

@tool
def slow(i: int) -> int:
    time.sleep(60)
    return i

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
runtime = RayRuntime(address=cluster.address, autoload_plugins=False, predictor=False)
wf = Workflow("doomed")
for i in range(2):
    wf.add(slow, i)
handle = runtime.submit(wf)
time.sleep(3)
cluster.head_node.kill_all_processes(check_alive=False, allow_graceful=False)
start = time.monotonic()
result = handle.result(timeout=50)
errors = [str(r.error) for r in result.tasks.values()]
print("GONE", result.status, round(time.monotonic() - start), errors[0].splitlines()[0])
sys.stdout.flush()
os._exit(0)  # Ray would end this process a minute after its head died
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runs_end_with_a_clear_error_when_the_cluster_disappears(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    script = tmp_path / "gone.py"
    script.write_text(CLUSTER_GOES_AWAY)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MAZE_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=240, env=env
    )
    line = next((s for s in out.stdout.splitlines() if s.startswith("GONE ")), "")
    assert line, out.stdout[-2000:] + out.stderr[-3000:]
    _, status, seconds, reason = line.split(" ", 3)
    assert status == "cancelled"
    assert int(seconds) < 40  # not the minute Ray takes to end the process, nor forever
    assert "stopped answering" in reason
