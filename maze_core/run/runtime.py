"""The run loop: a runtime owns a scheduler and executors and connects the two.

Threading model. The scheduler is not thread-safe and need not be: every event (a task's
outcome from an executor callback, a timeout, a cancel) is appended to an inbox, and
whichever thread finds the runtime's lock free drains the inbox, feeds the scheduler and
carries out its instructions (a "combining" lock: no thread hand-off per task, no thread
ever waits for another's events). After releasing the lock a thread looks at the inbox
again, so an event appended while another thread was draining is never stranded.

Correctness rules:
* Outputs are stored only for the attempt the scheduler is running; a late result of an
  abandoned attempt (timed out, cancelled) is dropped, and resources are released once.
* User code never raises into the loop: the worker contract (``worker.call.run_call``)
  turns its exceptions into data, and anything else going wrong while dispatching fails
  that task, not the runtime.
"""

from __future__ import annotations

import abc
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from maze_core.errors import TaskTimeoutError, ValidationError
from maze_core.graph import TaskGraph, TaskRef, Workflow
from maze_core.plugins import make_plugin_manager
from maze_core.predict.kinds import KindLearner
from maze_core.predict.malearn import MaLearn
from maze_core.predict.store import HistoryStore
from maze_core.run.here import CALLER, Here, future_of
from maze_core.run.result import RunResult
from maze_core.run.runstate import RunBook
from maze_core.run.worker.call import Outcome
from maze_core.schedule import (
    Cancel,
    CancelRun,
    CancelTask,
    Dispatch,
    Fail,
    Finish,
    Node,
    Reject,
    Retry,
    Scheduler,
    SubmitRun,
)
from maze_core.schedule.events import Event, Instruction
from maze_core.schedule.policies import POLICIES, Policy, make_policy
from maze_core.tools import ToolRegistry

__all__ = ["RunHandle", "RunHints", "Runtime"]

log = logging.getLogger("maze")
_RUN_IDS = itertools.count(1)  # one sequence for every runtime: hooks tell runs apart


@dataclass(frozen=True, slots=True)
class RunHints:
    """A run that is one step of a larger job (a LangGraph invocation's node): it ages from
    the job's start (``age_from``, a ``time.time()``) and ``work_after`` predicted seconds of
    the job follow it, so the scheduler ranks the job, not the step."""

    age_from: float | None = None
    work_after: float = 0.0


