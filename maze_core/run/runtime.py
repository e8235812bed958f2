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
* User code never raises into the loop: :func:`run_call` turns its exceptions into data,
  and anything else going wrong while dispatching fails that task, not the runtime.
"""

from __future__ import annotations

import abc
import atexit
import functools
import itertools
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cloudpickle

from maze_core.errors import SerializationError, TaskTimeoutError, ValidationError
from maze_core.graph import TaskGraph, Workflow
from maze_core.plugins import make_plugin_manager
from maze_core.predict.malearn import MaLearn
from maze_core.predict.store import HistoryStore
from maze_core.run.context import TaskContext
from maze_core.run.executors import (
    ExecutorName,
    Outcome,
    ProcessExecutor,
    WorkerProcess,
    make_executor,
    run_call,
    spin_budget,
    unpicklable_part,
)
from maze_core.run.machine import detect_cpus, detect_gpus, detect_memory
from maze_core.run.models import ModelUse
from maze_core.run.result import RunResult
from maze_core.run.runstate import RunBook
from maze_core.run.shipping import shipped_once
from maze_core.run.timers import Deadlines
from maze_core.schedule import (
    Cancel,
    CancelRun,
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
from maze_core.tools import ToolRegistry, ToolSpec, parse_size

__all__ = ["LocalRuntime", "RunHandle", "RunHints", "Runtime", "get_runtime"]

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
    """A submitted run: wait for it (``result()`` or ``await``), or ``cancel()`` it."""

    def __init__(
        self, runtime: Runtime, run_id: int, workflow: str, future: Future[RunResult]
    ) -> None:
        self.runtime = runtime
        self.run_id = run_id
        self.workflow = workflow
        self._future = future

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

    def __await__(self) -> Generator[Any, None, RunResult]:
        import asyncio

        return asyncio.wrap_future(self._future).__await__()


class Runtime(abc.ABC):
    """Base of all runtimes: a scheduler driven through events, plus hooks and tools."""

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
        self.book = RunBook(self.plugins.hook)
        self._lock = threading.Lock()
        self._inbox: deque[Callable[[], Event | None]] = deque()
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
        **inputs: Any,
    ) -> RunHandle:
        """Start a run of ``workflow`` with ``inputs``; many runs share one runtime.
        ``hints`` tell the scheduler the run is one step of a larger job (adapters)."""
        return self._start(workflow, fail_fast, hints, inputs, waiter=False)

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
        local processes it reads its task's result from the worker itself)."""
        handle = self._start(workflow, fail_fast, hints, inputs, waiter=True)
        try:
            self._wait_here(handle.run_id)
        finally:
            self._waiters.pop(handle.run_id, None)
        return handle.result()

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
    ) -> RunHandle:
        """Open the run and let the scheduler start it; with ``waiter``, note that this
        thread will wait for it (``_waiters``) until :meth:`call` says it stopped."""
        self._check_open()
        graph = workflow.build() if isinstance(workflow, Workflow) else workflow
        values = graph.bind_inputs(inputs)
        hints = hints or RunHints()
        forwarded = self._forward(graph, inputs, fail_fast, hints)
        if forwarded is not None:
            return forwarded
        self._check_not_inside_loop()
        run = self.book.open(next(_RUN_IDS), graph, values, time.time())
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
        return RunHandle(self, run.run_id, graph.name, run.future)

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
            self.predictor.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValidationError(
                f"{type(self).__name__} is closed",
                fix="create a new runtime (or use it inside a `with` block)",
                culprit=self,
            )

    # -- the loop ---------------------------------------------------------------------------

    def _post(self, make_event: Callable[[], Event | None]) -> None:
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
            batch = []
            while inbox:
                try:
                    event = inbox.popleft()()
                except Exception:  # a bug of ours: say so loudly rather than die silently
                    log.exception("maze: could not turn a worker report into an event")
                    continue
                if event is not None:
                    batch.append(event)
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
            self._dispatch(instruction)
        elif isinstance(instruction, Retry):
            book.retrying(instruction.run_id, instruction.task_id, instruction.error)
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


