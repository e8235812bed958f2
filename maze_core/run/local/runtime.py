"""LocalRuntime: this machine as one node, its tasks on threads or worker processes."""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any, cast

from maze_core.errors import SerializationError, ValidationError
from maze_core.predict.malearn import MaLearn
from maze_core.run.local.attempts import Attempts
from maze_core.run.local.machine import detect_cpus, detect_gpus, detect_memory
from maze_core.run.local.threads import ExecutorName, ThreadExecutor, make_executor
from maze_core.run.runtime import Runtime
from maze_core.run.timers import Deadlines
from maze_core.run.worker import interrupt as worker_interrupt
from maze_core.run.worker.call import Outcome, run_call
from maze_core.run.worker.models import ModelUse
from maze_core.run.worker.shipping import shipped_once
from maze_core.run.worker.wire import BY_VALUE, unpicklable_part
from maze_core.schedule import Cancel, Dispatch, Finish, Node
from maze_core.schedule.events import Instruction
from maze_core.schedule.policies import Policy
from maze_core.tools import ToolSpec, parse_size

if TYPE_CHECKING:  # worker processes are imported when a runtime uses them (~35 ms)
    from maze_core.run.local.processes import ProcessExecutor
    from maze_core.run.local.worker_process import WorkerProcess

__all__ = ["STOP_AFTER_S", "LocalRuntime", "model_use"]