class RunHandle:
    """A submitted run: wait for it (``result()`` or ``await``), ``cancel()`` it, or
    ``cancel_task()`` one of its tasks."""

    def __init__(
        self, runtime: Runtime, run_id: int, graph: TaskGraph, future: Future[RunResult]
    ) -> None:
        self.runtime = runtime
        self.run_id = run_id
        self.workflow = graph.name
        self._tasks = graph.tasks.keys()
        self._future = future
        future.add_done_callback(self._cancelled)

    def _cancelled(self, future: Future[RunResult]) -> None:
        """A task awaiting the run was cancelled (``await handle``, as asyncio cancels the
        future it waits on): nobody wants the run any more, so it stops."""
        if future.cancelled():
            self.cancel("the task awaiting it was cancelled")

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return f"RunHandle({self.workflow!r}, run_id={self.run_id}, {state})"

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run to end and return its result (it keeps running on a timeout)."""
        try:
            return self._future.result(timeout)
        except TimeoutError:
            raise TaskTimeoutError(
                f"run {self.run_id} of workflow {self.workflow!r} did not finish in {timeout}s",
                fix="wait longer, or cancel it with handle.cancel()",
                culprit=self.workflow,
            ) from None

    def done(self) -> bool:
        return self._future.done()

    def cancel(self, reason: str = "cancelled by the user") -> None:
        """Stop the run: queued tasks never start; running ones are abandoned."""
        self.runtime.post_event(CancelRun(self.run_id, time.time(), reason))

    def cancel_task(self, task: TaskRef | str, reason: str = "cancelled by the user") -> None:
        """Stop one task (its ref, or its id) and the tasks that need its output: queued
        ones never start, a running one is abandoned; independent branches go on, and the
        run ends ``cancelled``. Nothing happens to a task that already ended."""
        task_id = task.task_id if isinstance(task, TaskRef) else task
        if task_id not in self._tasks:
            raise ValidationError(
                f"run {self.run_id} of workflow {self.workflow!r} has no task {task_id!r}",
                fix=f"name one of its tasks: {', '.join(sorted(self._tasks)[:8])}",
                culprit=task,
            )
        self.runtime.post_event(CancelTask(self.run_id, task_id, time.time(), reason))

    def __await__(self) -> Generator[Any, None, RunResult]:
        import asyncio

        return asyncio.wrap_future(self._future).__await__()

    @property
    def future(self) -> Future[RunResult]:
        """The run's result as a ``concurrent.futures.Future`` (cancelling it cancels the
        run)."""
        return self._future


class Runtime(abc.ABC):
    """Base of all runtimes: a scheduler driven through events, plus hooks and tools."""

    channels = False
    """Whether a call's body reaches its caller over a live channel wherever this runtime
    runs it (see :mod:`maze_core.run.worker.channel`)."""

    def __init__(
        self,
        nodes: Iterable[Node],
        *,
        policy: str | Policy = "daps",
        predictor: MaLearn | bool = True,
        plugins: Iterable[Any] = (),
        autoload_plugins: bool | None = None,
    ) -> None:
        self._owns_predictor = predictor is True
        self.predictor = _predictor(predictor)
        builtins = {"maze.malearn": self.predictor} if self.predictor is not None else {}
        self.plugins = make_plugin_manager(plugins, autoload=autoload_plugins, builtins=builtins)
        self.tools = ToolRegistry()
        self.plugins.hook.maze_register_tools(registry=self.tools)
        policies: dict[str, Callable[[], Policy]] = dict(POLICIES)
        self.plugins.hook.maze_register_policies(policies=policies)
        self.scheduler = Scheduler(nodes, make_policy(policy, policies))
        self.book = RunBook(self.plugins)
        # where adapters' calls run best (see Remote): MaLearn's, which it saves
        self.kinds = self.predictor.kinds if self.predictor is not None else KindLearner()
        self._lock = threading.Lock()
        self._inbox: deque[Callable[[], Event | list[Event]]] = deque()
        self._owner: int | None = None  # the thread driving the loop now
        self._waiters: dict[int, int] = {}  # run id -> thread waiting for it in call()
        self._closed = False

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def submit(
        self,
        workflow: Workflow | TaskGraph,
        /,
        *,
        fail_fast: bool = False,
        hints: RunHints | None = None,
        here: Here | None = None,
        **inputs: Any,
    ) -> RunHandle:
        """Start a run of ``workflow`` with ``inputs``; many runs share one runtime.
        ``hints`` tell the scheduler the run is one step of a larger job (adapters);
        ``here`` runs its tasks in the caller (see :mod:`maze_core.run.here`)."""
        return self._start(workflow, fail_fast, hints, inputs, waiter=False, here=here)

    def call(
        self,
        workflow: Workflow | TaskGraph,
        /,
        *,
        fail_fast: bool = False,
        hints: RunHints | None = None,
        **inputs: Any,
    ) -> RunResult:
        """Run ``workflow`` and wait for its result in this thread: ``submit(...).result()``,
        which a runtime may make cheaper by letting this thread do the waiting work (on
        local processes it reads its task's result from the worker itself). Ctrl-C while
        it waits cancels the run, as it would stop the work done in place."""
        handle = self._start(workflow, fail_fast, hints, inputs, waiter=True)
        try:
            try:
                self._wait_here(handle.run_id)
            finally:
                self._waiters.pop(handle.run_id, None)
            return handle.result()
        except KeyboardInterrupt:
            handle.cancel("interrupted (KeyboardInterrupt)")
            raise

    def _wait_here(self, run_id: int) -> None:
        """Do in this thread what waiting for run ``run_id`` (of :meth:`call`) needs done;
        return when nothing more is, or the run has ended. Here: nothing."""
        return None

    def _start(
        self,
        workflow: Workflow | TaskGraph,
        fail_fast: bool,
        hints: RunHints | None,
        inputs: dict[str, Any],
        waiter: bool,
        here: Here | None = None,
    ) -> RunHandle:
        """Open the run and let the scheduler start it; with ``waiter``, note that this
        thread will wait for it (``_waiters``) until :meth:`call` says it stopped."""
        self._check_open()
        graph = workflow.build() if isinstance(workflow, Workflow) else workflow
        values = graph.bind_inputs(inputs)
        hints = hints or RunHints()
        forwarded = None if here else self._forward(graph, inputs, fail_fast, hints)
        if forwarded is not None:
            return forwarded
        self._check_not_inside_loop()
        run = self.book.open(next(_RUN_IDS), graph, values, time.time(), here)
        if waiter:
            self._waiters[run.run_id] = threading.get_ident()
        with self._lock:
            self._owner = threading.get_ident()
            try:
                predicted = run.predictions()
                event = SubmitRun(
                    run.run_id,
                    graph,
                    run.submitted,
                    fail_fast,
                    predicted,
                    hints.age_from,
                    hints.work_after,
                )
                self._process([event])
                self._drain()
            finally:
                self._owner = None
        self._pump()
        if run.rejection is not None:
            self._waiters.pop(run.run_id, None)
            raise run.rejection
        return RunHandle(self, run.run_id, graph, run.future)

    def _forward(
        self, graph: TaskGraph, inputs: dict[str, Any], fail_fast: bool, hints: RunHints
    ) -> RunHandle | None:
        """Check the graph for this runtime and, if another scheduler runs it (a shared one
        in server mode), hand it over and return its handle; None to run it here."""
        return None

    def ship(self, fn: Any, name: str) -> Any:
        """Make sure ``fn`` (run by workers inside a tool named ``name``, as adapters do with
        the functions they wrap) reaches this runtime's workers, or raise a
        SerializationError naming what cannot; return what to send in its place with each
        call. Here ``fn`` itself: threads share it, and local workers this machine's files
        (``LocalRuntime`` on processes sends a by-value function pickled once)."""
        return fn

    @property
    def runs_here(self) -> bool:
        """Whether this runtime schedules tasks that their caller runs itself (see
        :mod:`maze_core.run.here`): every runtime that schedules its own runs does."""
        return True

    @property
    def shares_memory(self) -> bool:
        """Whether every task runs in this process (on threads), so a function's captured
        objects are the caller's own and need no keeping in step (see ``worker.captured``)."""
        return False

    def interrupt(self, run_id: int, task_id: str) -> bool:
        """Interrupt the running attempt of a task as cancelling its body in place would
        (its coroutine gets ``CancelledError``, see :mod:`maze_core.run.worker.interrupt`);
        the attempt then ends as the body decides. False where this runtime cannot reach
        the body (here), or the task is not running."""
        return False

    def relay(self) -> Any:
        """What a call's channel goes through where this runtime runs it, when its body
        cannot reach the caller's process otherwise (Ray's relay actor); None here."""
        return None

    def post_event(self, event: Event) -> None:
        """Feed one event to the scheduler (from any thread)."""
        self._post(lambda: event)

    def close(self) -> None:
        """Cancel the runs still going and release workers. Idempotent."""
        if self._closed:
            return
        for run_id in self.book.active():
            self.post_event(CancelRun(run_id, time.time(), "the runtime was closed"))
        self._closed = True
        if self._owns_predictor and self.predictor is not None:
            try:
                self.predictor.close()
            except Exception:  # a full disk, say: closing must still stop the workers
                log.exception("maze: could not save what MaLearn learned")

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError(
                f"{type(self).__name__} is closed",
                fix="create a new runtime (or use it inside a `with` block)",
                culprit=self,
            )

    # -- the loop ---------------------------------------------------------------------------

    def _post(self, make_event: Callable[[], Event | list[Event]]) -> None:
        self._inbox.append(make_event)
        self._pump()

    def _pump(self) -> None:
        while self._inbox and self._lock.acquire(blocking=False):
            self._owner = threading.get_ident()
            try:
                self._drain()
            finally:
                self._owner = None
                self._lock.release()

    def _drain(self) -> None:
        inbox = self._inbox
        while inbox:
            batch: list[Event] = []
            while inbox:
                try:
                    found = inbox.popleft()()
                except Exception:  # a bug of ours: say so loudly rather than die silently
                    log.exception("maze: could not turn a worker report into an event")
                    continue
                if isinstance(found, list):
                    batch += found
                else:
                    batch.append(found)
            self._process(batch)

    def _check_not_inside_loop(self) -> None:
        """Refuse a submit from code the loop itself is running (an inline tool, a hook):
        that thread holds the loop, so waiting for the new run would wait forever."""
        if self._owner == threading.get_ident():
            raise ValidationError(
                "a run cannot be submitted from inside this runtime's own loop (a tool on"
                " the inline executor, or a hook), because waiting for it would deadlock",
                fix="submit nested runs to another runtime, or use the threads executor",
                culprit=self,
            )

    def _process(self, events: list[Event]) -> None:
        for instruction in self.scheduler.handle(*events):
            self._carry_out(instruction)

    def _carry_out(self, instruction: Instruction | Sequence[Instruction]) -> None:
        """Apply one instruction (a list: a runtime's batch of them); a bug of ours must
        not strand a run, so a failure is logged and the loop goes on."""
        try:
            if isinstance(instruction, Sequence):
                self._apply_batch(instruction)
            else:
                self._apply(instruction)
        except Exception:
            log.exception("maze: could not carry out %r", instruction)

    def _apply_batch(self, instructions: Sequence[Instruction]) -> None:
        for instruction in instructions:
            self._apply(instruction)

    def _apply(self, instruction: Instruction) -> None:
        book = self.book
        if isinstance(instruction, Dispatch):
            here = book.here_of(instruction.run_id)
            if here is None:
                self._dispatch(instruction)
            else:
                self._dispatch_here(instruction, here)
        elif isinstance(instruction, Retry):
            book.retrying(
                instruction.run_id, instruction.task_id, instruction.error, instruction.state
            )
        elif isinstance(instruction, Fail):
            book.failed(instruction.run_id, instruction.task_id, instruction.error)
        elif isinstance(instruction, Cancel):
            book.cancelled(instruction.run_id, instruction.task_id, instruction.error)
        elif isinstance(instruction, Finish):
            book.close(instruction.run_id, instruction.status)
        elif isinstance(instruction, Reject):
            book.reject(instruction.run_id, instruction.error)

    @abc.abstractmethod
    def _dispatch(self, instruction: Dispatch) -> None:
        """Start the task on the node the scheduler chose; report its outcome via ``_post``."""

    def _dispatch_here(self, instruction: Dispatch, here: Here) -> None:
        """Hand the attempt to the caller that runs it (see :mod:`maze_core.run.here`)."""
        run_id, task_id, attempt = instruction.run_id, instruction.task_id, instruction.attempt
        context = self.book.running(instruction, resolve_refs=False, node=CALLER).context

        def report(outcome: Outcome) -> None:
            future = future_of(outcome)
            self._post(lambda: self.book.outcome(run_id, task_id, attempt, future))

        here.start(context, report)


def _predictor(predictor: MaLearn | bool) -> MaLearn | None:
    """The runtime's MaLearn: a given one, a new one with the history store, or none."""
    if isinstance(predictor, MaLearn):
        return predictor
    if not predictor:
        return None
    try:
        store = HistoryStore()
    except Exception as exc:  # an unwritable MAZE_HOME must not stop the runtime
        log.warning("maze: no history store (%s); learning in memory", exc)
        store = None
    return MaLearn(store=store)
