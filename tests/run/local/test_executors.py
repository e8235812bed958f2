"""The contract every executor follows (concurrent.futures semantics)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import pytest

from maze_core import SerializationError, WorkerLostError
from maze_core.run.local import serving
from maze_core.run.local.processes import ProcessExecutor
from maze_core.run.local.threads import InlineExecutor, make_executor
from maze_core.run.worker.call import run_call, size_hint
from maze_core.run.worker.wire import dumps


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

    assert executor.submit(run_call, coro, (4,), {}, is_async=True).result(timeout=30).value == 8


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


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux's /proc")
def test_a_worker_killed_while_idle_is_replaced_without_failing_the_next_call(processes):
    pid = processes.submit(os.getpid).result(timeout=30)
    os.kill(pid, signal.SIGKILL)
    wait_until_gone(pid)
    assert processes.submit(os.getpid).result(timeout=30) not in (pid, os.getpid())


def touch(path: str) -> None:
    with open(path, "w"):
        pass


def test_a_killed_call_still_queued_fails_and_never_runs(processes, tmp_path):
    """Its timeout passed while it waited for a worker: the scheduler freed its CPU, so
    run later it would take a CPU nobody counts."""
    marker = tmp_path / "ran"
    busy = processes.submit(time.sleep, 30)
    queued = processes.submit(touch, str(marker))
    assert processes.kill(queued)
    with pytest.raises(WorkerLostError, match="before a worker process took it"):
        queued.result(timeout=5)
    assert processes.kill(busy)
    assert processes.submit(add, 1, 1).result(timeout=30) == 2
    assert not marker.exists()


def test_a_killed_call_fails_at_once_and_its_worker_leaves_the_pool(processes):
    running = processes.submit(time.sleep, 30)
    deadline = time.monotonic() + 30
    while not any(w.current is running for w in processes._workers):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (worker,) = processes._workers
    assert processes.kill(running)
    with pytest.raises(WorkerLostError):
        running.result(timeout=0)  # reported by kill itself, not left to a reader thread
    assert worker not in processes._workers
    assert not processes.kill(running)  # ended: nothing to stop
    assert processes.submit(add, 1, 1).result(timeout=30) == 2


def test_a_collected_call_leaves_its_result_to_the_caller(processes):
    future, worker = processes.submit_collected(add, 2, 3)
    assert worker is not None
    time.sleep(0.3)  # the result is back in the pipe: no reader thread took it
    assert not future.done()
    processes.collect(worker)
    assert future.result(timeout=0) == 5
    assert processes.submit(add, 1, 1).result(timeout=30) == 2  # the worker is idle again


def test_a_call_waits_for_a_busy_pool_instead_of_being_collected(processes):
    first, worker = processes.submit_collected(time.sleep, 0.2)
    second, none = processes.submit_collected(add, 1, 2)
    assert none is None  # queued: the reader thread completes it
    processes.collect(worker)
    assert first.result(timeout=0) is None
    assert second.result(timeout=30) == 3


def test_collecting_from_a_worker_that_dies_reports_it(processes):
    future, worker = processes.submit_collected(os._exit, 3)
    processes.collect(worker)
    with pytest.raises(WorkerLostError, match="died"):
        future.result(timeout=0)
    assert processes.submit(add, 1, 1).result(timeout=30) == 2


def test_an_interrupted_collect_leaves_the_result_to_the_reader(processes, monkeypatch):
    future, worker = processes.submit_collected(add, 2, 2)

    def interrupted(spin_s):
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        processes.collect(worker)
    assert future.result(timeout=30) == 4


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs Linux's /proc")
def test_a_worker_polls_for_calls_only_briefly_once_they_stop_coming(processes):
    for _ in range(20):  # calls close together: the worker polls between them
        pid = processes.submit(os.getpid).result(timeout=30)
    time.sleep(0.1)
    before = cpu_ticks(pid)
    time.sleep(0.5)
    assert cpu_ticks(pid) - before <= 2  # ticks of 10 ms: asleep, not polling


def test_a_collector_polls_for_at_most_its_spin_then_sleeps(processes):
    future, worker = processes.submit_collected(time.sleep, 0.5)
    cpu = time.thread_time()
    processes.collect(worker, spin_s=0.05)
    assert future.result(timeout=0) is None
    assert time.thread_time() - cpu < 0.25  # polled ~0.05 s, then slept until the result


def test_nothing_polls_where_the_process_has_one_cpu(monkeypatch):
    monkeypatch.setattr(serving, "detect_cpus", lambda: 1)
    assert serving.spin_budget() == 0.0
    monkeypatch.setattr(serving, "detect_cpus", lambda: 2)
    assert serving.spin_budget() == serving.SPIN_S > 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_their_parent_dies_without_exit_hooks():
    script = (
        "import os, sys\n"
        "from maze_core.run.local.processes import ProcessExecutor\n"
        "pool = ProcessExecutor(3)\n"
        "futures = [pool.submit(os.getpid) for _ in range(3)]\n"
        "print(*{f.result(timeout=60) for f in futures}, flush=True)\n"
        "os._exit(0)\n"
    )
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids
    for pid in pids:  # orphans are reaped by init: gone, not zombies
        for _ in range(3000):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.01)
        else:
            raise AssertionError(f"worker {pid} outlived its parent")


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_until_gone(pid: int) -> None:
    """Until ``pid`` has exited (a zombie counts: its parent, the pool, reaps it later)."""
    for _ in range(300):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


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


def test_a_call_submitted_as_a_thread_reports_runs_next_on_that_thread():
    executor = make_executor("threads", max_workers=4)
    ran_on: list[str] = []
    followed: list[Any] = []

    def note() -> str:
        ran_on.append(threading.current_thread().name)
        return ran_on[-1]

    def then(_future: Any) -> None:
        followed.append(executor.submit(note))

    first = executor.submit(note)
    first.add_done_callback(then)
    first.result(timeout=10)
    followed[0].result(timeout=10)
    assert ran_on[0] == ran_on[1]
    executor.shutdown(wait=True)


def test_a_call_submitted_by_a_running_call_goes_to_another_thread():
    executor = make_executor("threads", max_workers=4)

    def outer() -> str:
        inner = executor.submit(threading.current_thread)  # waited for: must not wait for us
        return inner.result(timeout=10).name

    assert executor.submit(outer).result(timeout=20) != ""
    executor.shutdown(wait=True)


BUSY_PARENT = """
import os, signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as some servers do: workers must not inherit it
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
from maze_core.run.local.processes import ProcessExecutor