class LocalRuntime(Runtime):
    """Runs tasks on this machine, which is one node with its CPUs, memory and GPUs.

    ``executor`` runs cpu and gpu tasks: ``threads`` (default), ``processes`` (CPU-bound
    Python; functions shipped with cloudpickle) or ``inline`` (one at a time, in the
    submitting thread: for debugging). io tasks always run on threads (inline when the
    executor is inline). Capacities default to what the machine has and can be overridden.
    ``policy`` orders ready tasks: ``daps`` (default), ``fcfs``, ``heft``, ``maze-original``,
    ``agent-level``, a name a plugin registered, or a Policy object. Models of tools
    declared with ``load=`` stay resident in each worker process until unused for
    ``model_idle_s`` seconds. ``max_result`` bounds what a result may take (pickled) to come
    back from a worker process: a bigger one fails its task with a SerializationError.
    """

    def __init__(
        self,
        executor: ExecutorName = "threads",
        *,
        cpus: float | None = None,
        memory: int | str | None = None,
        gpus: int | None = None,
        gpu_memory: int | str | None = None,
        custom: dict[str, float] | None = None,
        policy: str | Policy = "daps",
        predictor: MaLearn | bool = True,
        plugins: Iterable[Any] = (),
        autoload_plugins: bool | None = None,
        max_io_threads: int = 256,
        model_idle_s: float = 300.0,
        max_result: int | str | None = None,
    ) -> None:
        node = _local_node(cpus, memory, gpus, gpu_memory, custom or {})
        super().__init__(
            [node],
            policy=policy,
            predictor=predictor,
            plugins=plugins,
            autoload_plugins=autoload_plugins,
        )
        self.executor_name = executor
        slots = max(1, math.ceil(node.cpus))
        workers = slots if executor == "processes" else max(32, 4 * slots)
        limit = parse_size(max_result, what="max_result")
        self._executor = make_executor(executor, max_workers=workers, max_result=limit)
        io_name = "inline" if executor == "inline" else "threads"
        self._io_executor = make_executor(io_name, max_workers=max_io_threads)
        self._deadlines = Deadlines()
        self.model_idle_s = model_idle_s
        # run id -> the worker its waiter reads, and how long to poll it before sleeping
        self._collected: dict[int, tuple[WorkerProcess, float]] = {}
        self._spin_s = spin_budget()

    def __repr__(self) -> str:
        node = self.scheduler.nodes["local"]
        return f"LocalRuntime({self.executor_name!r}, cpus={node.cpus:g}, gpus={node.gpus})"

    def _wait_here(self, run_id: int) -> None:
        """On worker processes this thread reads the result of its run's task from the
        worker when the task started at once (see ``_dispatch``), which saves waking a
        reader thread and then this one; completing the attempt, it runs the loop."""
        executor = self._executor
        while (collected := self._collected.pop(run_id, None)) is not None:
            assert isinstance(executor, ProcessExecutor)
            executor.collect(*collected)

    def ship(self, fn: Any, name: str) -> Any:
        """On worker processes, ``fn`` as a :class:`~maze_core.run.shipping.Shipped` when
        it would travel by value (a script's function, a closure): pickled once here instead
        of with every call, which then pickles with the C pickler (~20 against ~100 µs)."""
        if self.executor_name != "processes":
            return fn
        return shipped_once(fn, cloudpickle)

    def close(self) -> None:
        super().close()
        self._deadlines.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._io_executor.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self, instruction: Dispatch) -> None:
        run_id, task_id, attempt = instruction.run_id, instruction.task_id, instruction.attempt

        def report(future: Future[Outcome]) -> None:
            self._post(lambda: self.book.outcome(run_id, task_id, attempt, future))

        try:
            task, args, kwargs = self.book.running(instruction)
            spec = task.spec
            executor = self._io_executor if spec.kind == "io" else self._executor
            in_process = self.executor_name == "processes" and spec.kind != "io"
            allocation = instruction.allocation
            env = _gpu_env(allocation.gpu_ids) if in_process else None
            context = TaskContext.of(instruction, self.book.wrappers(run_id, task, attempt))
            model = model_use(spec, self.model_idle_s)
            submit: Callable[..., Future[Outcome]] = executor.submit
            if (
                in_process
                and self._waiters.get(run_id) == threading.get_ident()
                and run_id not in self._collected  # it reads one worker at a time
            ):
                submit = functools.partial(self._submit_collected, run_id, task_id)
            try:
                future = submit(
                    run_call, spec.fn, args, kwargs, spec.is_async, env, in_process, context, model
                )
            except SerializationError as error:  # name the tool's argument, not run_call's
                names = tuple(spec.parameters["properties"])
                part = unpicklable_part(spec.fn, args, kwargs, names)
                raise SerializationError(
                    f"{part} cannot be pickled to send it to a worker process",
                    fix=error.fix,
                    culprit=part,
                ) from None
        except Exception as exc:  # a bad input selection, an unpicklable call: the task fails
            failed: Future[Outcome] = Future()
            failed.set_exception(exc)
            report(failed)
            return
        if spec.timeout is not None:
            self._deadlines.add(
                time.monotonic() + spec.timeout,
                lambda: self._expire(run_id, task_id, attempt, future),
            )
        future.add_done_callback(report)

    def _submit_collected(self, run_id: int, task_id: str, *call: Any) -> Future[Outcome]:
        """Submit a task of a run whose waiter is this thread (in :meth:`call`): it will
        read the result from the worker itself, polling for it first if MaLearn expects
        the task to end within the polling budget (``executors.spin_budget``)."""
        executor = self._executor
        assert isinstance(executor, ProcessExecutor)
        future, worker = executor.submit_collected(*call)
        if worker is not None:
            p90 = self.book.predicted_p90(run_id, task_id)
            spin_s = self._spin_s if p90 is not None and p90 < self._spin_s else 0.0
            self._collected[run_id] = (worker, spin_s)
        return future

    def _expire(self, run_id: int, task_id: str, attempt: int, future: Future[Outcome]) -> None:
        """An attempt ran out of time: fail it, and stop its worker process if it has one
        (threads cannot be stopped: an abandoned thread attempt finishes in the background)."""
        self._post(lambda: self.book.expired(run_id, task_id, attempt))
        executor = self._executor
        if not future.done() and isinstance(executor, ProcessExecutor):
            executor.kill(future)


