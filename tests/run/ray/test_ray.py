"""RayRuntime: same workflows, same results, Ray executing where the scheduler decides."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from maze_core import (
    InfeasibleResourcesError,
    Resources,
    SerializationError,
    TaskFailedError,
    TaskTimeoutError,
    WorkerLostError,
    Workflow,
    current_model,
    tool,
)
from maze_core.hookspecs import hookimpl
from maze_core.predict.model import Prediction
from maze_core.run.ray.tasks import INLINE_BYTES


@tool
def inc(x: int) -> int:
    return x + 1


@tool
def split(n: int) -> dict:
    return {"head": n, "parts": list(range(n))}


@tool
def fail(x: int) -> int:
    raise ValueError(f"bad value {x}")


@tool(timeout=0.5)
def hang() -> None:
    time.sleep(60)


@tool(retries=1)
def dies_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("died")
        os._exit(1)  # the Ray worker process dies mid-task
    return "survived"


def test_a_workflow_gives_the_same_results_as_locally(ray_runtime):
    wf = Workflow("ray-basic")
    n = wf.input("n")
    parts = wf.add(split, n)
    total = wf.add(inc, parts["parts"][-1])
    result = ray_runtime.submit(wf, n=4).result(timeout=60)
    assert result.ok
    assert result[total] == 4
    assert result[parts]["head"] == 4


@tool
def blob(size: int) -> bytes:
    return b"x" * size


@tool
def length(data: bytes) -> int:
    return len(data)


def test_big_outputs_stay_in_ray_and_small_ones_come_back_with_their_report(ray_runtime):
    import ray

    wf = Workflow("ray-where")
    big, small = wf.add(blob, 2 * INLINE_BYTES), wf.add(blob, 10)
    total = wf.add(length, big)  # the big output goes worker to worker
    short = wf.add(length, small)  # the small one rides in the downstream task's call
    result = ray_runtime.submit(wf).result(timeout=60)
    assert isinstance(result.outputs[big.task_id], ray.ObjectRef)
    assert not isinstance(result.outputs[small.task_id], ray.ObjectRef)
    assert (result[total], result[short], result[small]) == (2 * INLINE_BYTES, 10, b"x" * 10)


@tool
def echo(value: object) -> object:
    return value


class TinyPredictions:
    """Every task predicted to take 0.1 ms: what MaLearn says of a tool after a few runs."""

    @hookimpl
    def maze_predict_duration(self) -> Prediction:
        return Prediction(1e-4, 2e-4, "test")


@pytest.fixture
def tiny_runtime(ray_runtime):
    """A runtime on the session's Ray whose tasks all look tiny, so that they share Ray tasks."""
    from maze_core.run.ray import RayRuntime

    runtime = RayRuntime(autoload_plugins=False, predictor=False, plugins=[TinyPredictions()])
    yield runtime
    runtime.close()


@tool
def marked(i: int, folder: str) -> int:
    """No retries. Kills its Ray worker the first time it runs for ``i == 3`` and every
    time for ``i == 7``; raises for ``i == 5``."""
    died = Path(folder) / "3-died"
    if i == 3 and not died.exists():
        died.write_text("")
        os._exit(1)
    if i == 7:
        os._exit(1)
    if i == 5:
        raise ValueError("five")
    return i * 10


def test_tiny_tasks_share_ray_tasks_and_each_keeps_its_own_outcome(tiny_runtime, tmp_path):
    wf = Workflow("ray-bundles")
    refs = [wf.add(marked, i, str(tmp_path)) for i in range(8)]  # one pass: 2 bundles of 4
    result = tiny_runtime.submit(wf).result(timeout=120)
    assert tiny_runtime.bundled >= 8
    records = [result.tasks[ref.task_id] for ref in refs]
    assert [r.status for r in records] == ["done"] * 5 + ["failed", "done", "failed"]
    assert [result[ref] for ref in refs[:5]] + [result[refs[6]]] == [0, 10, 20, 30, 40, 60]
    assert "five" in str(records[5].error)  # it failed alone: its bundle-mates did not
    # a dead worker cost no retry: each task of its bundle ran again alone, and only the
    # one that kills every worker it runs in failed, on its second, solo, attempt
    assert records[3].attempts == 2
    assert isinstance(records[7].error, WorkerLostError)
    assert records[7].attempts == 2


