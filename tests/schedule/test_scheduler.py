"""The scheduler as a state machine: events in, exact instructions out."""

from __future__ import annotations

import pytest

from maze_core import Resources, Workflow, tool
from maze_core.errors import InfeasibleResourcesError, TaskCancelledError, WorkerLostError
from maze_core.schedule import (
    Cancel,
    CancelRun,
    Dispatch,
    Fail,
    Finish,
    Node,
    NodeRemoved,
    Reject,
    Retry,
    Scheduler,
    SubmitRun,
    TaskDone,
    TaskError,
)
from maze_core.tools import spec_of


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


def test_an_uncharged_error_runs_the_task_again_without_spending_a_retry(scheduler):
    wf = Workflow("uncharged")
    wf.add(step)  # no retries
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    lost = RuntimeError("a bundle-mate killed the worker")
    out = scheduler.handle(TaskError(1, "step", 0, time=1.0, error=lost, charged=False))
    assert out[0] == Retry(1, "step", 0, lost)
    assert dispatched(out) == [(1, "step", 1)]
    out = scheduler.handle(TaskError(1, "step", 1, time=2.0, error=lost))  # its own, now
    assert out == [Fail(1, "step", lost), Finish(1, "failed")]


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


def two_nodes() -> Scheduler:
    return Scheduler([Node("a", cpus=1), Node("b", cpus=1)])


def placed(instructions) -> dict[str, str]:
    return {i.task_id: i.allocation.node for i in instructions if isinstance(i, Dispatch)}


def test_an_output_lost_with_its_node_is_computed_again_before_its_consumer_runs():
    scheduler = two_nodes()
    wf = Workflow("lost")
    top = wf.add(step, task_name="top")
    gate = wf.add(step, task_name="gate")
    wf.add(step, [top, gate], task_name="use")
    out = scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    assert placed(out) == {"top": "a", "gate": "b"}
    scheduler.handle(TaskDone(1, "top", 0, time=1.0))
    out = scheduler.handle(NodeRemoved("a", time=2.0))
    assert [(type(i), i.task_id) for i in out] == [(Retry, "top")]  # b is busy with gate
    out = scheduler.handle(TaskDone(1, "gate", 0, time=3.0))
    assert placed(out) == {"top": "b"}  # use waits for its recomputed input
    assert out[-1].attempt == 1
    out = scheduler.handle(TaskDone(1, "top", 1, time=4.0))
    assert placed(out) == {"use": "b"}
    assert scheduler.handle(TaskDone(1, "use", 0, time=5.0)) == [Finish(1, "done")]
    scheduler.check_invariants()


def test_a_lost_chain_is_recomputed_from_the_first_output_still_held():
    scheduler = Scheduler([Node("a", cpus=1), Node("b", cpus=1, custom={"late": 1})])

    @tool(resources=Resources(cpus=1, custom={"late": 1}))
    def late(x: int) -> int:
        return x

    wf = Workflow("chain")
    first = wf.add(step, task_name="first")
    second = wf.add(step, first, task_name="second")
    wf.add(late, second, task_name="third")
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    scheduler.handle(TaskDone(1, "first", 0, time=1.0))
    out = scheduler.handle(TaskDone(1, "second", 0, time=2.0))
    assert placed(out) == {"third": "b"}
    out = scheduler.handle(NodeRemoved("a", time=3.0))
    assert out == []  # third is running on b and already has what it needs
    scheduler.handle(TaskDone(1, "third", 0, time=4.0))
    assert scheduler.task_state(1, "first") is None  # finished: nothing was recomputed


def test_a_sink_output_lost_with_its_node_is_computed_again():
    scheduler = two_nodes()
    wf = Workflow("sinks")
    wf.add(step, task_name="one")
    wf.add(step, task_name="two")
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    scheduler.handle(TaskDone(1, "one", 0, time=1.0))
    out = scheduler.handle(NodeRemoved("a", time=2.0))
    assert [type(i) for i in out] == [Retry]  # b is busy with two
    out = scheduler.handle(TaskDone(1, "two", 0, time=3.0))
    assert placed(out) == {"one": "b"}
    assert scheduler.handle(TaskDone(1, "one", 1, time=4.0)) == [Finish(1, "done")]


def test_a_consumer_that_finds_its_input_lost_waits_without_spending_a_retry():
    scheduler = two_nodes()
    wf = Workflow("reader")
    top = wf.add(step, task_name="top")
    wf.add(step, top, task_name="read")
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    out = scheduler.handle(TaskDone(1, "top", 0, time=1.0))
    assert placed(out) == {"read": "a"}
    out = scheduler.handle(NodeRemoved("a", time=2.0))  # read was running there, top's output too
    assert placed(out) == {"top": "b"}
    assert scheduler.task_state(1, "read") == "waiting"
    out = scheduler.handle(TaskDone(1, "top", 1, time=3.0))
    assert placed(out) == {"read": "b"}
    assert scheduler.handle(TaskDone(1, "read", 1, time=4.0)) == [Finish(1, "done")]
    scheduler.check_invariants()


def test_a_running_consumer_that_finds_its_input_lost_does_not_spend_a_retry():
    scheduler = two_nodes()
    wf = Workflow("race")
    top = wf.add(step, task_name="top")
    other = wf.add(step, task_name="other")
    wf.add(step, [top, other], task_name="read")  # no retries
    scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    scheduler.handle(TaskDone(1, "other", 0, time=1.0))
    out = scheduler.handle(TaskDone(1, "top", 0, time=1.5))
    assert placed(out) == {"read": "a"}
    assert scheduler.handle(NodeRemoved("b", time=2.0)) == []  # read may have fetched it
    error = WorkerLostError("an input of read was lost", fix="", culprit="read")
    out = scheduler.handle(TaskError(1, "read", 0, 3.0, error, retryable=True))
    assert [(type(i), i.task_id) for i in out] == [
        (Retry, "other"),
        (Retry, "read"),
        (Dispatch, "other"),
    ]
    assert placed(out) == {"other": "a"}
    assert scheduler.task_state(1, "read") == "waiting"
    out = scheduler.handle(TaskDone(1, "other", 1, time=4.0))
    assert placed(out) == {"read": "a"}
    assert scheduler.handle(TaskDone(1, "read", 1, time=5.0)) == [Finish(1, "done")]
    scheduler.check_invariants()


@tool(resources=Resources(cpus=2))
def big_a() -> None:
    pass


@tool(resources=Resources(cpus=2))
def big_b() -> None:
    pass


def test_tasks_asking_for_equal_resources_wait_in_one_group():
    scheduler = Scheduler([Node("n1", cpus=2)])
    wf = Workflow("equal")
    for fn in (big_a, big_b, big_a, big_b):
        wf.add(fn)
    out = scheduler.handle(SubmitRun(1, wf.build(), time=0.0))
    assert len(dispatched(out)) == 1
    assert spec_of(big_a).resources is not spec_of(big_b).resources  # equal, two objects
    (queue,) = scheduler.queues._queues.values()
    assert list(queue.groups) == [(Resources(cpus=2), None)]


def test_a_task_that_runs_again_says_whether_it_is_queued_or_waits_for_an_input(scheduler):
    graph = diamond().build()
    scheduler.handle(SubmitRun(1, graph, time=0.0))
    lost = WorkerLostError("lost")
    out = scheduler.handle(TaskError(1, "step", 0, 1.0, lost, retryable=True, charged=False))
    (retry,) = [i for i in out if isinstance(i, Retry)]
    assert retry.state == "ready"