def model_use(spec: ToolSpec, idle_s: float) -> ModelUse | None:
    """What a call of ``spec`` needs resident (None for tools without a model loader)."""
    if spec.load is None or spec.model is None:
        return None
    return ModelUse(spec.model, spec.load, idle_s)


def _predictor(predictor: MaLearn | bool) -> MaLearn | None:
    """The runtime's MaLearn: a given one, a new one with the history store, or none."""
    if isinstance(predictor, MaLearn):
        return predictor
    if not predictor:
        return None
    try:
        store = HistoryStore()
    except Exception:  # an unwritable MAZE_HOME must not stop the runtime
        log.warning(
            "maze: no history store (MAZE_HOME not writable); learning in memory", exc_info=True
        )
        store = None
    return MaLearn(store=store)


def _gpu_env(gpu_ids: tuple[int, ...]) -> dict[str, str] | None:
    """The environment that pins a process to its GPUs (None when it has none)."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(map(str, gpu_ids))} if gpu_ids else None


def _local_node(
    cpus: float | None,
    memory: int | str | None,
    gpus: int | None,
    gpu_memory: int | str | None,
    custom: dict[str, float],
) -> Node:
    detected_gpus, detected_gpu_memory = detect_gpus() if gpus is None else (gpus, 0)
    return Node(
        "local",
        cpus=float(detect_cpus() if cpus is None else cpus),
        memory=parse_size(memory, what="memory") or 0 if memory is not None else detect_memory(),
        gpus=detected_gpus,
        gpu_memory=parse_size(gpu_memory, what="gpu_memory") or detected_gpu_memory,
        custom=custom,
    )


_default_runtime: LocalRuntime | None = None
_default_lock = threading.Lock()


def get_runtime(runtime: Runtime | str | None = None) -> Runtime:
    """``runtime`` itself, or by name: ``None``/``"local"`` is the shared local runtime
    (threads), ``"threads"``, ``"processes"`` and ``"inline"`` a shared one of that kind."""
    global _default_runtime
    if isinstance(runtime, Runtime):
        return runtime
    if runtime in (None, "local", "threads"):
        with _default_lock:
            if _default_runtime is None or _default_runtime._closed:
                _default_runtime = LocalRuntime()
                atexit.register(_default_runtime.close)
            return _default_runtime
    if runtime == "ray":
        return _shared_ray()
    if runtime == "inline":
        return _named_runtime("inline")
    if runtime == "processes":
        return _named_runtime("processes")
    raise ValidationError(
        f"unknown runtime {runtime!r}",
        fix='pass a Runtime object, or one of "local", "threads", "processes", "inline", "ray"',
        culprit=runtime,
    )


_named: dict[str, LocalRuntime] = {}


def _named_runtime(name: ExecutorName) -> LocalRuntime:
    with _default_lock:
        runtime = _named.get(name)
        if runtime is None or runtime._closed:
            runtime = _named[name] = LocalRuntime(name)
            atexit.register(runtime.close)
        return runtime


_ray_runtime: Runtime | None = None


def _shared_ray() -> Runtime:
    """One RayRuntime per process for ``runtime="ray"``: joins a running cluster when there
    is one (``ray start``, ``RAY_ADDRESS``), else starts an embedded local Ray."""
    global _ray_runtime
    from maze_core.run.ray import RayRuntime

    with _default_lock:
        if _ray_runtime is None or _ray_runtime._closed:
            _ray_runtime = RayRuntime(address=os.environ.get("RAY_ADDRESS"))
            atexit.register(_ray_runtime.close)
        return _ray_runtime
