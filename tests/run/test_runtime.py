"""The local runtime's semantics, over every executor."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from maze_core import (
    InfeasibleResourcesError,
    LocalRuntime,
    Resources,
    RunCancelledError,
    TaskCancelledError,
    TaskFailedError,
    TaskTimeoutError,
    ValidationError,
    Workflow,
    hookimpl,
    tool,
)


@tool
def inc(x: int) -> int:
    return x + 1


@tool
def fail(x: int) -> int:
    raise ValueError(f"bad value {x}")


@tool
def nap(seconds: float) -> dict:
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}


@tool(kind="io")
def io_nap(seconds: float) -> dict:
    start = time.time()
    time.sleep(seconds)
    return {"start": start, "end": time.time()}


@tool(retries=2)
def flaky(counter: str) -> int:
    """Fails on its first two attempts; the counter file survives process boundaries."""
    path = Path(counter)
    attempts = int(path.read_text() or 0) + 1 if path.exists() else 1
    path.write_text(str(attempts))
    if attempts < 3:
        raise ConnectionError(f"attempt {attempts}")
    return attempts


@tool(timeout=0.3)
def too_slow() -> str:
    time.sleep(1.5)
    return "late"


@tool(timeout=0.3, retries=1)
def slow_then_fast(counter: str) -> str:
    path = Path(counter)
    first = not path.exists()
    path.write_text("x")
    if first:
        time.sleep(1.5)
    return "fast"


def chain(n: int) -> tuple[Workflow, object]:
    wf = Workflow("chain")
    ref = wf.add(inc, 0)
    for _ in range(n - 1):
        ref = wf.add(inc, ref)
    return wf, ref


def test_a_chain_computes_in_order(runtime):
    wf, last = chain(5)
    result = runtime.submit(wf).result(timeout=60)
    assert result.ok
    assert result[last] == 5


def test_records_carry_timings_node_and_prediction(runtime):
    wf, last = chain(2)
    record = runtime.submit(wf).result(timeout=60).tasks[last.task_id]
    assert record.status == "done"
    assert record.node == "local"
    assert record.attempts == 1
    assert record.submitted <= record.queued <= record.started <= record.finished
    assert 0 < record.predicted_seconds < 10  # MaLearn: the cpu default, or what it learned


def test_a_failure_cancels_descendants_and_spares_independent_branches(runtime):
    wf = Workflow("branches")
    bad = wf.add(fail, 1)
    downstream = wf.add(inc, bad)
    independent = wf.add(inc, 41)
    result = runtime.submit(wf).result(timeout=60)
    assert result.status == "failed"
    assert result[independent] == 42
    assert result.tasks[downstream.task_id].status == "cancelled"
    with pytest.raises(TaskCancelledError, match="upstream task 'fail' failed"):
        result[downstream]
    with pytest.raises(TaskFailedError, match="bad value 1"):
        result[bad]


def test_the_error_carries_the_cause_and_the_remote_traceback(runtime):
    wf = Workflow("tb")
    bad = wf.add(fail, 7)
    error = runtime.submit(wf).result(timeout=60).tasks[bad.task_id].error
    assert isinstance(error, TaskFailedError)
    assert isinstance(error.cause, ValueError)
    assert "in fail" in error.remote_traceback
    assert 'raise ValueError(f"bad value {x}")' in error.remote_traceback


def test_retries_try_again_until_success(runtime, tmp_path):
    wf = Workflow("retry")
    ref = wf.add(flaky, str(tmp_path / "count"))
    result = runtime.submit(wf).result(timeout=60)
    assert result[ref] == 3
    assert result.tasks[ref.task_id].attempts == 3


def test_retries_run_out(runtime, tmp_path):
    @tool(retries=1)
    def always_fails() -> None:
        raise RuntimeError("nope")

    wf = Workflow("out-of-retries")
    ref = wf.add(always_fails)
    result = runtime.submit(wf).result(timeout=60)
    assert result.tasks[ref.task_id].status == "failed"
    assert result.tasks[ref.task_id].attempts == 2


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_task_past_its_timeout_fails_without_hanging(executor):
    with LocalRuntime(executor, cpus=2, autoload_plugins=False) as runtime:
        wf = Workflow("timeout")
        ref = wf.add(too_slow)
        started = time.monotonic()
        result = runtime.submit(wf).result(timeout=30)
        assert time.monotonic() - started < 1.4
        assert isinstance(result.tasks[ref.task_id].error, TaskTimeoutError)
        assert "timeout of 0.3s" in str(result.tasks[ref.task_id].error)


def test_a_timed_out_attempt_is_retried_and_its_late_result_ignored(threads, tmp_path):
    wf = Workflow("timeout-retry")
    ref = wf.add(slow_then_fast, str(tmp_path / "marker"))
    result = threads.submit(wf).result(timeout=30)
    assert result[ref] == "fast"
    assert result.tasks[ref.task_id].attempts == 2
    threads.scheduler.check_invariants()


def test_tasks_wait_for_their_resources():
    with LocalRuntime("threads", cpus=1, autoload_plugins=False) as runtime:
        wf = Workflow("one-cpu")
        a, b = wf.add(nap, 0.2), wf.add(nap, 0.2)
        waiting_io = wf.add(io_nap, 0.2)
        result = runtime.submit(wf).result(timeout=30)
    first, second = sorted((result[a], result[b]), key=lambda r: r["start"])
    assert second["start"] >= first["end"] - 0.01  # one CPU: the two never overlap
    assert result[waiting_io]["start"] < first["end"]  # io reserves no CPU: it overlaps


def test_a_request_larger_than_the_machine_fails_at_submit(runtime):
    @tool(resources=Resources(cpus=64))
    def huge() -> None:
        pass

    wf = Workflow("huge")
    wf.add(huge)
    with pytest.raises(InfeasibleResourcesError, match=r"'huge'.*64 CPUs.*has 2"):
        runtime.submit(wf)


def test_fail_fast_cancels_the_rest_of_the_run(threads):
    wf = Workflow("fail-fast")
    wf.add(fail, 1)
    slow = wf.add(nap, 0.3)
    later = wf.add(inc, 1, after=[slow])
    result = threads.submit(wf, fail_fast=True).result(timeout=30)
    assert result.status == "failed"
    assert result.tasks[later.task_id].status == "cancelled"
    assert isinstance(result.tasks[later.task_id].error, RunCancelledError)


def test_cancel_stops_a_run(threads):
    wf = Workflow("cancel")
    slow = wf.add(nap, 0.5)
    after = wf.add(inc, 1, after=[slow])
    handle = threads.submit(wf)
    time.sleep(0.1)
    handle.cancel()
    result = handle.result(timeout=30)
    assert result.status == "cancelled"
    assert result.tasks[after.task_id].status == "cancelled"
    assert result.seconds < 0.45


def test_cancelling_one_task_stops_what_needs_it_and_spares_the_rest(threads):
    wf = Workflow("cancel-task")
    slow = wf.add(nap, 5.0)
    after = wf.add(inc, 1, after=[slow])
    other = wf.add(inc, 41)
    handle = threads.submit(wf)
    handle.cancel_task(slow, reason="too slow")
    result = handle.result(timeout=30)
    assert result.status == "cancelled"
    assert result.tasks[slow.task_id].status == "cancelled"
    assert "too slow" in str(result.tasks[slow.task_id].error)
    assert result.tasks[after.task_id].status == "cancelled"
    assert result[other] == 42


def test_cancelling_a_task_the_run_does_not_have_names_it(threads):
    wf, _ = chain(2)
    handle = threads.submit(wf)
    with pytest.raises(ValidationError, match="has no task 'nope'"):
        handle.cancel_task("nope")
    assert handle.result(timeout=30).status == "done"


def test_a_hundred_workflows_run_concurrently(runtime):
    handles = []
    for i in range(100):
        wf = Workflow(f"wf-{i}")
        x = wf.add(inc, i)
        wf.add(inc, wf.add(inc, x))
        handles.append(runtime.submit(wf))
    results = [h.result(timeout=120) for h in handles]
    assert [r["inc-2"] for r in results] == [i + 3 for i in range(100)]
    runtime.scheduler.check_invariants()
    assert runtime.scheduler.active_runs == 0


def test_one_workflow_runs_many_times_with_different_inputs(runtime):
    wf = Workflow("reuse")
    out = wf.add(inc, wf.input("x"))
    handles = [runtime.submit(wf, x=i) for i in range(5)]
    assert [h.result(timeout=60)[out] for h in handles] == [1, 2, 3, 4, 5]


def test_async_runs_await_without_blocking(runtime):
    async def main():
        runs = []
        for i in range(10):
            wf = Workflow(f"async-{i}")
            wf.add(inc, i)
            runs.append(wf.arun(runtime))
        return await asyncio.gather(*runs)

    results = asyncio.run(main())
    assert [r["inc"] for r in results] == list(range(1, 11))


def test_async_tools_run(runtime):
    @tool
    async def acompute(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 10

    wf = Workflow("async-tool")
    ref = wf.add(acompute, 4)
    assert runtime.submit(wf).result(timeout=60)[ref] == 40


def test_waiting_too_long_for_a_result_says_so(threads):
    wf = Workflow("slow")
    wf.add(nap, 0.5)
    handle = threads.submit(wf)
    with pytest.raises(TaskTimeoutError, match=r"did not finish in 0\.05s"):
        handle.result(timeout=0.05)
    assert handle.result(timeout=30).ok


def test_a_bad_selection_fails_the_consumer_by_name(runtime):
    @tool
    def make() -> dict:
        return {"a": 1}

    wf = Workflow("selection")
    ref = wf.add(inc, wf.add(make)["nope"])
    error = runtime.submit(wf).result(timeout=60).tasks[ref.task_id].error
    assert isinstance(error, TaskFailedError)
    assert "'nope'" in str(error)


def test_hooks_see_every_transition_in_order(tmp_path):
    seen = []

    class Recorder:
        @hookimpl
        def maze_run_started(self, run_id):
            seen.append(("started", run_id))

        @hookimpl
        def maze_task_transition(self, task, old, new):
            seen.append((task.id, old, new))

        @hookimpl
        def maze_run_finished(self, result):
            seen.append(("finished", result.status))

    with LocalRuntime("inline", plugins=[Recorder()], autoload_plugins=False) as runtime:
        wf, _ = chain(1)
        handle = runtime.submit(wf)
        handle.result()
    assert seen == [
        ("started", handle.run_id),
        ("inc", "", "waiting"),
        ("inc", "waiting", "ready"),
        ("inc", "ready", "running"),
        ("inc", "running", "done"),
        ("finished", "done"),
    ]


def test_a_plugin_can_answer_the_duration_prediction():
    class Oracle:
        @hookimpl
        def maze_predict_duration(self, task):
            return 42.0

    with LocalRuntime("inline", plugins=[Oracle()], autoload_plugins=False) as runtime:
        wf, last = chain(1)
        assert runtime.submit(wf).result().tasks[last.task_id].predicted_seconds == 42.0


def test_a_broken_observer_does_not_lose_the_run(caplog):
    class Broken:
        @hookimpl
        def maze_task_transition(self):
            raise RuntimeError("observer bug")

    with LocalRuntime("threads", plugins=[Broken()], autoload_plugins=False) as runtime:
        wf, last = chain(3)
        assert runtime.submit(wf).result(timeout=30)[last] == 3
    assert "observer bug" in caplog.text


def test_a_closed_runtime_refuses_work():
    runtime = LocalRuntime("inline", autoload_plugins=False)
    runtime.close()
    wf, _ = chain(1)
    with pytest.raises(Exception, match="closed"):
        runtime.submit(wf)


def test_wf_run_uses_the_shared_local_runtime():
    wf, last = chain(3)
    assert wf.run()[last] == 3
    assert wf.run("processes")[last] == 3


@pytest.mark.parametrize("executor", ["threads", "processes"])
def test_a_task_that_never_returns_does_not_hold_the_program_at_exit(executor, tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(
        "import time\n"
        "from maze_core import LocalRuntime, Workflow, tool\n"
        "@tool(timeout=0.2)\n"
        "def forever():\n"
        "    time.sleep(3600)\n"
        "if __name__ == '__main__':\n"
        "    wf = Workflow('stuck')\n"
        "    wf.add(forever)\n"
        f"    result = wf.run({executor!r})\n"
        "    print(result.status)\n"
    )
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "failed", out.stderr


@tool
def whoami() -> dict:
    from maze_core import current_task

    ctx = current_task()
    return {"task": ctx.task_id, "attempt": ctx.attempt, "node": ctx.node, "gpus": ctx.gpu_ids}


def test_a_task_knows_its_identity_and_placement(runtime):
    wf = Workflow("ctx")
    ref = wf.add(whoami, task_name="me")
    assert runtime.submit(wf).result(timeout=60)[ref] == {
        "task": "me",
        "attempt": 0,
        "node": "local",
        "gpus": (),
    }


@tool(resources=Resources(cpus=1, gpus=1))
def gpu_env() -> dict:
    import os

    from maze_core import current_task

    return {"ids": current_task().gpu_ids, "env": os.environ.get("CUDA_VISIBLE_DEVICES")}


def test_gpu_tasks_get_their_devices_and_processes_pin_them():
    with LocalRuntime("processes", cpus=4, gpus=2, autoload_plugins=False) as runtime:
        wf = Workflow("gpus")
        refs = [wf.add(gpu_env) for _ in range(2)]
        result = runtime.submit(wf).result(timeout=60)
    assert sorted(result[r]["ids"] for r in refs) == [(0,), (1,)]
    assert sorted(result[r]["env"] for r in refs) == ["0", "1"]


def test_outside_a_task_there_is_no_context():
    from maze_core import current_task

    assert current_task() is None


def test_a_nested_run_on_the_inline_loop_is_refused_not_deadlocked():
    runtime = LocalRuntime("inline", autoload_plugins=False)

    @tool
    def nested() -> str:
        inner, _ = chain(1)
        runtime.submit(inner)
        return "unreachable"

    wf = Workflow("outer")
    ref = wf.add(nested)
    error = runtime.submit(wf).result(timeout=30).tasks[ref.task_id].error
    runtime.close()
    assert "would deadlock" in str(error)


def test_an_exception_with_a_broken_str_is_still_reported(runtime):
    @tool
    def weird() -> None:
        class Weird(Exception):
            def __str__(self):
                raise RuntimeError("no str for you")

        raise Weird()

    wf = Workflow("weird")
    ref = wf.add(weird)
    result = runtime.submit(wf).result(timeout=60)
    assert result.tasks[ref.task_id].status == "failed"


def test_wf_run_with_a_timeout_cancels_the_run(threads):
    wf = Workflow("give-up")
    slow = wf.add(nap, 0.5)
    wf.add(inc, 1, after=[slow])
    with pytest.raises(TaskTimeoutError, match="did not finish"):
        wf.run(threads, timeout=0.05)
    deadline = time.monotonic() + 5
    while threads.scheduler.active_runs and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threads.scheduler.active_runs == 0


def test_an_unpicklable_argument_is_named_by_the_tools_parameter():
    import threading

    from maze_core import SerializationError

    def use(lock):
        return 1

    with LocalRuntime("processes", cpus=2, predictor=False, autoload_plugins=False) as runtime:
        wf = Workflow("unpicklable")
        ref = wf.add(use, lock=threading.Lock())
        error = runtime.submit(wf).result(timeout=30).tasks[ref.task_id].error
    assert isinstance(error, SerializationError)
    assert "argument 'lock' (lock) cannot be pickled" in str(error)
    assert "task 'use'" in str(error)


@tool(timeout=0.3)
def never_returns() -> None:
    time.sleep(3600)


@pytest.mark.parametrize("wait", ["submit", "call"])
def test_a_process_that_never_returns_is_stopped_at_its_timeout_and_its_slot_reused(wait):
    with LocalRuntime("processes", cpus=1, autoload_plugins=False) as runtime:
        wf = Workflow("stuck")
        stuck = wf.add(never_returns)
        after = wf.add(inc, 1, after=[stuck])
        free = wf.add(inc, 2)
        started = time.monotonic()
        # with call() the calling thread reads the stuck worker's pipe itself
        result = runtime.call(wf) if wait == "call" else runtime.submit(wf).result(timeout=30)
        assert isinstance(result.tasks[stuck.task_id].error, TaskTimeoutError)
        assert result.tasks[after.task_id].status == "cancelled"
        assert result[free] == 3  # the one worker was freed, not lost to the stuck call
        assert time.monotonic() - started < 10
        again = Workflow("after-stuck")
        ref = again.add(inc, 41)
        assert runtime.submit(again).result(timeout=30)[ref] == 42


class FinishedWhere:
    thread: int | None = None

    @hookimpl
    def maze_run_finished(self, result):
        self.thread = threading.get_ident()


def test_call_on_processes_runs_the_loop_in_the_calling_thread():
    where = FinishedWhere()
    with LocalRuntime("processes", cpus=2, plugins=[where], autoload_plugins=False) as runtime:
        wf, last = chain(3)
        assert runtime.call(wf)[last] == 3
    assert where.thread == threading.get_ident()  # no reader thread took the results


def test_call_runs_a_fan_out_wider_than_the_workers():
    with LocalRuntime("processes", cpus=2, autoload_plugins=False) as runtime:
        wf = Workflow("fan")
        refs = [wf.add(inc, i) for i in range(6)]
        result = runtime.call(wf)
        assert [result[ref] for ref in refs] == [1, 2, 3, 4, 5, 6]
        runtime.scheduler.check_invariants()


@tool(retries=1)
def dies_once(marker: str) -> str:
    path = Path(marker)
    if not path.exists():
        path.write_text("x")
        os._exit(3)
    return "second"


def test_call_retries_a_task_whose_worker_died(tmp_path):
    with LocalRuntime("processes", cpus=1, autoload_plugins=False) as runtime:
        wf = Workflow("dies")
        ref = wf.add(dies_once, str(tmp_path / "marker"))
        result = runtime.call(wf)
        assert result[ref] == "second"
        assert result.tasks[ref.task_id].attempts == 2


@tool
def words(n: int) -> str:
    return "word " * n


@tool
def count(text: str) -> int:
    return len(text.split())


class Opaque:
    """A value the predictor draws no features from."""


@tool
def make() -> Opaque:
    return Opaque()


@tool
def use(thing: Opaque) -> str:
    return type(thing).__name__


class LengthOracle:
    """Predicts a call of ``count`` from its argument's length; counts the predictions."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def maze_predict_duration(self, task, features):
        self.calls.append(task.id)
        return features.get("text.len", 1.0)


