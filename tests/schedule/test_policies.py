"""Each policy's order and placement, as exact instructions."""

from __future__ import annotations

import pytest

from maze_core import ValidationError, Workflow
from maze_core.schedule import (
    POLICIES,
    ModelUnloaded,
    Node,
    NodeRemoved,
    PredictionUpdated,
    Retry,
    Scheduler,
    SubmitRun,
    TaskDone,
    make_policy,
)
from tests.schedule.steps import chain, cpu_step, qwen, started


def one_cpu(policy: str) -> Scheduler:
    return Scheduler([Node("n", cpus=1)], policy)


def test_every_policy_is_selectable_by_name():
    for name in POLICIES:
        assert make_policy(name).name == name
    with pytest.raises(ValidationError, match="daps"):
        make_policy("nope")


def test_daps_serves_the_workflow_with_least_remaining_work_first():
    scheduler = one_cpu("daps")
    out = scheduler.handle(SubmitRun(1, chain("long", 5).build(), 0.0))
    assert started(out) == ["1:cpu_step@n"]
    scheduler.handle(SubmitRun(2, chain("short", 1).build(), 0.0))
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0))
    assert started(out) == ["2:cpu_step@n"]  # short (0.1 s left) beats long (0.4 s left)


def test_fcfs_serves_in_arrival_order():
    scheduler = one_cpu("fcfs")
    scheduler.handle(
        SubmitRun(1, chain("long", 5).build(), 0.0), SubmitRun(2, chain("short", 1).build(), 0.0)
    )
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0))
    assert started(out) == ["2:cpu_step@n"]  # readied at 0.0, before long's second task


def test_maze_original_serves_workflows_first_come_first_served():
    scheduler = one_cpu("maze-original")
    scheduler.handle(
        SubmitRun(1, chain("long", 5).build(), 0.0), SubmitRun(2, chain("short", 1).build(), 1.0)
    )
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 2.0))
    assert started(out) == ["1:cpu_step-1@n"]  # the older workflow keeps the node


def test_daps_aging_lets_an_old_task_overtake_newer_short_work():
    scheduler = one_cpu("daps")
    scheduler.handle(SubmitRun(1, chain("blocker", 1).build(), 0.0))
    scheduler.handle(SubmitRun(2, chain("long", 1).build(), 0.0, predicted={"cpu_step": 30.0}))
    scheduler.handle(SubmitRun(3, chain("short", 1).build(), 100.0))
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 101.0))
    assert started(out) == ["2:cpu_step@n"]  # waited 100 s, worth more than 30 s of work


def test_heft_runs_the_critical_path_first():
    wf = Workflow("fork")
    wf.add(cpu_step, task_name="short-branch")
    head = wf.add(cpu_step, task_name="long-branch")
    wf.add(cpu_step, after=[wf.add(cpu_step, after=[head])])
    scheduler = one_cpu("heft")
    out = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert started(out) == ["1:long-branch@n"]


def test_a_gpu_backlog_does_not_block_cpu_work():
    scheduler = Scheduler([Node("g", cpus=1, gpus=1)], "daps")
    wf = Workflow("mixed")
    for _ in range(3):
        wf.add(qwen)
    wf.add(cpu_step)
    out = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert sorted(started(out)) == ["1:cpu_step@g", "1:qwen@g"]


def test_fcfs_head_of_line_blocks():
    scheduler = Scheduler([Node("g", cpus=1, gpus=1)], "fcfs")
    wf = Workflow("mixed")
    wf.add(qwen)
    wf.add(qwen)
    wf.add(cpu_step)
    out = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert started(out) == ["1:qwen@g"]


@pytest.mark.parametrize("policy", ["daps", "heft"])
def test_gpu_tasks_go_where_their_model_is_resident(policy):
    scheduler = Scheduler([Node("a", cpus=1, gpus=1), Node("b", cpus=1, gpus=1)], policy)
    scheduler.nodes["b"].load_model("qwen")
    wf = Workflow("m")
    wf.add(qwen)
    (dispatch,) = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert dispatch.allocation.node == "b"
    assert dispatch.model_load is False