def sockets():
    import stat
    fds = os.listdir("/proc/self/fd")
    found = []
    for fd in fds:
        try:
            if stat.S_ISSOCK(os.fstat(int(fd)).st_mode):
                found.append(int(fd))
        except OSError:
            pass
    return found

def handler():
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL

pool = ProcessExecutor(1)
print(pool.submit(os.getpid).result(timeout=60), pool.submit(sockets).result(timeout=60),
      pool.submit(handler).result(timeout=60), flush=True)
pool.submit(time.sleep, 120)  # busy when its parent dies
time.sleep(0.5)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
os.kill(os.getpid(), int(sys.argv[1]))
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_busy_worker_ends_with_its_parent_and_holds_none_of_its_sockets(signum, tmp_path):
    import subprocess

    script = tmp_path / "parent.py"
    script.write_text(BUSY_PARENT)
    done = subprocess.run(
        [sys.executable, str(script), str(int(signum))], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -signum, done.stderr[-2000:]
    pid, sockets, default_term = done.stdout.split(" ", 2)
    assert sockets.strip() == "[]"  # the server's listening socket was not inherited
    assert default_term.strip() == "True"
    for _ in range(1000):  # it notices within a second or so
        if not os.path.exists(f"/proc/{int(pid)}"):
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"worker {pid} outlived its parent")


class Unpicklable:
    """Pickles, but cannot be unpickled (its __init__ wants an argument pickle never gives)."""

    def __init__(self, *, needed: str) -> None:
        self.needed = needed

    def __reduce__(self):
        return (Unpicklable, ())


def test_a_call_that_does_not_unpickle_in_the_worker_fails_with_why_and_the_worker_serves_on(
    processes,
):
    from maze_core.errors import SerializationError

    with pytest.raises(SerializationError, match="could not be unpickled in the worker"):
        processes.submit(len, Unpicklable(needed="x")).result()
    assert processes.submit(len, [1, 2]).result() == 2
