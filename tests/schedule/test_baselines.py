"""The published systems' baselines place work as their code does, and ablations switch
one mechanism off."""

from __future__ import annotations

import pytest

from maze_core import ValidationError, Workflow
from maze_core.schedule import Dispatch, Node, Scheduler, SubmitRun, TaskDone, make_policy
from maze_core.schedule.baselines import REPLICA_QUEUE
from tests.schedule.steps import cpu_step, qwen, started


def one_call(name: str = "call") -> Workflow:
    wf = Workflow(name)
    wf.add(qwen)
    return wf


def one_step(name: str) -> Workflow:
    wf = Workflow(name)
    wf.add(cpu_step)
    return wf


def gpu_nodes(*names: str) -> list[Node]:
    return [Node(name, cpus=2, gpus=1) for name in names]


def test_maze_original_routes_a_call_to_a_replica_of_its_model():
    scheduler = Scheduler(gpu_nodes("a", "b", "c"), "maze-original")
    scheduler.nodes["c"].load_model("qwen")
    (dispatch,) = scheduler.handle(SubmitRun(1, one_call().build(), 0.0))
    assert dispatch.allocation.node == "c"
    assert dispatch.model_load is False


def test_maze_original_deploys_another_replica_only_past_its_queue_threshold():
    scheduler = Scheduler(gpu_nodes("a", "b"), "maze-original")
    scheduler.nodes["a"].load_model("qwen")
    calls = [SubmitRun(i, one_call(f"c{i}").build(), 0.0) for i in range(REPLICA_QUEUE + 2)]
    out = scheduler.handle(*calls[:-1])
    assert started(out) == ["0:qwen@a"]  # 5 wait for the one replica
    out = scheduler.handle(calls[-1])  # now more than 5 wait per replica
    assert started(out) == ["1:qwen@b"]
    assert [i.model_load for i in out if isinstance(i, Dispatch)] == [True]


def test_maze_original_keeps_a_run_on_the_node_of_its_context():
    scheduler = Scheduler([Node("a", cpus=4), Node("b", cpus=4)], "maze-original")
    wf = Workflow("chain")
    wf.add(cpu_step, after=[wf.add(cpu_step)])
    assert started(scheduler.handle(SubmitRun(1, wf.build(), 0.0))) == ["1:cpu_step@a"]
    busy = Workflow("busy")
    for _ in range(3):
        busy.add(cpu_step)
    scheduler.handle(SubmitRun(2, busy.build(), 0.0))  # a is now the more loaded node
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0))
    assert started(out) == ["1:cpu_step-1@a"]  # its context is on a


def test_maze_original_without_affinity_places_on_the_least_loaded_node():
    policy = make_policy("maze-original", ablate=["affinity"])
    scheduler = Scheduler(gpu_nodes("a", "b"), policy)
    scheduler.nodes["a"].load_model("qwen")
    out = scheduler.handle(*(SubmitRun(i, one_call(f"c{i}").build(), 0.0) for i in range(2)))
    assert sorted(started(out)) == ["0:qwen@a", "1:qwen@b"]


def test_autogen_runs_one_workflow_per_host_in_arrival_order():
    scheduler = Scheduler([Node("a", cpus=4), Node("b", cpus=4)], "agent-level-autogen")
    runs = [one_step(f"w{i}") for i in range(3)]
    out = scheduler.handle(*(SubmitRun(i, wf.build(), float(i)) for i, wf in enumerate(runs)))
    assert started(out) == ["0:cpu_step@a", "1:cpu_step@b"]  # run 2 waits for host a
    out = scheduler.handle(TaskDone(0, "cpu_step", 0, 5.0))
    assert started(out) == ["2:cpu_step@a"]


def test_autogen_loads_the_model_in_every_gpu_task():
    scheduler = Scheduler(gpu_nodes("a"), "agent-level-autogen")
    wf = Workflow("two-calls")
    wf.add(qwen, after=[wf.add(qwen)])
    (first,) = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    (second,) = scheduler.handle(TaskDone(1, "qwen", 0, 1.0))
    assert first.model_load
    assert second.model_load
    assert not scheduler.nodes["a"].models


def test_daps_without_aging_lets_new_short_work_overtake_an_old_task():
    scheduler = Scheduler([Node("n", cpus=1)], make_policy("daps", ablate=["aging"]))
    scheduler.handle(SubmitRun(1, one_step("blocker").build(), 0.0))
    scheduler.handle(SubmitRun(2, one_step("long").build(), 0.0, predicted={"cpu_step": 30.0}))
    scheduler.handle(SubmitRun(3, one_step("short").build(), 100.0))
    assert started(scheduler.handle(TaskDone(1, "cpu_step", 0, 101.0))) == ["3:cpu_step@n"]


def test_daps_without_affinity_ignores_where_the_model_is():
    scheduler = Scheduler(gpu_nodes("a", "b"), make_policy("daps", ablate=["affinity"]))
    scheduler.nodes["b"].load_model("qwen")
    (dispatch,) = scheduler.handle(SubmitRun(1, one_call().build(), 0.0))
    assert dispatch.allocation.node == "a"
    assert dispatch.model_load


def test_an_unknown_ablation_is_named():
    with pytest.raises(ValidationError, match="aging, affinity"):
        make_policy("daps", ablate=["speed"])
