"""The scheduler as a state machine: events in, exact instructions out."""

from __future__ import annotations

import pytest

from maze_core import Resources, Workflow, tool
from maze_core.errors import InfeasibleResourcesError, TaskCancelledError
from maze_core.schedule import (
    Cancel,
    CancelRun,
    Dispatch,
    Fail,
    Finish,
    Node,
    Reject,
    Retry,
    Scheduler,
    SubmitRun,
    TaskDone,
    TaskError,
)


@tool
def step(x: int = 0) -> int:
    return x


@tool(retries=1)
def retried(x: int = 0) -> int:
    return x


@tool(resources=Resources(cpus=1, gpus=1, gpu_memory="10GiB"))
def on_gpu() -> None:
    pass


def dispatched(instructions) -> list[tuple[int, str, int]]:
    return [(i.run_id, i.task_id, i.attempt) for i in instructions if isinstance(i, Dispatch)]


def diamond() -> Workflow:
    wf = Workflow("diamond")
    top = wf.add(step)
    wf.add(step, [wf.add(step, top), wf.add(step, top)], task_name="bottom")
    return wf


@pytest.fixture
def scheduler() -> Scheduler:
    return Scheduler([Node("n1", cpus=2, memory=2**34)])


def test_sources_dispatch_at_submit_and_successors_after_their_inputs(scheduler):
    graph = diamond().build()
    out = scheduler.handle(SubmitRun(1, graph, time=0.0))
    assert dispatched(out) == [(1, "step", 0)]
    assert out[0].ready_at == 0.0
    out = scheduler.handle(TaskDone(1, "step", 0, time=1.0))
    assert dispatched(out) == [(1, "step-1", 0), (1, "step-2", 0)]
    assert scheduler.handle(TaskDone(1, "step-1", 0, time=2.0)) == []
    assert dispatched(scheduler.handle(TaskDone(1, "step-2", 0, time=3.0))) == [(1, "bottom", 0)]
    assert scheduler.handle(TaskDone(1, "bottom", 0, time=4.0)) == [Finish(1, "done")]
    scheduler.check_invariants()
    assert scheduler.nodes["n1"].idle


def test_cpu_capacity_bounds_running_tasks_and_fifo_order_spans_runs(scheduler):
    runs = []
    for _ in range(3):
        wf = Workflow("pair")
        wf.add(step)
        wf.add(step)
        runs.append(wf.build())
    out = scheduler.handle(*(SubmitRun(i, g, time=float(i)) for i, g in enumerate(runs)))
    assert dispatched(out) == [(0, "step", 0), (0, "step-1", 0)]
    out = scheduler.handle(TaskDone(0, "step-1", 0, time=5.0))
    assert dispatched(out) == [(1, "step", 0)]
    out = scheduler.handle(TaskDone(0, "step", 0, time=6.0))
    assert out[0] == Finish(0, "done")
    assert dispatched(out) == [(1, "step-1", 0)]


def test_a_failure_cancels_descendants_only(scheduler):
    wf = Workflow("branches")
    a = wf.add(step)
    wf.add(step, a, task_name="child")
    wf.add(step, task_name="free")
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    error = ValueError("x")
    out = scheduler.handle(TaskError(1, "step", 0, time=1.0, error=error))
    assert out[0] == Fail(1, "step", error)
    assert isinstance(out[1], Cancel)
    assert (out[1].task_id, out[1].was_running) == ("child", False)
    assert isinstance(out[1].error, TaskCancelledError)
    assert len(out) == 2
    assert scheduler.handle(TaskDone(1, "free", 0, time=2.0)) == [Finish(1, "failed")]


def test_a_retry_requeues_with_the_next_attempt(scheduler):
    wf = Workflow("retry")
    wf.add(retried)
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    error = ConnectionError("flaky")
    out = scheduler.handle(TaskError(1, "retried", 0, time=1.0, error=error))
    assert out[0] == Retry(1, "retried", 0, error)
    assert dispatched(out) == [(1, "retried", 1)]
    assert out[1].ready_at == 1.0


def test_non_retryable_errors_fail_at_once(scheduler):
    wf = Workflow("no-retry")
    wf.add(retried)
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    error = TypeError("cannot pickle")
    out = scheduler.handle(TaskError(1, "retried", 0, time=1.0, error=error, retryable=False))
    assert out == [Fail(1, "retried", error), Finish(1, "failed")]


def test_stale_events_are_ignored_and_resources_released_once(scheduler):
    wf = Workflow("stale")
    wf.add(retried)
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    scheduler.handle(TaskError(1, "retried", 0, time=1.0, error=TimeoutError()))
    assert scheduler.handle(TaskDone(1, "retried", 0, time=2.0)) == []  # the abandoned attempt
    scheduler.check_invariants()
    assert scheduler.handle(TaskDone(1, "retried", 1, time=3.0)) == [Finish(1, "done")]
    assert scheduler.nodes["n1"].free_cpus == 2


def test_cancel_run_cancels_running_and_waiting_tasks(scheduler):
    scheduler.handle(SubmitRun(1, diamond().build(), time=0.0))
    out = scheduler.handle(CancelRun(1, time=1.0))
    assert [(i.task_id, i.was_running) for i in out if isinstance(i, Cancel)] == [
        ("step", True),
        ("step-1", False),
        ("step-2", False),
        ("bottom", False),
    ]
    assert out[-1] == Finish(1, "cancelled")
    assert scheduler.nodes["n1"].idle


def test_fail_fast_cancels_everything_else(scheduler):
    wf = Workflow("ff")
    wf.add(step)
    wf.add(step)
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0, fail_fast=True))
    out = scheduler.handle(TaskError(1, "step", 0, time=1.0, error=ValueError()))
    assert [type(i).__name__ for i in out] == ["Fail", "Cancel", "Finish"]
    assert out[1].was_running


def test_infeasible_requests_are_rejected_at_submit(scheduler):
    wf = Workflow("gpu")
    wf.add(on_gpu)
    (out,) = scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    assert isinstance(out, Reject)
    assert isinstance(out.error, InfeasibleResourcesError)
    assert "1 GPUs (node 'n1' has 0)" in str(out.error)


def test_gpus_are_allocated_per_device_with_their_memory():
    node = Node("g", cpus=8, gpus=2, gpu_memory=16 * 2**30)
    scheduler = Scheduler([node])
    wf = Workflow("gpus")
    for _ in range(3):
        wf.add(on_gpu)
    out = scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    assert [i.allocation.gpu_ids for i in out] == [(0,), (1,)]
    out = scheduler.handle(TaskDone(1, "on_gpu-1", 0, time=1.0))
    assert [i.allocation.gpu_ids for i in out] == [(1,)]


def test_fractional_gpus_share_a_device():
    node = Node("g", cpus=8, gpus=1)
    half = Resources(cpus=0, gpus=0.5)
    assert node.acquire(half).gpu_ids == (0,)
    assert node.fits(half)
    node.acquire(half)
    assert not node.fits(half)


def test_a_big_head_does_not_block_smaller_requests():
    @tool(resources=Resources(cpus=2))
    def wide() -> None:
        pass

    scheduler = Scheduler([Node("n", cpus=2)])
    wf = Workflow("mix")
    wf.add(step)
    wf.add(wide)
    wf.add(step)
    out = scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    assert dispatched(out) == [(1, "step", 0), (1, "step-1", 0)]
