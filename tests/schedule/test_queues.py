"""The dispatch step: heads in priority order, blocked heads held, full clusters skipped."""

from __future__ import annotations

from maze_core import Resources, Workflow
from maze_core.schedule import Dispatch, Node, Scheduler, SubmitRun, TaskDone
from maze_core.schedule.policies import Daps
from maze_core.tools import make_spec


def shaped(index: int, cpus: float = 1.0):
    def work() -> None:
        pass

    work.__name__ = work.__qualname__ = f"shape{index}"
    work.__maze_tool__ = make_spec(  # type: ignore[attr-defined]
        work, resources=Resources(cpus=cpus, memory=(index + 1) * 2**20), name=work.__name__
    )
    return work


class Counting(Daps):
    """Daps that counts the placements it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def select_node(self, ts, cluster):
        self.asked += 1
        return super().select_node(ts, cluster)


def many_shapes(shapes: int) -> Workflow:
    wf = Workflow("shapes")
    for index in range(shapes):
        wf.add(shaped(index), task_name=f"t{index}")
    return wf


def started(out) -> list[str]:
    return [i.task_id for i in out if isinstance(i, Dispatch)]


def test_a_full_cluster_costs_no_placement_attempts_however_many_shapes_wait():
    policy = Counting()
    scheduler = Scheduler([Node("n", cpus=1, memory=2**40)], policy)
    assert started(scheduler.handle(SubmitRun(1, many_shapes(100).build(), 0.0))) == ["t0"]
    policy.asked = 0
    scheduler.handle()  # a dispatch step with nothing released
    assert policy.asked == 0


def test_heads_start_in_priority_order_across_shapes():
    scheduler = Scheduler([Node("n", cpus=1, memory=2**40)], "fcfs")
    scheduler.handle(SubmitRun(1, many_shapes(5).build(), 0.0))
    order = ["t0"]
    for _ in range(4):
        out = scheduler.handle(TaskDone(1, order[-1], 0, 1.0))
        order += started(out)
    assert order == ["t0", "t1", "t2", "t3", "t4"]


def test_a_blocked_big_head_lets_a_smaller_shape_behind_it_start():
    scheduler = Scheduler([Node("n", cpus=2, memory=2**40)], "daps")
    wf = Workflow("mixed")
    wf.add(shaped(0, cpus=1), task_name="small-first")
    wf.add(shaped(1, cpus=2), task_name="big")
    wf.add(shaped(2, cpus=1), task_name="small-after")
    out = scheduler.handle(SubmitRun(1, wf.build(), 0.0))
    assert sorted(started(out)) == ["small-after", "small-first"]