def test_outputs_of_tasks_in_bundles_reach_their_consumers(tiny_runtime):
    import ray

    wf = Workflow("ray-bundle-outputs")
    big = [wf.add(blob, 2 * INLINE_BYTES) for _ in range(4)]
    small = [wf.add(blob, i) for i in range(4)]
    totals = [wf.add(length, ref) for ref in big + small]
    result = tiny_runtime.submit(wf).result(timeout=120)
    assert tiny_runtime.bundled >= 4
    assert [result[ref] for ref in totals] == [2 * INLINE_BYTES] * 4 + [0, 1, 2, 3]
    assert all(isinstance(result.outputs[ref.task_id], ray.ObjectRef) for ref in big)


def test_bundling_is_off_with_bundle_s_zero(tiny_runtime):
    tiny_runtime.bundle_s = 0
    wf = Workflow("ray-no-bundles")
    refs = [wf.add(inc, i) for i in range(8)]
    result = tiny_runtime.submit(wf).result(timeout=60)
    assert [result[r] for r in refs] == list(range(1, 9))
    assert tiny_runtime.bundled == 0


@tool
def where(x: int) -> tuple[int, str | None]:
    """Its input and the Ray actor it ran in (None: a plain Ray task)."""
    import ray

    return x, ray.get_runtime_context().get_actor_id()


def on_a_lane(runtime, wf, x: int = 0) -> str:
    """Run ``wf`` until its task runs on a lane (the first runs go as Ray tasks while the
    node's first lane warms up); the lane's actor id."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, actor = runtime.submit(wf, x=x).result(timeout=60)["where"]
        if actor is not None:
            return actor
        time.sleep(0.05)
    raise AssertionError("no lane took the task within 60 s")


def test_a_tiny_task_dispatched_alone_runs_on_a_warm_lane_of_its_node(tiny_runtime):
    wf = Workflow("ray-lane")
    wf.add(where, wf.input("x"))
    lane = on_a_lane(tiny_runtime, wf)
    replies = [tiny_runtime.submit(wf, x=i).result(timeout=60)["where"] for i in range(5)]
    assert replies == [(i, lane) for i in range(5)]  # one lane, reused run after run
    assert list(tiny_runtime._actors.lanes().values()) == [1]
    assert tiny_runtime._actors.actors() == []  # lanes are not model actors


def test_a_task_that_kills_its_lane_runs_again_and_the_lane_is_replaced(tiny_runtime, tmp_path):
    warm = Workflow("ray-lane-warm")
    warm.add(where, warm.input("x"))
    first = on_a_lane(tiny_runtime, warm)
    wf = Workflow("ray-lane-dies")
    wf.add(dies_once, str(tmp_path / "marker"))
    result = tiny_runtime.submit(wf).result(timeout=60)
    assert result["dies_once"] == "survived"
    assert result.tasks["dies_once"].attempts == 2  # a dead worker spends a retry, as alone
    assert on_a_lane(tiny_runtime, warm) != first  # the dead lane was dropped, a new one warmed
    assert list(tiny_runtime._actors.lanes().values()) == [1]


def test_a_big_output_of_a_lane_stays_in_ray_for_its_consumer(tiny_runtime):
    import ray

    warm = Workflow("ray-lane-warm-big")
    warm.add(where, warm.input("x"))
    on_a_lane(tiny_runtime, warm)
    wf = Workflow("ray-lane-big")
    big = wf.add(blob, 2 * INLINE_BYTES)  # alone in its row: it runs on the lane
    total = wf.add(length, big)
    result = tiny_runtime.submit(wf).result(timeout=60)
    assert isinstance(result.outputs[big.task_id], ray.ObjectRef)
    assert result[total] == 2 * INLINE_BYTES
    assert tiny_runtime.bundled == 0


class NoWarmUp:
    """A lane's body without ``ready``: its warm-up cannot even be submitted."""

    def run(self, execute, call, *deps):
        return execute(call, *deps)


