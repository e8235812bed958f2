"""One worker process of :class:`~maze_core.run.local.processes.ProcessExecutor`: its
two pipes, the thread that reads its results, and how it is stopped.

A message on a pipe is framed as ``multiprocessing.connection`` frames it (a 4-byte
length, or -1 and an 8-byte one); results are read into one buffer of their size (see
:func:`read_message`), so a big result is never held twice while it arrives.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import cloudpickle

from maze_core.errors import SerializationError
from maze_core.run.local.exits import signal_group
from maze_core.run.local.serving import poll_for, serve
from maze_core.run.worker import channel, interrupt

__all__ = ["KILL_AFTER_S", "LIVENESS_S", "WorkerProcess", "decode", "read_message"]

log = logging.getLogger("maze")
KILL_AFTER_S = 2.0  # a stopped worker still running this long after SIGTERM gets SIGKILL
LIVENESS_S = 1.0  # how often a reader waiting for a result asks whether its worker lives


class WorkerProcess:
    """One worker process, its pipes, and the thread that reads its results.

    Two one-way pipes, not ``multiprocessing.Pipe()``'s socket pair: the lighter kernel
    path (a round trip with both ends polling: ~11 against ~17 µs here).

    The reader thread reads one result per turn it is given: a call sent for
    :meth:`ProcessExecutor.collect` gives none, so its result stays in the pipe for the
    caller (two readers of one pipe could split a message)."""

    def __init__(
        self,
        context: Any,
        done: Callable[[WorkerProcess, tuple[bool, Any]], None],
        lost: Callable[[WorkerProcess], None],
        max_result: int | None = None,
    ) -> None:
        self.current: Future[Any] | None = None
        self.calls = 0  # the number of the call it was given last (the worker counts too)
        self.served = False  # it has returned a result: it was alive after starting
        calls_in, self._calls = context.Pipe(duplex=False)
        self._results, results_out = context.Pipe(duplex=False)
        self._target = context.RawValue("q", 0)  # the number of the call to interrupt
        self._turns = threading.Semaphore(0)
        self._stopped = False
        self._writing = threading.Lock()  # a write to its call pipe, or closing it
        parent_ends = (self._calls, self._results)
        self._process = context.Process(
            target=serve,
            args=(calls_in, results_out, max_result, parent_ends, os.getpid(), self._target),
            daemon=True,
        )
        self._process.start()
        calls_in.close()
        results_out.close()
        self.pid = self._process.pid
        self._reader = threading.Thread(
            target=self._read, args=(done, lost), name=f"maze-process-{self.pid}", daemon=True
        )
        self._reader.start()

    def take(self, future: Future[Any], interrupted: bool) -> None:
        """It is given the call of ``future`` (sent next; called with the pool's lock), one
        that was ``interrupted`` already (cancelled at its first ``await``)."""
        self.current = future
        self.calls += 1
        if interrupted:
            self._target.value = self.calls

    def interrupt(self, hard: bool) -> None:
        """Interrupt its current call (see :mod:`maze_core.run.worker.interrupt`)."""
        self._target.value = -self.calls if hard else self.calls
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, interrupt.SIGNAL)

    def send(self, payload: bytes, collected: bool = False) -> bool:
        if not self._write(payload):
            return False
        if not collected:
            self._turns.release()
        return True

    def hand_over(self) -> None:
        """Let the reader thread read the next result after all."""
        self._turns.release()

    def wait(self, spin_s: float = 0.0) -> None:
        """Block until a result (or the pipe's end) can be read, polling for it for up to
        ``spin_s`` first (see :data:`~maze_core.run.local.serving.SPIN_S`)."""
        with contextlib.suppress(OSError, ValueError, EOFError):  # ended: receive() raises
            if not poll_for(self._results, spin_s):
                self._await_result()

    def _await_result(self) -> None:
        """Block until the result pipe can be read or the worker process has ended: a child
        the call forked holds the pipe's write end open (and the process's sentinel), so
        the worker's death is not always the pipe's end; whether it lives is asked every
        ``LIVENESS_S`` (its call was reported lost only when the child exited)."""
        while not self._results.poll(LIVENESS_S):
            if not self._process.is_alive() and not self._results.poll():
                raise EOFError(f"worker process {self.pid} ended")

    def receive(self) -> bytearray:
        """The call's result, after serving the channel messages it sends before it (see
        :mod:`maze_core.run.worker.channel`): in whichever thread reads the result."""
        while True:
            self._await_result()
            data = read_message(self._results.fileno())
            if not channel.is_message(data):
                return data
            reply = channel.answer(data)
            if reply is not None and not self._write(reply):
                raise EOFError(f"worker process {self.pid} was stopped")

    def _write(self, payload: bytes) -> bool:
        """Write to its call pipe; False once it is stopped or gone. Writing and closing
        are serialised: a pipe closed by one thread while another writes could have its
        number reused by a new worker's pipe, and the write would land there."""
        with self._writing:
            if self._stopped:
                return False
            try:
                self._calls.send_bytes(payload)
            except (OSError, ValueError):  # the worker is gone
                return False
        return True

    def kill_when_stuck(self, grace_s: float) -> None:
        """SIGKILL the process (and what it forked) if it still runs ``grace_s`` after
        SIGTERM (it ignored it)."""
        self._process.join(grace_s)
        if self._process.is_alive():
            log.warning("maze: worker %s ignored SIGTERM; killing it", self.pid)
            signal_group(self.pid, signal.SIGKILL)
            self._process.join(1.0)

    def stop(self, terminate: bool) -> None:
        """Close its call pipe; with ``terminate``, SIGTERM its process group (itself and
        what its calls forked, which may outlive it holding the result pipe: the group
        lives, and its id stays taken, while any of them does). The result pipe is left to
        whoever reads it, who sees its end (or the process gone, ``LIVENESS_S``) and
        drops it: closed under a reader, its number could be reused by a new worker's pipe
        that the reader would then read."""
        with self._writing:
            first, self._stopped = not self._stopped, True
            if first:  # once: a second close could close a new worker's pipe of that number
                with contextlib.suppress(OSError):
                    self._calls.close()  # an idle worker sees its input end and exits
        self._turns.release()  # a reader waiting for its turn ends
        if terminate:
            signal_group(self.pid, signal.SIGTERM)

    def _read(
        self,
        done: Callable[[WorkerProcess, tuple[bool, Any]], None],
        lost: Callable[[WorkerProcess], None],
    ) -> None:
        while True:
            self._turns.acquire()
            if self._stopped:  # its call (sent, not yet read) is lost with it
                lost(self)
                return
            try:
                data = self.receive()
            except Exception:  # EOF (it died), or the pipe closed under us by stop()
                lost(self)
                return
            result = decode(data)
            del data  # before the value is handed on (see ProcessExecutor.collect)
            done(self, result)