def test_loading_a_model_evicts_the_least_recently_used_idle_one():
    scheduler = Scheduler([Node("a", cpus=1, gpus=1, model_slots=1)], "daps")
    scheduler.nodes["a"].load_model("llama")
    wf = Workflow("m")
    wf.add(qwen)
    (dispatch,) = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert dispatch.model_load is True
    assert list(scheduler.nodes["a"].models) == ["qwen"]


def test_daps_places_a_task_next_to_its_inputs():
    scheduler = Scheduler([Node("a", cpus=2), Node("b", cpus=2)], "daps")
    assert started(scheduler.handle(SubmitRun(1, chain("data", 2).build(), 0.0))) == [
        "1:cpu_step@a"
    ]  # round-robin would now pick b next
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0, output_size=10**6))
    assert started(out) == ["1:cpu_step-1@a"]


def test_agent_level_pins_a_workflow_and_runs_it_one_task_at_a_time():
    scheduler = Scheduler([Node("a", cpus=4), Node("b", cpus=4)], "agent-level")
    wide = Workflow("wide")
    for _ in range(3):
        wide.add(cpu_step)
    out = scheduler.handle(
        SubmitRun(1, wide.build(), 0.0), SubmitRun(2, chain("c", 2).build(), 0.0)
    )
    assert started(out) == ["1:cpu_step@a", "2:cpu_step@b"]
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0))
    assert started(out) == ["1:cpu_step-1@a"]


def test_losing_a_node_requeues_its_running_tasks_elsewhere():
    scheduler = Scheduler([Node("a", cpus=1), Node("b", cpus=1)], "daps")
    assert started(scheduler.handle(SubmitRun(1, chain("c", 1).build(), 0.0))) == ["1:cpu_step@a"]
    assert started(scheduler.handle(SubmitRun(2, chain("d", 1).build(), 0.0))) == ["2:cpu_step@b"]
    out = scheduler.handle(NodeRemoved("a", 1.0))
    assert isinstance(out[0], Retry)
    assert started(out) == []  # b is busy with the other run
    out = scheduler.handle(TaskDone(2, "cpu_step", 0, 2.0))
    assert started(out) == ["1:cpu_step@b"]
    assert out[-1].attempt == 1
    scheduler.check_invariants()


def test_a_prediction_update_rekeys_a_queued_task():
    scheduler = one_cpu("daps")
    scheduler.handle(SubmitRun(1, chain("blocker", 1).build(), 0.0))
    scheduler.handle(
        SubmitRun(2, chain("x", 1).build(), 0.0), SubmitRun(3, chain("y", 1).build(), 0.0)
    )
    scheduler.handle(PredictionUpdated(2, "cpu_step", 60.0, 0.5))
    out = scheduler.handle(TaskDone(1, "cpu_step", 0, 1.0))
    assert started(out) == ["3:cpu_step@n"]


def test_an_unloaded_model_no_longer_attracts_its_tasks():
    scheduler = Scheduler([Node("a", cpus=1, gpus=1), Node("b", cpus=1, gpus=1)], "daps")
    wf = Workflow("warm")
    wf.add(qwen)
    assert started(scheduler.handle(SubmitRun(1, wf.build(), 0.0))) == ["1:qwen@a"]
    scheduler.handle(TaskDone(1, "qwen", 0, 1.0))
    assert "qwen" in scheduler.nodes["a"].models
    scheduler.handle(ModelUnloaded("a", "qwen", 2.0))
    assert "qwen" not in scheduler.nodes["a"].models
    assert scheduler.cluster.replicas("qwen") == 0


def test_daps_ranks_a_step_by_its_job_age_and_the_work_after_it():
    scheduler = one_cpu("daps")
    scheduler.handle(SubmitRun(1, chain("blocker", 1).build(), 0.0))
    young_job = SubmitRun(2, chain("young", 1).build(), 10.0, age_from=10.0)
    old_job = SubmitRun(3, chain("old", 1).build(), 10.0, age_from=0.0)
    long_job = SubmitRun(4, chain("long", 1).build(), 10.0, age_from=0.0, work_after=100.0)
    scheduler.handle(young_job, long_job, old_job)
    order = []
    for done in (1, 3, 2, 4):
        out = scheduler.handle(TaskDone(done, "cpu_step", 0, 20.0 + done))
        order += started(out)
    assert order[:3] == ["3:cpu_step@n", "2:cpu_step@n", "4:cpu_step@n"]