def test_a_prediction_is_refined_when_the_last_input_arrives_before_the_task_is_ready():
    from maze_core.schedule.policies import Daps

    queued_with: dict[str, float] = {}

    class Watching(Daps):
        def priority(self, ts, now):
            queued_with[ts.task.id] = ts.predicted
            return super().priority(ts, now)

    oracle = LengthOracle()
    with LocalRuntime(
        "threads", policy=Watching(), plugins=[oracle], autoload_plugins=False
    ) as runtime:
        wf = Workflow("refine")
        wf.add(count, wf.add(words, 7))
        result = runtime.submit(wf).result(timeout=30)
    assert result["count"] == 7
    assert result.tasks["count"].predicted_seconds == len("word " * 7)
    assert queued_with["count"] == len("word " * 7)  # the scheduler queued it knowing


def test_a_task_is_predicted_again_only_when_what_the_prediction_depends_on_changed():
    oracle = LengthOracle()
    with LocalRuntime("threads", plugins=[oracle], autoload_plugins=False) as runtime:
        wf = Workflow("opaque")
        wf.add(use, wf.add(make))
        assert runtime.submit(wf).result(timeout=30)["use"] == "Opaque"
    assert sorted(oracle.calls) == ["make", "use"]  # once each: an Opaque has no features


def test_a_failed_attempt_that_runs_again_goes_back_to_ready_with_its_error(tmp_path):
    seen = []

    class Recorder:
        @hookimpl
        def maze_task_transition(self, old, new, error):
            seen.append((old, new, type(error).__name__ if error else None))

    with LocalRuntime("threads", plugins=[Recorder()], autoload_plugins=False) as runtime:
        wf = Workflow("flaky")
        wf.add(flaky, str(tmp_path / "n"))
        assert runtime.submit(wf).result(timeout=30)["flaky"] == 3
    again = [("running", "ready", "TaskFailedError"), ("ready", "running", None)]
    assert seen == [
        ("", "waiting", None),
        ("waiting", "ready", None),
        ("ready", "running", None),
        *again,
        *again,
        ("running", "done", None),
    ]


def test_cancelling_the_task_awaiting_a_run_cancels_the_run(threads, tmp_path):
    wf = Workflow("awaited")
    wf.add(nap, 30.0)
    handle = threads.submit(wf)

    async def wait_briefly():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(handle, 0.2)

    asyncio.run(wait_briefly())
    for _ in range(500):  # the run is cancelled, and its end reported to no one, quietly
        if not threads.book.active():
            break
        time.sleep(0.01)
    assert threads.book.active() == []
