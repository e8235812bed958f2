"""Tasks their caller runs itself: scheduled and recorded as any task, run in place.

A call that mostly waits (a LangGraph node waiting on a model, a tool calling an API) gains
nothing from a worker, and loses what the caller holds live (a graph's store, callbacks, a
stream writer, the objects its closure shares). Such a call runs where it was made: in the
caller's thread, or as part of the caller's own coroutine on its event loop, exactly as
plain code would run it. It is still a task: the scheduler decides when it starts (among
every run's tasks), it holds no CPU slot (its tool is ``io``), hooks and timelines see it
(its node is ``"caller"``) and MaLearn learns its duration.

The runtime hands each attempt over when the scheduler dispatches it (:meth:`Here.start`,
from whichever thread runs the loop); the caller, waiting in :func:`run_here` or
:func:`arun_here`, runs the body and reports its :class:`Outcome`.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from maze_core.errors import user_exception
from maze_core.graph import TaskGraph
from maze_core.run.result import RunResult
from maze_core.run.worker.call import Outcome, run_call
from maze_core.run.worker.context import TaskContext, _current
from maze_core.run.worker.interrupt import cancellation

if TYPE_CHECKING:
    import asyncio  # imported where a coroutine is run: ~50 ms that a sync caller never pays

__all__ = ["CALLER", "Here", "Ran", "arun_here", "run_here"]

CALLER = "caller"  # the node a task run by its caller is recorded on

Report = Callable[[Outcome], None]


class Here:
    """The caller's end of one run whose task it runs itself."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop  # None: the caller waits in a thread
        self._items: deque[tuple[TaskContext, Report] | None] = deque()
        self._woken = threading.Event()
        self._awoken: asyncio.Event | None = None
        if loop is not None:
            import asyncio

            self._awoken = asyncio.Event()

    def start(self, context: TaskContext, report: Report) -> None:
        """The scheduler dispatched an attempt: the caller runs it, then calls ``report``."""
        self._push((context, report))

    def ended(self, _: Any = None) -> None:
        """The run ended (its result is there): the caller stops waiting."""
        self._push(None)

    def _push(self, item: tuple[TaskContext, Report] | None) -> None:
        self._items.append(item)
        if self._awoken is None:
            self._woken.set()
            return
        assert self._loop is not None
        with suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(self._awoken.set)

    def next(self) -> tuple[TaskContext, Report] | None:
        """The next attempt to run in this thread, or None once the run has ended."""
        while not self._items:
            self._woken.wait()
            self._woken.clear()
        return self._items.popleft()

    async def anext(self) -> tuple[TaskContext, Report] | None:
        """The same, awaited on the caller's event loop."""
        assert self._awoken is not None
        while not self._items:
            await self._awoken.wait()
            self._awoken.clear()
        return self._items.popleft()


class Ran:
    """What the caller learned running a call itself: the last attempt's outcome, how
    many calls run in place shared the CPU with it at most (its ``crowd``), and how long
    its thread waited for a CPU (``queued``, where the system tells)."""

    __slots__ = ("crowd", "outcome", "queued")

    def __init__(self) -> None:
        self.outcome: Outcome | None = None
        self.crowd = 1
        self.queued = 0.0


def run_here(
    runtime: Any, graph: TaskGraph, body: Callable[[], Any], ran: Ran, **options: Any
) -> Any:
    """Run ``body()`` in this thread as the one task of ``graph`` (an ``io`` tool) on
    ``runtime``: when the scheduler dispatches it, and again for each retry. Returns what
    it returned; raises what it raised, the same object."""
    here = Here()
    handle = runtime.submit(graph, here=here, **options)
    handle.future.add_done_callback(here.ended)
    try:
        while (item := here.next()) is not None:
            if not handle.done():
                context, report = item
                queued = run_delay()
                with _crowd() as crowd:
                    ran.outcome = run_call(body, (), {}, context=context)
                ran.crowd, ran.queued = crowd.peak, run_delay() - queued
                report(ran.outcome)
    except BaseException:  # KeyboardInterrupt, SystemExit: the run must not stay open
        handle.cancel("its caller stopped")
        raise
    return _settled(handle.result(), ran.outcome, graph)


