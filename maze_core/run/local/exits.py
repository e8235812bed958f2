"""How worker processes end: at their pool's interpreter exit (stopped before anything
waits for them, and only by the process that started them), and with their parent, however
it ended (a worker never outlives it, and holds none of its pipes or sockets meanwhile)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import stat
import threading
import weakref
from collections.abc import Callable, Collection
from typing import Any

__all__ = [
    "before_interpreter_joins",
    "bound_to_parent",
    "kill_at_exit",
    "release_inherited",
    "signal_group",
]

PARENT_CHECK_S = 1.0  # how often a busy worker looks whether its parent still lives


def kill_at_exit(executor: weakref.ref[Any]) -> Callable[[], None]:
    """The exit hook of one pool. Forked workers inherit the hook list, so it checks that it
    runs in the process that created the pool (a worker must not touch its parent's pool)."""
    owner = os.getpid()

    def kill() -> None:
        live = executor()
        if live is not None and os.getpid() == owner:
            live.shutdown(wait=False, cancel_futures=True)

    return kill


def before_interpreter_joins(callback: Callable[[], None]) -> None:
    """Run ``callback`` at exit *before* concurrent.futures joins its pools' workers.

    ``concurrent.futures`` waits for every pool worker through ``threading``'s exit hooks,
    which run before ``atexit`` and in reverse order of registration; registering there,
    later than it did, puts us first. Falls back to ``atexit`` where the hook is missing.
    """
    register = getattr(threading, "_register_atexit", None)
    try:
        if register is None:
            raise RuntimeError
        register(callback)
    except RuntimeError:  # no such hook, or the interpreter is already shutting down
        import atexit

        atexit.register(callback)


def bound_to_parent(parent: int, keep: Collection[int] = ()) -> None:
    """In a worker process just forked from ``parent``: end with it. An idle worker sees
    its call pipe close; a busy one looks every :data:`PARENT_CHECK_S` whether it was
    orphaned (its parent died of any signal, SIGKILL included, mid-call), on a SIGALRM
    timer rather than a thread (a second thread outlives a SIGKILL by a moment, holding the
    pipes open: a call sent then would reach a dead worker). SIGTERM gets its default
    action back (a server that ignored it would pass that on), and it lets go of the
    parent's descriptors but ``keep`` (:func:`release_inherited`). A tool that sets its
    own SIGALRM (``signal.alarm``) replaces the check. The worker leads its own process
    group, so that stopping it (:func:`signal_group`) stops the processes its calls forked
    too, and a terminal's Ctrl-C reaches the driver, which cancels what runs, rather than
    killing every worker mid-call."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    release_inherited(keep)
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, functools.partial(_check_parent, parent))
        signal.setitimer(signal.ITIMER_REAL, PARENT_CHECK_S, PARENT_CHECK_S)


def _check_parent(parent: int, *_: Any) -> None:
    if os.getppid() != parent:  # re-parented: the parent is gone, and so goes its group
        with contextlib.suppress(OSError):
            if os.getpgid(0) == os.getpid():
                os.killpg(0, signal.SIGKILL)
        os._exit(1)


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to worker ``pid``'s process group (itself and what its calls
    forked), or to the worker alone where it does not lead one."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:  # no such group: it never became one, or all have ended
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    except PermissionError:  # not ours (the pid was reused): leave it alone
        pass


def release_inherited(keep: Collection[int] = ()) -> None:
    """Let go of what a forked process inherited from its parent that lets others wait on
    it: every pipe, socket and kernel object (an event loop's epoll, an eventfd) past
    stdin/out/err, but ``keep`` and multiprocessing's own (the parent's sentinel, the
    resource tracker's pipe). A worker holding them would keep a server's port taken, or a
    pipe's reader waiting for an end that never comes, while it lives.

    Each is pointed at ``/dev/null`` rather than closed: the Python object that owned it in
    the parent still holds its number, and a closed number is reused by the next ``open``,
    into which that object would then write. Regular files and directories stay (nobody
    waits on their end; a tool may log to the driver's log file as in place). Linux only:
    elsewhere there is no listing of a process's descriptors."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return
    kept = {*keep, *_multiprocessing_own()}
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in map(int, names):
            if fd > 2 and fd != null and fd not in kept and _lets_others_wait(fd):
                os.dup2(null, fd)
    finally:
        os.close(null)


def _lets_others_wait(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:  # the listing's own descriptor, closed since
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _multiprocessing_own() -> set[int]:
    """The descriptors multiprocessing gives a process it starts and still uses there."""
    import multiprocessing
    from multiprocessing import resource_tracker

    own = set()
    parent = multiprocessing.parent_process()
    if parent is not None:
        own.add(parent.sentinel)
    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if getattr(tracker, "_fd", None) is not None:
        own.add(tracker._fd)  # type: ignore[union-attr]
    return own
