"""Calls their caller runs itself: scheduled as tasks, run in place, answered as in place."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from maze_core import LocalRuntime, Remote, current_task, hookimpl
from maze_core.predict.kinds import LEARN_AFTER, MIN_CPU_S, KindLearner


def body_of_a_worker(x: int) -> int:  # what the call would run in a worker: unused here
    return x


class Transitions:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []

    @hookimpl
    def maze_task_transition(self, task, old, new, node) -> None:
        self.seen.append((new, node))


@pytest.fixture
def runtime():
    transitions = Transitions()
    options = {"autoload_plugins": False, "plugins": [transitions], "predictor": False}
    with LocalRuntime("processes", cpus=1, **options) as rt:
        rt.transitions = transitions
        yield rt


def test_the_body_runs_in_this_thread_as_a_task_and_returns_its_very_object(runtime):
    remote = Remote(body_of_a_worker, name="here", runtime=runtime)
    seen = {}

    def body() -> object:
        seen["thread"] = threading.get_ident()
        seen["task"] = current_task().task_id
        return seen

    assert remote.here(body) is seen
    assert seen == {"thread": threading.get_ident(), "task": "here"}
    assert runtime.transitions.seen == [
        ("waiting", None),
        ("ready", "caller"),
        ("running", "caller"),
        ("done", "caller"),
    ]


def test_what_the_body_raises_is_raised_as_itself(runtime):
    remote = Remote(body_of_a_worker, name="raises", runtime=runtime)
    error = KeyError("mine")

    def body() -> None:
        raise error

    with pytest.raises(KeyError) as raised:
        remote.here(body)
    assert raised.value is error
    assert runtime.transitions.seen[-1] == ("failed", "caller")


def test_here_calls_take_no_cpu_slot(runtime):
    """One CPU, and a call in place waits on another one: both run at once."""
    remote = Remote(body_of_a_worker, name="waits", runtime=runtime)
    inside = threading.Barrier(2, timeout=10)
    threads = [threading.Thread(target=remote.here, args=(inside.wait,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not inside.broken


def test_a_coroutine_is_awaited_in_the_callers_task_and_cancelled_there(runtime):
    remote = Remote(body_of_a_worker, name="coroutine", runtime=runtime)
    seen = []

    async def body() -> None:
        seen.append(asyncio.current_task())
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        call = asyncio.ensure_future(remote.ahere(body))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert seen == [call, "cancelled"]

    asyncio.run(main())
    assert runtime.book.active() == []


def test_a_declared_kind_decides_and_an_undeclared_one_is_learned(runtime):
    assert Remote(body_of_a_worker, name="io", runtime=runtime, kind="io").runs_here()
    assert not Remote(body_of_a_worker, name="cpu", runtime=runtime, kind="cpu").runs_here()
    learned = Remote(body_of_a_worker, name="learned", runtime=runtime)
    assert learned.runs_here()  # nothing known: in the caller, measured
    for _ in range(LEARN_AFTER):
        runtime.kinds.observe("learned", wall=0.1, cpu=0.1)
    assert not learned.runs_here()


def test_the_learner_tells_computing_from_waiting():
    kinds = KindLearner()
    for _ in range(LEARN_AFTER):
        kinds.observe("sleeps", wall=0.5, cpu=0.001)
        kinds.observe("spins", wall=0.5, cpu=0.5)
        kinds.observe("tiny", wall=MIN_CPU_S / 4, cpu=MIN_CPU_S / 4)  # not worth a hop
        kinds.observe("shares", wall=0.8, cpu=0.1, crowd=8)  # 8 threads on one GIL
        kinds.observe("queued", wall=0.5, cpu=0.1, queued=0.35)  # a loaded machine
    assert {name: kind for name, (kind, _) in kinds.known().items()} == {
        "sleeps": "io",
        "spins": "cpu",
        "tiny": "io",
        "shares": "cpu",
        "queued": "cpu",
    }


def test_a_computing_call_needs_clear_evidence_to_go_back():
    kinds = KindLearner()
    for _ in range(LEARN_AFTER):
        kinds.observe("node", wall=0.1, cpu=0.1)
    for _ in range(8):  # a loaded machine: 40% of its wall time on the CPU
        kinds.observe("node", wall=0.25, cpu=0.1)
    assert kinds.kind("node") == "cpu"
    for _ in range(8):
        kinds.observe("node", wall=1.0, cpu=0.01)  # now it waits
    assert kinds.kind("node") == "io"


def test_what_is_learned_is_saved_for_the_next_process(tmp_path, monkeypatch):
    monkeypatch.setenv("MAZE_HOME", str(tmp_path))
    with LocalRuntime("threads", cpus=1, autoload_plugins=False) as first:
        for _ in range(LEARN_AFTER):
            first.kinds.observe("node", wall=0.1, cpu=0.1)
    with LocalRuntime("threads", cpus=1, autoload_plugins=False) as second:
        assert second.kinds.kind("node") == "cpu"


def test_a_body_stopping_its_thread_does_not_leave_its_run_open(runtime):
    remote = Remote(body_of_a_worker, name="stops", runtime=runtime)

    def body() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        remote.here(body)
    deadline = time.monotonic() + 10
    while runtime.book.active() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert runtime.book.active() == []