async def arun_here(
    runtime: Any,
    graph: TaskGraph,
    body: Callable[[], Awaitable[Any]],
    ran: Ran,
    **options: Any,
) -> Any:
    """:func:`run_here` for a coroutine: ``await body()`` inside the caller's own task, so
    it runs on the caller's loop, in its context, and a cancellation reaches it as it
    would in place."""
    import asyncio

    here = Here(asyncio.get_running_loop())
    handle = runtime.submit(graph, here=here, **options)
    handle.future.add_done_callback(here.ended)
    try:
        while (item := await here.anext()) is not None:
            if not handle.done():
                context, report = item
                queued = run_delay()  # the loop's thread: other tasks' waits count too
                with _crowd() as crowd, _in_task(context):  # around every step
                    ran.outcome = await _aattempt(body)
                ran.crowd, ran.queued = crowd.peak, run_delay() - queued
                if isinstance(ran.outcome.error, asyncio.CancelledError):
                    raise ran.outcome.error  # the run is cancelled below
                report(ran.outcome)
    except BaseException:  # cancelled, or KeyboardInterrupt: the run must not stay open
        handle.cancel("the task awaiting it was cancelled")
        raise
    result = await asyncio.wrap_future(handle.future)
    return _settled(result, ran.outcome, graph)


def _settled(result: RunResult, outcome: Outcome | None, graph: TaskGraph) -> Any:
    """The value of the run's task as the caller's own attempt gave it (not a copy), or
    the exception that attempt raised; why the run ended otherwise (cancelled)."""
    (task_id,) = graph.tasks
    record = result.tasks[task_id]
    if outcome is not None and record.status in ("done", "failed"):
        if outcome.ok:
            return outcome.value
        assert outcome.error is not None
        raise outcome.error
    raise user_exception(record.error, task_id)


async def _aattempt(body: Callable[[], Awaitable[Any]]) -> Outcome:
    """:func:`~maze_core.run.worker.call.run_call` for a coroutine awaited in this task:
    its CPU time is that of its own steps."""
    started = time.time()
    metered = _Metered(body())
    try:
        value = await metered
    except BaseException as exc:
        if not isinstance(exc, Exception) and not isinstance(exc, cancellation()):
            raise
        tb = traceback.format_exc()
        return Outcome(False, None, exc, tb, started, time.time(), cpu=metered.cpu)
    return Outcome(True, value, None, "", started, time.time(), cpu=metered.cpu)


@contextmanager
def _in_task(context: TaskContext) -> Iterator[None]:
    """What :func:`maze_core.current_task` returns while the body runs."""
    token = _current.set(context)
    try:
        yield
    finally:
        _current.reset(token)


class _Metered:
    """Awaits a coroutine and adds up the CPU time of its own steps: between them the
    loop runs other tasks, whose time is not the coroutine's."""

    def __init__(self, coroutine: Awaitable[Any]) -> None:
        self.coroutine = coroutine.__await__()
        self.cpu = 0.0

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self.coroutine
        value: Any = None
        error: BaseException | None = None
        while True:
            start = time.thread_time()
            try:
                step = inner.send(value) if error is None else inner.throw(error)
            except StopIteration as stop:
                self.cpu += time.thread_time() - start
                return stop.value
            except BaseException:
                self.cpu += time.thread_time() - start
                raise
            self.cpu += time.thread_time() - start
            try:
                value, error = (yield step), None
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:
                value, error = None, exc


def run_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux's schedstat;
    0.0 where the system does not tell). The file is opened once per thread and read in
    place: opening it for every call cost 16 µs here, and an ``open`` lets other threads
    take the interpreter lock (for up to 5 ms while one is busy, as MaLearn's background
    import of river is once), twice per call run in the caller."""
    global _schedstat
    if _schedstat is None:
        return 0.0
    stat: _ThreadFile | None = getattr(_threads, "schedstat", None)
    try:
        if stat is None or stat.pid != os.getpid():  # a forked child reads its own
            stat = _threads.schedstat = _ThreadFile(_schedstat)
        return int(os.pread(stat.fd, 256, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        _schedstat = None
        return 0.0


_schedstat: str | None = "/proc/thread-self/schedstat"
_threads = threading.local()


class _ThreadFile:
    """A file of this thread's, open while the thread lives (closed with its locals)."""

    __slots__ = ("fd", "pid")

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.pid = os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():
            with suppress(OSError):
                os.close(self.fd)


class _Peak:
    __slots__ = ("peak",)

    def __init__(self, peak: int) -> None:
        self.peak = peak


_crowd_lock = threading.Lock()
_running: set[_Peak] = set()


@contextmanager
def _crowd() -> Iterator[_Peak]:
    """Count this call among those running in place now; its ``peak`` is the most that
    ran at once during it. They share the interpreter's lock (threads) or loop (tasks), so
    a computing call among ``peak`` of them gets about ``1/peak`` of its wall time on the
    CPU: what tells it from a call that waits."""
    with _crowd_lock:
        mine = _Peak(len(_running) + 1)
        _running.add(mine)
        for other in _running:
            other.peak = max(other.peak, len(_running))
    try:
        yield mine
    finally:
        with _crowd_lock:
            _running.discard(mine)


def future_of(outcome: Outcome) -> Future[Outcome]:
    """``outcome`` as the finished future a runtime's books take."""
    future: Future[Outcome] = Future()
    future.set_result(outcome)
    return future
