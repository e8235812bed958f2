"""Properties that hold for every policy, on random clusters, workloads and event orders."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from maze_core import Resources, Workflow, tool
from maze_core.schedule import (
    POLICIES,
    Cancel,
    Dispatch,
    Fail,
    Finish,
    Node,
    NodeAdded,
    NodeRemoved,
    Reject,
    Retry,
    Scheduler,
    SubmitRun,
    TaskDone,
    TaskError,
)

SHAPES = [
    Resources(cpus=1),
    Resources(cpus=2, memory="1GB"),
    Resources(cpus=0),
    Resources(cpus=1, gpus=1),
    Resources(cpus=0, gpus=0.5),
]
TOOLS = []
for i, shape in enumerate(SHAPES):

    def body() -> None:
        pass

    body.__name__ = f"shape{i}"
    TOOLS.append(tool(resources=shape, retries=1, model="m" if shape.gpus else None)(body))

nodes_strategy = st.lists(st.tuples(st.integers(1, 4), st.integers(0, 2)), min_size=1, max_size=4)
workflow_strategy = st.lists(  # each task: (tool index, dependency picks)
    st.tuples(st.integers(0, len(TOOLS) - 1), st.lists(st.integers(0, 30), max_size=2)),
    min_size=1,
    max_size=8,
)


def build(spec, name) -> Workflow:
    wf = Workflow(name)
    refs = []
    for tool_index, picks in spec:
        after = [refs[p % len(refs)] for p in picks] if refs else []
        refs.append(wf.add(TOOLS[tool_index], after=after))
    return wf


def check_books(scheduler: Scheduler) -> None:
    scheduler.check_invariants()
    for node in scheduler.nodes.values():
        assert node.free_cpus >= -1e-9
        assert node.free_memory >= 0
        assert all(share >= -1e-9 for share in node.free_gpu_share)


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(sorted(POLICIES)),
    nodes=nodes_strategy,
    workflows=st.lists(workflow_strategy, min_size=1, max_size=5),
    choices=st.lists(st.integers(0, 10**6), min_size=200, max_size=200),
)
def test_random_interleavings_never_overcommit_and_every_run_ends(
    policy, nodes, workflows, choices
):
    cluster = [Node(f"n{i}", cpus=c, memory=4 * 10**9, gpus=g) for i, (c, g) in enumerate(nodes)]
    scheduler = Scheduler(cluster, policy)
    running: list[tuple[int, str, int]] = []
    finished: set[int] = set()
    events = [
        SubmitRun(i, build(spec, f"wf{i}").build(), float(i)) for i, spec in enumerate(workflows)
    ]
    rejected = set()
    now = 0.0
    step = 0
    pending = list(events)
    while pending or running:
        now += 1.0
        if pending and (not running or choices[step % len(choices)] % 3 == 0):
            batch = [pending.pop(0)]
        else:
            pick = running.pop(choices[step % len(choices)] % len(running))
            if choices[(step + 1) % len(choices)] % 5 == 0:
                batch = [TaskError(*pick, time=now, error=RuntimeError("x"))]
            else:
                batch = [TaskDone(*pick, time=now)]
        step += 1
        for instruction in scheduler.handle(*batch):
            if isinstance(instruction, Dispatch):
                running.append((instruction.run_id, instruction.task_id, instruction.attempt))
            elif isinstance(instruction, Finish):
                finished.add(instruction.run_id)
            elif isinstance(instruction, Reject):
                rejected.add(instruction.run_id)
            else:
                assert isinstance(instruction, Retry | Fail | Cancel)
        check_books(scheduler)
    assert finished | rejected == set(range(len(workflows)))
    assert scheduler.active_runs == 0
    assert all(node.idle for node in scheduler.nodes.values())


@settings(max_examples=60, deadline=None)
@given(
    policy=st.sampled_from(sorted(POLICIES)),
    nodes=nodes_strategy,
    workflows=st.lists(workflow_strategy, min_size=1, max_size=4),
    choices=st.lists(st.integers(0, 10**6), min_size=200, max_size=200),
)
def test_node_churn_loses_no_run_and_recomputes_lost_outputs(policy, nodes, workflows, choices):
    """Nodes die (taking their outputs) and are replaced while runs go on: every run still
    ends, successfully unless a task ran out of retries, and the books balance."""
    cluster = [Node(f"n{i}", cpus=c, memory=4 * 10**9, gpus=g) for i, (c, g) in enumerate(nodes)]
    shapes = {node.name: (node.cpus, node.gpus) for node in cluster}
    scheduler = Scheduler(cluster, policy)
    running: dict[tuple[int, str, int], str] = {}
    ended: set[int] = set()
    pending = [SubmitRun(i, build(s, f"wf{i}").build(), float(i)) for i, s in enumerate(workflows)]
    now, step, spawned = 0.0, 0, len(cluster)
    while pending or running:
        now += 1.0
        choice = choices[step % len(choices)]
        step += 1
        if pending and (not running or choice % 3 == 0):
            batch: list = [pending.pop(0)]
        elif choice % 7 == 0 and spawned < len(nodes) + 6:  # a node dies, a fresh one joins
            victim = sorted(shapes)[choice % len(shapes)]
            cpus, gpus = shapes.pop(victim)
            fresh = Node(f"n{spawned}", cpus=cpus, memory=4 * 10**9, gpus=gpus)
            shapes[fresh.name] = (cpus, gpus)
            spawned += 1
            running = {key: node for key, node in running.items() if node != victim}
            batch = [NodeRemoved(victim, now), NodeAdded(fresh, now)]
        else:
            keys = sorted(running)
            pick = keys[choice % len(keys)]
            del running[pick]
            batch = [TaskDone(*pick, time=now)]
        for instruction in scheduler.handle(*batch):
            if isinstance(instruction, Dispatch):
                key = (instruction.run_id, instruction.task_id, instruction.attempt)
                running[key] = instruction.allocation.node
            elif isinstance(instruction, Finish | Reject):
                ended.add(instruction.run_id)
        check_books(scheduler)
    assert ended == set(range(len(workflows)))
    assert scheduler.active_runs == 0