def test_a_lane_that_cannot_warm_up_costs_its_tasks_nothing(tiny_runtime, monkeypatch):
    import ray

    monkeypatch.setattr(tiny_runtime._actors, "_cls", ray.remote(NoWarmUp))
    wf = Workflow("ray-lane-broken")
    wf.add(where, wf.input("x"))
    replies = [tiny_runtime.submit(wf, x=i).result(timeout=60)["where"] for i in range(3)]
    assert replies == [(i, None) for i in range(3)]  # all ran, as plain Ray tasks
    assert tiny_runtime._actors.lanes() == {}  # each broken lane was dropped


def test_lanes_are_off_with_bundle_s_zero(tiny_runtime):
    tiny_runtime.bundle_s = 0
    wf = Workflow("ray-no-lane")
    wf.add(where, 1)
    assert tiny_runtime.submit(wf).result(timeout=60)["where"] == (1, None)
    assert tiny_runtime._actors.lanes() == {}


def slow_call(call: list, *deps: object) -> tuple[list, None]:
    time.sleep(call[0])
    return call, None


def test_a_lane_takes_calls_once_warm_and_one_at_a_time(ray_runtime):
    import ray

    from maze_core.run.ray.actors import ModelActors
    from maze_core.run.ray.remotes import options as _options

    node = next(iter(ray_runtime.scheduler.nodes))
    actors = ModelActors(ray, lambda node, model: None)
    options = _options(Resources(), node)
    try:
        assert actors.lane(node, 1, options, slow_call, [0.5], []) is None  # starts warming
        assert actors.lanes() == {node: 1}
        deadline = time.monotonic() + 60
        while (first := actors.lane(node, 1, options, slow_call, [0.5], [])) is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert actors.lane(node, 1, options, slow_call, [0.0], []) is None  # busy, at limit
        assert ray.get(first[0], timeout=60) == [0.5]
        actors.finished(first[0])
        again = actors.lane(node, 1, options, slow_call, [0.0], [])
        assert again is not None
        assert ray.get(again[0], timeout=60) == [0.0]
        assert actors.lanes() == {node: 1}
    finally:
        actors.close()


def test_arguments_and_results_keep_their_exact_types(ray_runtime):
    values = [2**70, {1: "a", (2, 3): "b"}, (1, 2), [1, (2, 3)], b"\x00", 1.5, True, None]
    wf = Workflow("ray-types")
    n = wf.input("n")
    positional = [wf.add(echo, value) for value in values]
    by_name = [wf.add(echo, value=value) for value in values]
    nested = wf.add(echo, [positional[2], {"n": n, "map": positional[1]}])
    result = ray_runtime.submit(wf, n=(7,)).result(timeout=60)
    for value, *refs in zip(values, positional, by_name, strict=True):
        for ref in refs:
            assert result[ref] == value
            assert type(result[ref]) is type(value)
    assert result[nested] == [(1, 2), {"n": (7,), "map": {1: "a", (2, 3): "b"}}]


def test_failures_cascade_with_the_remote_traceback(ray_runtime):
    wf = Workflow("ray-fail")
    bad = wf.add(fail, 3)
    after = wf.add(inc, bad)
    free = wf.add(inc, 1)
    result = ray_runtime.submit(wf).result(timeout=60)
    error = result.tasks[bad.task_id].error
    assert isinstance(error, TaskFailedError)
    assert "bad value 3" in str(error)
    assert "in fail" in error.remote_traceback
    assert result.tasks[after.task_id].status == "cancelled"
    assert result[free] == 2


def test_a_timeout_cancels_the_ray_task_without_hanging(ray_runtime):
    wf = Workflow("ray-timeout")
    ref = wf.add(hang)
    started = time.monotonic()
    result = ray_runtime.submit(wf).result(timeout=60)
    assert time.monotonic() - started < 20
    assert isinstance(result.tasks[ref.task_id].error, TaskTimeoutError)


