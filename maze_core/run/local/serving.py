"""A worker process's side of :class:`~maze_core.run.local.processes.ProcessExecutor`: its
loop over the calls its pipe brings, one call run and answered, and how long either side of
the pipes polls for a message due soon."""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import multiprocessing
import select
import time
from collections.abc import Callable
from typing import Any

import cloudpickle

from maze_core.errors import SerializationError
from maze_core.run.local.exits import bound_to_parent
from maze_core.run.local.machine import detect_cpus
from maze_core.run.worker import channel, interrupt
from maze_core.run.worker.exceptions import portable_error
from maze_core.run.worker.wire import dumps, result_too_large, unpicklable_in_result

__all__ = ["SPIN_S", "poll_for", "run_payload", "serve", "spin_budget"]


SPIN_S = 0.0005
"""How long a side of a worker's pipes that expects a message soon polls for it before it
sleeps. A message to a process asleep on a CPU that went idle waits for that CPU to wake:
~50 µs in a VM (a halted vCPU; deep C-states do the like on metal), twice per call. A
worker polls for its next call while calls come close together; the caller reading a
result itself (:meth:`ProcessExecutor.collect`), while the call is predicted to end soon.
A 200-node LangGraph chain: 0.46 against 0.59 ms a node with the caller polling, ~0.08 ms
less again with workers polling. The cost: up to this much CPU time per call. Nothing polls
where the process may run on one CPU only (see :func:`spin_budget`)."""


def spin_budget() -> float:
    """How long to poll for a message due soon: :data:`SPIN_S` where this process may run
    on two CPUs or more; 0 on one, where a poller only keeps the process it waits for off
    the CPU (a 200-node chain pinned to one CPU: 0.82 against 0.50 ms a node)."""
    return SPIN_S if detect_cpus() >= 2 else 0.0


def serve(
    calls: Any,
    results: Any,
    max_result: int | None = None,
    parent_ends: tuple[Any, ...] = (),
    parent: int | None = None,
    target: Any = None,
) -> None:
    """A worker process: run calls from one pipe, answer on the other, until it closes;
    poll for the next call (for :func:`spin_budget`) while the last came within that time
    of the result before it.

    A forked worker first closes its copies of the parent's ends (``parent_ends``): holding
    the write end of its own call pipe, it would never see that pipe close, and would
    outlive a parent that died without its exit hooks (killed, ``os._exit``); then it binds
    its life to the parent's (:func:`~maze_core.run.local.exits.bound_to_parent`)."""
    for end in parent_ends:
        end.close()
    if parent is not None:
        bound_to_parent(parent, keep=(calls.fileno(), results.fileno()))
    # a tool may start processes of its own (a multiprocessing.Pool), which a daemonic
    # process may not: what it starts is stopped with the worker's process group
    with contextlib.suppress(AssertionError):
        multiprocessing.current_process().daemon = False
    channel.use_pipes(calls, results)
    if target is not None:
        interrupt.install(target)
    spin_s = spin_budget()
    idle_since, spin = -math.inf, False
    for number in itertools.count(1):
        if spin:
            poll_for(calls, spin_s)
        try:
            payload = calls.recv_bytes()
        except (EOFError, OSError):
            return
        spin = time.monotonic() - idle_since < spin_s
        results.send_bytes(run_payload(payload, max_result, number))
        idle_since = time.monotonic()


def poll_for(conn: Any, seconds: float) -> bool:
    """Whether ``conn`` became readable within ``seconds``, polled without sleeping."""
    if seconds <= 0:
        return False
    readable = _readable(conn)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if readable():
            return True
    return False


def _readable(conn: Any) -> Callable[[], bool]:
    """A cheap check that ``conn`` can be read now (``select.poll`` where there is one:
    ``Connection.poll(0)`` builds a selector per call)."""
    if not hasattr(select, "poll"):
        return functools.partial(conn.poll, 0)
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    return lambda: bool(poller.poll(0))


def run_payload(payload: bytes, max_result: int | None = None, number: int = 0) -> bytes:
    """Worker side of :class:`ProcessExecutor`: run the call, pickle what it returned
    (refused when that is over ``max_result`` bytes). A call that does not unpickle here
    fails with why, and the worker serves on."""
    try:
        fn, args, kwargs = cloudpickle.loads(payload)
    except Exception as exc:
        error = SerializationError(
            f"the call could not be unpickled in the worker process: {exc!r}",
            fix="pass plain data and functions importable by module path, or define the"
            " classes it needs at module level",
            culprit=type(exc).__name__,
        )
        return bytes(cloudpickle.dumps((False, error)))
    try:
        with interrupt.serving(number):
            result: tuple[bool, Any] = (True, fn(*args, **kwargs))
    except BaseException as exc:
        result = (False, portable_error(exc) if isinstance(exc, Exception) else exc)
    try:
        data = dumps(result)
    except Exception as exc:
        part = unpicklable_in_result(getattr(result[1], "value", result[1]))  # an Outcome's
        error = SerializationError(
            f"{part} cannot be pickled to send it back: {exc}",
            fix="return plain data from the task, or use the 'threads' executor",
            culprit=part,
        )
        return bytes(cloudpickle.dumps((False, error)))
    if max_result is not None and len(data) > max_result:
        value = getattr(result[1], "value", result[1])  # an Outcome carries the tool's value
        return bytes(cloudpickle.dumps((False, result_too_large(value, len(data), max_result))))
    return data