STOP_AFTER_S = 2.0  # an interrupted attempt still running after this long loses its worker


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
    ``limits`` caps how many calls to each named provider run at once (``{"openai": 8}``;
    see :mod:`maze_core.run.providers`).
    """

    channels = True  # in this process, or over a worker process's pipes

    def __init__(
        self,
        executor: ExecutorName = "threads",
        *,
        cpus: float | None = None,
        memory: int | str | None = None,
        gpus: int | None = None,
        gpu_memory: int | str | None = None,
        custom: dict[str, float] | None = None,
        limits: dict[str, int] | None = None,
        policy: str | Policy = "daps",
        predictor: MaLearn | bool = True,
        plugins: Iterable[Any] = (),
        autoload_plugins: bool | None = None,
        max_io_threads: int = 256,
        model_idle_s: float = 300.0,
        max_result: int | str | None = None,
    ) -> None:
        node = _local_node(cpus, memory, gpus, gpu_memory, {**(custom or {}), **_limits(limits)})
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
        self._spin_s = _spin_budget() if executor == "processes" else 0.0
        self._attempts = Attempts(self._interrupt_future)  # on worker processes

    def __repr__(self) -> str:
        node = self.scheduler.nodes["local"]
        return f"LocalRuntime({self.executor_name!r}, cpus={node.cpus:g}, gpus={node.gpus})"

    def _wait_here(self, run_id: int) -> None:
        """On worker processes this thread reads the result of its run's task from the
        worker when the task started at once (see ``_dispatch``), which saves waking a
        reader thread and then this one; completing the attempt, it runs the loop."""
        while (collected := self._collected.pop(run_id, None)) is not None:
            self._processes().collect(*collected)

    @property
    def shares_memory(self) -> bool:
        return self.executor_name != "processes"

    def ship(self, fn: Any, name: str) -> Any:
        """On worker processes, ``fn`` as a :class:`~maze_core.run.worker.shipping.Shipped` when
        it would travel by value (a script's function, a closure): pickled once here instead
        of with every call, which then pickles with the C pickler (~20 against ~100 µs)."""
        if self.executor_name != "processes":
            return fn
        return shipped_once(fn, BY_VALUE)

    def close(self) -> None:
        super().close()
        self._deadlines.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._io_executor.shutdown(wait=False, cancel_futures=True)

    def _dispatch(self, instruction: Dispatch) -> None:
        run_id, task_id, attempt = instruction.run_id, instruction.task_id, instruction.attempt

        def report(future: Future[Outcome]) -> None:
            self._post(lambda: self.book.outcome(run_id, task_id, attempt, future))

        def report_in_process(future: Future[Outcome]) -> None:
            self._attempts.ended((run_id, task_id), future)
            report(future)

        try:
            task, args, kwargs, context, p90 = self.book.running(instruction)
            spec = task.spec
            executor = self._io_executor if spec.kind == "io" else self._executor
            in_process = self.executor_name == "processes" and spec.kind != "io"
            env = _gpu_env(instruction.allocation.gpu_ids) if in_process else None
            submit: Callable[..., Future[Outcome]] = executor.submit
            if (
                in_process
                and self._waiters.get(run_id) == threading.get_ident()
                and run_id not in self._collected  # it reads one worker at a time
            ):
                submit = functools.partial(self._submit_collected, run_id, p90)
            try:
                future = submit(
                    run_call,
                    spec.fn,
                    args,
                    kwargs,
                    is_async=spec.is_async,
                    env=env,
                    portable=in_process,
                    context=context,
                    model=model_use(spec, self.model_idle_s),
                )
            except SerializationError as error:  # name the tool's argument, not run_call's
                raise _unpicklable(spec, args, kwargs, error) from None
        except Exception as exc:  # a bad input selection, an unpicklable call: the task fails
            failed: Future[Outcome] = Future()
            failed.set_exception(exc)
            report(failed)
            return
        if in_process:
            self._attempts.started((run_id, task_id), future)
        if spec.timeout is not None:
            self._deadlines.add(
                time.monotonic() + spec.timeout,
                lambda: self._expire(run_id, task_id, attempt, future, executor),
            )
        future.add_done_callback(report_in_process if in_process else report)

    def _submit_collected(
        self, run_id: int, p90: float | None, *call: Any, **options: Any
    ) -> Future[Outcome]:
        """Submit a task of a run whose waiter is this thread (in :meth:`call`): it will
        read the result from the worker itself, polling for it first if MaLearn expects
        the task to end within the polling budget (``serving.spin_budget``)."""
        future, worker = self._processes().submit_collected(*call, **options)
        if worker is not None:
            spin_s = self._spin_s if p90 is not None and p90 < self._spin_s else 0.0
            self._collected[run_id] = (worker, spin_s)
        return future

    def interrupt(self, run_id: int, task_id: str) -> bool:
        """A task's coroutine on a thread of this process is cancelled on its event loop;
        one in a worker process gets a signal (now, or when it starts)."""
        try:
            kind = self.book.task_of(run_id, task_id).spec.kind
        except KeyError:  # the run has ended
            return False
        if self.executor_name != "processes" or kind == "io":
            return worker_interrupt.here(run_id, task_id)
        return self._attempts.interrupt((run_id, task_id))

    def _interrupt_future(self, future: Future[Any]) -> bool:
        return self._processes().interrupt(future)

    def _apply(self, instruction: Instruction) -> None:
        """A running attempt that was cancelled is interrupted in its worker process, then
        stopped if it is still running ``STOP_AFTER_S`` later: its CPU is free for the
        scheduler from now on, so the worker must be too."""
        super()._apply(instruction)
        if isinstance(instruction, Finish):
            self._attempts.forget(instruction.run_id)
            worker_interrupt.forget(instruction.run_id)
        elif isinstance(instruction, Cancel) and instruction.was_running:
            future = self._attempts.running((instruction.run_id, instruction.task_id))
            if future is not None and self._processes().interrupt(future, hard=True):
                self._deadlines.add(time.monotonic() + STOP_AFTER_S, lambda: self._stop(future))

    def _stop(self, future: Future[Outcome]) -> None:
        if not future.done():
            self._processes().kill(future)

    def _expire(
        self,
        run_id: int,
        task_id: str,
        attempt: int,
        future: Future[Outcome],
        executor: Executor,
    ) -> None:
        """An attempt ran out of time: fail it, and stop its worker process if it has one
        (threads cannot be stopped: an abandoned thread attempt finishes in the background,
        and its pool starts another thread meanwhile)."""
        self._post(lambda: self.book.expired(run_id, task_id, attempt))
        if future.done():
            return
        if isinstance(executor, ThreadExecutor):
            executor.abandon(future, repr(task_id))
        elif self.executor_name == "processes":
            self._processes().kill(future)

    def _processes(self) -> ProcessExecutor:
        """The executor, where it is worker processes (only called then)."""
        return cast("ProcessExecutor", self._executor)


def _spin_budget() -> float:
    from maze_core.run.local.serving import spin_budget

    return spin_budget()


def model_use(spec: ToolSpec, idle_s: float) -> ModelUse | None:
    """What a call of ``spec`` needs resident (None for tools without a model loader)."""
    if spec.load is None or spec.model is None:
        return None
    return ModelUse(spec.model, spec.load, idle_s)


def _unpicklable(
    spec: ToolSpec, args: tuple[Any, ...], kwargs: dict[str, Any], error: SerializationError
) -> SerializationError:
    """The error naming the tool's own argument (or function) that cannot be pickled."""
    part = unpicklable_part(spec.fn, args, kwargs, tuple(spec.parameters["properties"]))
    return SerializationError(
        f"{part} cannot be pickled to send it to a worker process", fix=error.fix, culprit=part
    )


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


def _limits(limits: dict[str, int] | None) -> dict[str, float]:
    """Provider limits as the local node's custom resources, each a positive count."""
    for provider, limit in (limits or {}).items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValidationError(
                f"limits={{{provider!r}: {limit!r}}}: a limit is how many calls may run at once",
                fix=f"give a positive whole number, e.g. limits={{{provider!r}: 8}}",
                culprit=provider,
            )
    return {provider: float(limit) for provider, limit in (limits or {}).items()}