def decode(data: bytes | bytearray) -> tuple[bool, Any]:
    """A worker's result as ``(ok, value)``: its value, or the exception its call raised
    (a result this process cannot unpickle fails the call saying why)."""
    try:
        result: tuple[bool, Any] = cloudpickle.loads(data)
    except Exception as exc:  # a result class this process cannot import, say
        return False, SerializationError(
            f"the task's result could not be unpickled here: {exc!r}",
            fix="return plain data, or types importable in the submitting process",
            culprit=type(exc).__name__,
        )
    return result


def read_message(fd: int) -> bytearray:
    """One message from pipe ``fd``, framed as ``Connection.send_bytes`` frames it, read
    into a buffer of its size (``recv_bytes`` reads into a growing buffer and copies it
    out: three times a big result's size at its peak). EOFError at the pipe's end."""
    (size,) = struct.unpack("!i", _read_exactly(fd, bytearray(4)))
    if size == -1:
        (size,) = struct.unpack("!Q", _read_exactly(fd, bytearray(8)))
    return _read_exactly(fd, bytearray(size))


def _read_exactly(fd: int, buffer: bytearray) -> bytearray:
    view, filled = memoryview(buffer), 0
    while filled < len(buffer):
        got = os.readv(fd, [view[filled:]])
        if got == 0:
            raise EOFError(f"pipe {fd} ended mid-message" if filled else f"pipe {fd} ended")
        filled += got
    return buffer
