"""Interrupting the call a worker process is running, as cancelling it in place would.

A caller that stops waiting for a call (its asyncio task was cancelled: ``wait_for`` ran
out, a sibling node failed, the user cancelled the graph) expects what cancelling the body
in its own process does: an async body gets ``CancelledError`` at the ``await`` it is in and
may clean up (``except CancelledError``, ``finally``), and what it changed on the way is
seen. In a worker process the body is reached by a signal, :data:`SIGNAL` (SIGURG: a
process ignores it until it installs a handler, so a worker just forked is not killed by
it, and Python code does not otherwise use it). The worker's handler cancels the body's
asyncio task; one that has not started yet is cancelled at its first ``await``. Synchronous
code runs on, as it would in the thread that runs it in place, unless the interrupt is
*hard* (the run was cancelled, and its CPU given to other tasks): then it raises
``CancelledError`` where the code is. Between calls the handler does nothing (a signal that
arrives just after its call ended must not end the worker or the next call).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Coroutine
from typing import Any

from maze_core.run.worker.context import current_task

__all__ = [
    "SIGNAL",
    "cancellation",
    "forget",
    "here",
    "install",
    "run_coroutine",
    "serving",
    "shielded",
]

SIGNAL = signal.SIGURG

# this worker process: the number of the call its main thread runs (0: none), that call's
# asyncio task, and where the parent writes the number of the call it interrupts
_state: dict[str, Any] = {"call": 0, "task": None, "target": None, "shield": 0, "held": False}
# this process's threads: the coroutines of tasks running on them, by (run id, task id), and
# the tasks interrupted before their coroutine started
_here: dict[tuple[int, str], Any] = {}
_wanted_here: set[tuple[int, str]] = set()
_lock = threading.Lock()


def install(target: Any) -> None:
    """In a worker process: :data:`SIGNAL` interrupts the call running in the main thread
    if it is the one whose number the parent wrote in ``target`` (a shared integer) before
    sending it, negated for a hard interrupt. (A signal carries no data; the number tells
    the call it meant from the next one.)"""
    _state["target"] = target
    signal.signal(SIGNAL, _interrupt)


class serving:
    """The main thread runs the worker's call number ``call`` (an interrupt meant for it
    reaches it: also one sent before it started, at its first ``await``)."""

    __slots__ = ("call",)

    def __init__(self, call: int) -> None:
        self.call = call

    def __enter__(self) -> None:
        _state["call"] = self.call

    def __exit__(self, *exc: object) -> None:
        _state["call"] = 0
        _state["held"] = False


class shielded:
    """A stretch an interrupt must not cut (a request to the caller over the worker's pipes,
    whose answer would be left in the pipe for the next one): one that comes meanwhile is
    raised at its end."""

    __slots__ = ()

    def __enter__(self) -> None:
        _state["shield"] += 1

    def __exit__(self, *exc: object) -> None:
        _state["shield"] -= 1
        if not _state["shield"] and _state["held"]:
            _state["held"] = False
            raise cancellation()()


def run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run(coroutine)``, its task the one an interrupt cancels: in a worker
    process's main thread by signal, on a thread of the caller's process through
    :func:`here`. (asyncio is imported here, not with Maze: ~35 ms of every start.)"""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        in_loop = False
    else:  # a tool on the inline executor under arun: this thread's loop runs the caller
        in_loop = True
    main_thread = not in_loop and threading.current_thread() is threading.main_thread()
    running = current_task()
    key = (running.run_id, running.task_id) if running is not None else None

    async def main() -> Any:
        outer, task = _state["task"], asyncio.current_task()
        assert task is not None
        if main_thread:
            _state["task"] = task
        if key is not None:
            with _lock:
                _here[key] = task
                wanted = key in _wanted_here
                _wanted_here.discard(key)
            if wanted:  # interrupted before it started
                task.cancel()
        if main_thread and _wanted():
            task.cancel()
        try:
            return await coroutine
        finally:
            if main_thread:
                _state["task"] = outer
            if key is not None:
                with _lock:
                    _here.pop(key, None)

    if not in_loop:
        return asyncio.run(main())
    return _on_a_loop_of_its_own(main())


def _on_a_loop_of_its_own(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coroutine`` to its end on a new loop in a helper thread, blocking this one (a
    synchronous call made from inside a coroutine blocks its loop the same way), with this
    thread's context (the running task)."""
    import asyncio
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="maze-inline-loop") as helper:
        context = contextvars.copy_context()
        return helper.submit(context.run, asyncio.run, coroutine).result()


def here(run_id: int, task_id: str) -> bool:
    """Interrupt the coroutine of a task running on a thread of this process (now, or at
    its first ``await`` if it has not started: True either way)."""
    with _lock:
        task = _here.get((run_id, task_id))
        if task is None:
            _wanted_here.add((run_id, task_id))
    if task is not None:
        task.get_loop().call_soon_threadsafe(task.cancel)
    return True


def forget(run_id: int) -> None:
    """The run ended: interrupts still waiting for its tasks will not be needed."""
    if not _wanted_here:  # the usual case, on every run's end: no lock taken
        return
    with _lock:
        for key in [key for key in _wanted_here if key[0] == run_id]:
            _wanted_here.discard(key)


def cancellation() -> type[BaseException]:
    """asyncio's ``CancelledError`` (the class an interrupted body raises)."""
    import asyncio

    return asyncio.CancelledError


def _wanted() -> bool:
    """Whether the call running now is the one the parent interrupted."""
    target = _state["target"]
    return target is not None and _state["call"] != 0 and abs(target.value) == _state["call"]


def _interrupt(signum: int, frame: Any) -> None:
    if not _wanted():
        return  # between calls, or meant for a call that has ended: nothing to stop
    task = _state["task"]
    if task is not None:
        task.get_loop().call_soon_threadsafe(task.cancel)  # wakes the loop's select
    elif _state["target"].value > 0:
        return  # soft: a coroutine that starts later is cancelled then; sync code runs on
    elif _state["shield"]:
        _state["held"] = True
    else:
        raise cancellation()()