@pytest.mark.parametrize(
    "seconds", [0.02, 0.5], ids=["expires-before-start", "expires-while-running"]
)
def test_a_timeout_keeps_its_retries_whenever_it_fires(ray_runtime, seconds):
    slow = tool(timeout=seconds, retries=2, name=f"slow-{seconds}")(_sleeps)
    wf = Workflow("ray-timeout-retries")
    ref = wf.add(slow, 60.0)
    result = ray_runtime.submit(wf).result(timeout=120)
    record = result.tasks[ref.task_id]
    assert isinstance(record.error, TaskTimeoutError), record.error
    assert record.attempts == 3


def test_a_timeout_after_the_task_ended_changes_nothing(ray_runtime):
    quick = tool(timeout=2.0, retries=2, name="quick")(_sleeps)
    wf = Workflow("ray-timeout-late")
    ref = wf.add(quick, 0.0)
    result = ray_runtime.submit(wf).result(timeout=60)
    time.sleep(2.5)  # the deadline passes after the end
    assert result[ref] == 0.0
    assert result.tasks[ref.task_id].attempts == 1


def _sleeps(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_killed_worker_is_retried_and_the_run_completes(ray_runtime, tmp_path):
    wf = Workflow("ray-crash")
    ref = wf.add(dies_once, str(tmp_path / "marker"))
    result = ray_runtime.submit(wf).result(timeout=120)
    assert result[ref] == "survived"
    assert result.tasks[ref.task_id].attempts == 2


def test_a_request_larger_than_every_node_fails_at_submit(ray_runtime):
    @tool(resources=Resources(cpus=1, gpus=4))
    def needs_gpus() -> None:
        pass

    wf = Workflow("ray-infeasible")
    wf.add(needs_gpus)
    with pytest.raises(InfeasibleResourcesError, match="4 GPUs"):
        ray_runtime.submit(wf)


def test_many_tasks_and_concurrent_runs(ray_runtime):
    handles = []
    for i in range(10):
        wf = Workflow(f"ray-many-{i}")
        wf.add(inc, wf.add(inc, i))
        handles.append(ray_runtime.submit(wf))
    assert [h.result(timeout=120)["inc-1"] for h in handles] == [i + 2 for i in range(10)]
    ray_runtime.scheduler.check_invariants()


def counting_loader(marks: Path, factor: int):
    """A slow-to-build 'model' that leaves one file per build (in whichever process)."""

    def load() -> dict:
        (marks / f"load-{os.getpid()}-{time.monotonic_ns()}").touch()
        time.sleep(0.3)
        return {"factor": factor}

    return load


def test_a_model_is_loaded_once_per_node_and_serves_many_calls(ray_runtime, tmp_path):
    @tool(model="five", load=counting_loader(tmp_path, 5))
    def times_five(x: int) -> tuple:
        return x * current_model()["factor"], os.getpid()

    wf = Workflow("ray-model")
    refs = [wf.add(times_five, i) for i in range(20)]
    result = ray_runtime.submit(wf).result(timeout=120)
    assert [result[ref][0] for ref in refs] == [5 * i for i in range(20)]
    assert len(list(tmp_path.glob("load-*"))) == 1
    assert len({result[ref][1] for ref in refs}) == 1  # one actor process served them all
    (node,) = ray_runtime.scheduler.nodes
    assert ray_runtime._actors.actors() == [(node, "five", 0)]
    assert "five" in ray_runtime.scheduler.nodes[node].models


def test_an_idle_model_actor_is_stopped_and_the_scheduler_told(ray_runtime, tmp_path, monkeypatch):
    @tool(model="idle", load=counting_loader(tmp_path, 1))
    def served(x: int) -> int:
        return x * current_model()["factor"]

    wf = Workflow("ray-idle-model")
    wf.add(served, 1)
    ray_runtime.submit(wf).result(timeout=120)
    monkeypatch.setattr(ray_runtime, "model_idle_s", 0.2)
    deadline = time.monotonic() + 10
    while any(model == "idle" for _, model, _ in ray_runtime._actors.actors()):
        assert time.monotonic() < deadline, "the idle actor was not stopped"
        time.sleep(0.1)
    (node,) = ray_runtime.scheduler.nodes.values()
    deadline = time.monotonic() + 5
    while "idle" in node.models:
        assert time.monotonic() < deadline, "the scheduler still thinks the model is warm"
        time.sleep(0.05)
    ray_runtime.submit(wf).result(timeout=120)
    assert len(list(tmp_path.glob("load-*"))) == 2


def test_a_tool_from_a_module_workers_cannot_import_is_shipped(ray_runtime, user_package):
    import ray

    package = user_package.__name__.partition(".")[0]
    importable = ray.remote(lambda: __import__("importlib").util.find_spec(package) is not None)
    assert ray.get(importable.remote()) is False  # the workers really lack the files
    wf = Workflow("ray-shipped")
    ref = wf.add(user_package.triple, 5)
    point = wf.add(user_package.point, 2)
    result = ray_runtime.submit(wf).result(timeout=60)
    assert result[ref] == 15
    assert type(result[point]) is user_package.Point  # the class it shipped, not a copy


def test_a_tool_capturing_something_unpicklable_fails_at_submit(ray_runtime, user_package):
    wf = Workflow("ray-unpicklable")
    wf.add(user_package.locked, 1)
    with pytest.raises(SerializationError, match=r"'locked'.*'LOCK'"):
        ray_runtime.submit(wf)


def test_a_tool_over_the_shipping_limit_names_its_biggest_global(
    ray_runtime, user_package, monkeypatch
):
    monkeypatch.setattr(ray_runtime.remotes, "ship_limit", 2**20)
    wf = Workflow("ray-heavy")
    wf.add(user_package.heavy, 1)
    with pytest.raises(SerializationError, match=r"'heavy' pickles to 2\.9 MiB.*'BIG'"):
        ray_runtime.submit(wf)


def test_what_was_shipped_goes_when_its_function_does(ray_runtime):
    import gc
    import weakref

    def closure(factor: int):
        return lambda x: x * factor  # travels by value

    fn = closure(3)
    travels = ray_runtime.ship(fn, "scaled")
    assert ray_runtime.ship(fn, "scaled") is travels  # checked and pickled once
    gone = weakref.ref(fn)
    del fn, travels
    gc.collect()
    assert gone() is None  # a graph's functions are not held after the graph is gone


CLUSTER_SCRIPT = textwrap.dedent("""
    import os, sys
    import ray
    from ray.cluster_utils import Cluster
    from maze_core import Resources, Workflow, current_model, tool
    from maze_core.run.ray import RayRuntime

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=2, num_gpus=1)
    cluster.add_node(num_cpus=2, resources={"ssd": 1})
    cluster.wait_for_nodes()

    @tool(resources=Resources(cpus=1, gpus=1))
    def on_gpu() -> tuple:
        return ray.get_runtime_context().get_node_id(), os.environ.get("CUDA_VISIBLE_DEVICES")

    @tool(resources=Resources(cpus=1, custom={"ssd": 1}))
    def on_ssd() -> str:
        return ray.get_runtime_context().get_node_id()

    def load_model() -> dict:
        return {"pid": os.getpid(), "devices": os.environ.get("CUDA_VISIBLE_DEVICES")}

    @tool(resources=Resources(cpus=1, gpus=1), model="m", load=load_model)
    def on_model() -> tuple:
        model = current_model()
        return ray.get_runtime_context().get_node_id(), model["pid"], model["devices"]

    runtime = RayRuntime(address=cluster.address, autoload_plugins=False, predictor=False)
    nodes = {n["NodeID"]: n["Resources"] for n in ray.nodes()}
    wf = Workflow("placement")
    gpu = [wf.add(on_gpu) for _ in range(3)]
    ssd = [wf.add(on_ssd) for _ in range(3)]
    served = [wf.add(on_model) for _ in range(4)]
    result = runtime.submit(wf).result(timeout=120)
    assert result.ok, result.errors
    for ref in gpu:
        node, visible = result[ref]
        assert nodes[node].get("GPU") == 1.0, nodes[node]
        assert visible == "0", visible
    for ref in ssd:
        assert nodes[result[ref]].get("ssd") == 1.0
    answers = {result[ref] for ref in served}
    assert len(answers) == 1, answers  # one actor, one load, on the GPU node
    (node, pid, devices), = answers
    assert nodes[node].get("GPU") == 1.0 and devices == "0", (nodes[node], devices)
    runtime.close()
    ray.shutdown()
    cluster.shutdown()
    print("placement ok")
""")


def run_cluster_script(tmp_path: Path, source: str, *args: str) -> str:
    """Run ``source`` in a fresh interpreter (a multi-node Ray cluster cannot share this
    process with the session's Ray) and return its stdout, failing with its output."""
    pytest.importorskip("ray")
    script = tmp_path / "cluster.py"
    script.write_text(source)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


@pytest.mark.slow
def test_gpu_and_custom_resources_land_on_the_nodes_that_have_them(tmp_path):
    assert "placement ok" in run_cluster_script(tmp_path, CLUSTER_SCRIPT)


NODE_REMOVAL_SCRIPT = """import os, sys, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from maze_core import Resources, Workflow, tool
from maze_core.run.ray import RayRuntime

marks = Path(sys.argv[1])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2})
doomed = cluster.add_node(num_cpus=2, resources={"zone": 2})
cluster.wait_for_nodes()

def here() -> str:
    return ray.get_runtime_context().get_node_id()

@tool(resources=Resources(cpus=1, custom={"zone": 1}))
def produce(n: int) -> bytes:
    (marks / f"produce-{here()}-{time.time()}").touch()
    return b"x" * n

@tool(resources=Resources(cpus=1, custom={"zone": 1}))
def slow(seconds: float) -> str:
    (marks / f"slow-{here()}-{time.time()}").touch()
    time.sleep(seconds)
    return here()

@tool(resources=Resources(cpus=1))
def gate(seconds: float) -> float:
    time.sleep(seconds)
    return seconds

@tool(resources=Resources(cpus=1))
def consume(data: bytes, waited: float) -> int:
    return len(data)

runtime = RayRuntime(address=cluster.address, autoload_plugins=False, predictor=False)
wf = Workflow("node-removal")
data = wf.add(produce, 10**6)
held = wf.add(slow, 5.0)
total = wf.add(consume, data, wf.add(gate, 3.0))
handle = runtime.submit(wf)
deadline = time.time() + 60
while not list(marks.glob("slow-*")) or not list(marks.glob("produce-*")):
    assert time.time() < deadline, "tasks did not start"
    time.sleep(0.1)
time.sleep(0.5)  # produce's output is in the doomed node's object store
cluster.remove_node(doomed)
cluster.add_node(num_cpus=2, resources={"zone": 2})
result = handle.result(timeout=120)
assert result.ok, result.errors
assert result[total] == 10**6
assert result.tasks[data.task_id].attempts == 2, result.tasks[data.task_id]
assert result[held] != doomed.node_id
producers = {p.name.split("-")[1] for p in marks.glob("produce-*")}
assert doomed.node_id in producers and len(producers) == 2, producers
runtime.scheduler.check_invariants()
runtime.close()
ray.shutdown()
cluster.shutdown()
print("node removal ok")
"""


@pytest.mark.slow
def test_a_removed_node_s_running_tasks_and_lost_outputs_run_again_elsewhere(tmp_path):
    """A node dies while one task runs there and another's output sits in its memory; a
    fresh node joins: the run completes, the lost output computed a second time there."""
    marks = tmp_path / "marks"
    marks.mkdir()
    assert "node removal ok" in run_cluster_script(tmp_path, NODE_REMOVAL_SCRIPT, str(marks))


class Throttled(Exception):
    """Like an SDK's error: keyword-only arguments, and a field that cannot pickle."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.lock = threading.Lock()


def throttled(n: int) -> int:
    raise Throttled(f"slow down ({n})", status=429)


def test_an_exception_that_does_not_pickle_comes_back_from_ray_as_its_own_class(ray_runtime):
    from maze_core import Remote
    from maze_core.errors import RemoteTraceback

    remote = Remote(throttled, name="throttled", runtime=ray_runtime)
    with pytest.raises(Throttled, match=r"slow down \(5\)") as raised:
        remote.call((5,), {})
    assert raised.value.status == 429
    assert isinstance(raised.value.__cause__, RemoteTraceback)
    assert "in throttled" in str(raised.value.__cause__)
