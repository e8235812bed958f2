"""The contract every executor follows (concurrent.futures semantics)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import sys
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import pytest

from maze_core import SerializationError, WorkerLostError
from maze_core.run.executors import (
    InlineExecutor,
    ProcessExecutor,
    dumps,
    make_executor,
    run_call,
    size_hint,
)


def add(a, b):
    return a + b


def boom():
    raise KeyError("missing")


@pytest.fixture(params=["inline", "threads", "processes"])
def executor(request):
    ex = make_executor(request.param, max_workers=2)
    yield ex
    ex.shutdown(wait=True)


def test_submit_returns_a_future_with_the_result(executor: Executor):
    assert executor.submit(add, 2, b=3).result(timeout=30) == 5


def test_exceptions_propagate_with_their_type(executor: Executor):
    with pytest.raises(KeyError, match="missing"):
        executor.submit(boom).result(timeout=30)


def test_closures_and_lambdas_run(executor: Executor):
    offset = 10
    assert executor.submit(lambda x: x + offset, 1).result(timeout=30) == 11


def test_many_calls_all_complete(executor: Executor):
    futures = [executor.submit(add, i, i) for i in range(50)]
    assert [f.result(timeout=30) for f in futures] == [2 * i for i in range(50)]


def test_run_call_turns_user_exceptions_into_outcomes(executor: Executor):
    outcome = executor.submit(run_call, boom, (), {}).result(timeout=30)
    assert not outcome.ok
    assert isinstance(outcome.error, KeyError)
    assert "in boom" in outcome.traceback
    assert outcome.started <= outcome.finished


def test_run_call_runs_coroutines(executor: Executor):
    async def coro(x):
        return x * 2

    assert executor.submit(run_call, coro, (4,), {}, True).result(timeout=30).value == 8


def test_inline_runs_in_the_callers_thread():
    ex = InlineExecutor()
    assert ex.submit(threading.get_ident).result() == threading.get_ident()


def test_threads_run_elsewhere():
    with ThreadPoolExecutor(1) as ex:
        assert ex.submit(threading.get_ident).result() != threading.get_ident()


@pytest.fixture
def processes():
    ex = ProcessExecutor(1)
    yield ex
    ex.shutdown()


def test_processes_run_in_another_process(processes):
    assert processes.submit(os.getpid).result(timeout=30) != os.getpid()


def test_processes_name_the_argument_that_cannot_be_pickled(processes):
    with pytest.raises(SerializationError, match="argument 'lock'"):
        processes.submit(add, 1, lock=threading.Lock())


def test_processes_report_an_unpicklable_result(processes):
    with pytest.raises(SerializationError, match="result"):
        processes.submit(threading.Lock).result(timeout=30)


def test_code_of_main_defined_after_the_workers_started_runs_as_defined_now(processes, monkeypatch):
    """A notebook or script may define (or redefine) a function after the workers were
    forked: it must travel by value, even though the C pickler could name it."""
    assert processes.submit(add, 1, 1).result(timeout=30) == 2  # the workers exist
    main = sys.modules["__main__"]
    namespace: dict = {"__name__": "__main__"}
    exec("def late(x):\n    return x * 7\n", namespace)
    monkeypatch.setattr(main, "late", namespace["late"], raising=False)
    assert processes.submit(namespace["late"], 6).result(timeout=30) == 42
    exec("def late(x):\n    return x * 8\n", namespace)
    monkeypatch.setattr(main, "late", namespace["late"])
    assert processes.submit(namespace["late"], 6).result(timeout=30) == 48


def test_importable_code_travels_by_reference_with_the_c_pickler():
    payload = dumps((add, (1, 2), {}))
    assert b"add" in payload
    assert pickle.loads(payload)[0] is add
    assert b"__main__" not in payload


def test_a_dead_worker_is_reported_and_the_pool_recovers(processes):
    with pytest.raises(WorkerLostError, match="died"):
        processes.submit(os._exit, 3).result(timeout=30)
    assert processes.submit(add, 1, 1).result(timeout=30) == 2


@dataclasses.dataclass(slots=True)
class Reply:
    value: Any


class Holder:
    def __init__(self, data: Any) -> None:
        self.data = data


def test_size_hint_weighs_buffers_exactly_and_containers_by_sampling():
    class Array:
        nbytes = 8_000_000

    assert size_hint(b"x" * 1000) == 1000
    assert size_hint("abc") == 3
    assert size_hint(Array()) == 8_000_000
    assert 10_000_000 <= size_hint([b"x" * 100_000] * 100) <= 10_000_200
    assert size_hint({"a": Array(), "b": 1}) > 8_000_000
    assert size_hint(object()) == 64
    reply = Reply(value={"rows": ["x" * 1000] * 1000})  # a wrapper around the real value
    assert 1_000_000 <= size_hint(reply) <= 1_000_300
    assert size_hint(Holder([b"x" * 5000])) >= 5000  # an object's attributes count too
