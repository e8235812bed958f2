"""The Ray side of a Maze task: what a worker runs (one call, or a bundle of tiny calls)
and how the report it sends back reads in the driver (see :mod:`maze_core.run.ray`).

A task is called with lists, dicts and scalars (``task_call``) that Ray serializes with
msgpack. It returns two objects: a report that comes to the driver, and its value, which
stays in Ray's object store, unless it pickles to at most ``INLINE_BYTES`` and rides in the
report (an ``Inline`` the driver keeps as bytes until the value is read).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from maze_core.errors import MazeError, SharedWorkerLostError, WorkerLostError, missing_dependency
from maze_core.graph import resolve
from maze_core.run.worker.call import Outcome, run_call, size_hint
from maze_core.run.worker.context import TaskContext
from maze_core.run.worker.models import ModelUse
from maze_core.run.worker.wire import own_uuid4, result_too_large
from maze_core.tools import ToolSpec

__all__ = [
    "INLINE_BYTES",
    "Inline",
    "failed",
    "fetch",
    "maze_error",
    "member_outcome",
    "node_died",
    "outcome_of",
    "ray_module",
    "task_call",
    "tool_bundle",
    "tool_task",
]

INLINE_BYTES = 100 * 1024  # Ray's own max_direct_call_object_size


def ray_module() -> Any:
    """Ray, imported on first use (it is an optional dependency)."""
    try:
        import ray
    except ImportError:
        raise missing_dependency("ray", "ray") from None
    own_uuid4("ray.cloudpickle.cloudpickle")
    return ray


def tool_task(spec: ToolSpec, max_result: int | None = None) -> Callable[..., tuple[Outcome, Any]]:
    """The function Ray runs for ``spec``, named after its function (calls are named after
    their tool)."""
    fn, is_async = spec.fn, spec.is_async
    # in a model actor, which the runtime stops when idle: the model stays while it lives
    model = ModelUse(spec.model, spec.load, math.inf) if spec.load and spec.model else None

    def execute(call: list[Any], *dep_values: Any) -> tuple[Any, Any]:
        """Worker side: resolve refs against the upstream values Ray delivered, run the
        tool, return (a small report, the value); see ``task_call`` and ``outcome_of``."""
        args, kwargs, deps, context, inline = call
        if deps or inline:
            upstream = dict(zip(deps, dep_values, strict=True))
            upstream.update((dep, pickle.loads(data)) for dep, data in inline.items())
            args, kwargs = resolve((args, kwargs), upstream, {})
        run_id, task_id, attempt, node, gpu_ids, model_load, wrappers = context
        wrapped = tuple((path, argument) for path, argument in wrappers)
        context = TaskContext(run_id, task_id, attempt, node, tuple(gpu_ids), model_load, wrapped)
        outcome = run_call(
            fn, args, kwargs, is_async=is_async, portable=True, context=context, model=model
        )
        if not outcome.ok:
            return outcome, None
        size = size_hint(outcome.value)
        if max_result is not None and size > max_result:
            outcome.ok, outcome.error = False, result_too_large(outcome.value, size, max_result)
            outcome.value = None
            return outcome, None
        report = [outcome.started, outcome.finished, outcome.exported, size, outcome.cpu]
        data = _small(outcome.value, size)
        if data is not None:
            return [*report, data], None
        return report, outcome.value

    execute.__name__ = execute.__qualname__ = getattr(fn, "__name__", "task").strip("<>")
    return execute


def tool_bundle(spec: ToolSpec, max_result: int | None = None) -> Callable[..., Any]:
    """The function Ray runs for a bundle of ``spec``'s tasks: each member's call in turn,
    ``counts[i]`` of the upstream values its own; returns the members' reports (one object
    for the driver) and then each member's value (None when it is in its report)."""
    execute = tool_task(spec, max_result)

    def execute_all(calls: list[Any], counts: list[int], *dep_values: Any) -> tuple[Any, ...]:
        reports, values, start = [], [], 0
        for call, count in zip(calls, counts, strict=True):
            report, value = execute(call, *dep_values[start : start + count])
            start += count
            reports.append(report)
            values.append(value)
        return (reports, *values)

    execute_all.__name__ = execute_all.__qualname__ = f"{execute.__name__}_bundle"
    return execute_all


def task_call(
    args: Any, kwargs: Any, deps: list[str], context: TaskContext, inline: dict[str, bytes]
) -> list[Any]:
    """What a Ray task is called with, in lists, dicts and scalars where it can be: Ray
    serializes those with msgpack, several times cheaper than pickling a tuple or object
    (which matters at thousands of tasks a second). ``deps`` name the upstream outputs
    passed as ObjectRef arguments, ``inline`` holds the small ones, pickled."""
    place = [context.run_id, context.task_id, context.attempt, context.node]
    wrappers = [list(wrapper) for wrapper in context.wrappers]
    ctx = [*place, list(context.gpu_ids), context.model_load, wrappers]
    return [list(args), kwargs, deps, ctx, inline]


class Inline:
    """A small output that came back pickled in its task's report. The driver keeps the
    bytes: it unpickles them only when the value is read (the classes a value uses may
    exist only where tasks run) and hands them as they are to downstream tasks."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


def _small(value: Any, size: int) -> bytes | None:
    """``value`` pickled when that takes at most ``INLINE_BYTES`` (None when it is bigger,
    or only Ray's serializer can handle it). With Ray's cloudpickle, as Ray would pickle
    it: a class the driver shipped by value then comes back as that same class."""
    if size > INLINE_BYTES:
        return None
    try:
        data: bytes = ray_module().cloudpickle.dumps(value)
    except Exception:
        return None
    return data if len(data) <= INLINE_BYTES else None


def outcome_of(done: Future[Any], value_ref: Any, task_id: str) -> Future[Outcome]:
    """The report as an Outcome whose value is the ObjectRef of the output, or the output
    itself when it came inline. A success is reported as the list ``[started, finished,
    exported, output size, CPU seconds]`` plus the pickled value when it is small (see
    ``_small``), a failure as its Outcome."""
    result: Future[Outcome] = Future()
    try:
        report = done.result()
    except Exception as exc:
        result.set_exception(maze_error(exc, task_id))
        return result
    if isinstance(report, Outcome):
        result.set_result(report)
    else:
        started, finished, exported, size, cpu, *inline = report
        value = Inline(inline[0]) if inline else value_ref
        outcome = Outcome(
            True, value, None, "", started, finished, exported, size, bool(inline), cpu
        )
        result.set_result(outcome)
    return result


def member_outcome(
    done: Future[Any], index: int, value_ref: Any, task_id: str, shared: bool
) -> Future[Outcome]:
    """Member ``index`` of a bundle: its report out of the bundle's list of reports. When
    the worker died under a ``shared`` bundle, a SharedWorkerLostError (no retry spent)."""
    member: Future[Any] = Future()
    try:
        member.set_result(done.result()[index])
    except Exception as exc:
        member.set_exception(exc)
    outcome = outcome_of(member, value_ref, task_id)
    lost = outcome.exception()
    if not shared or type(lost) is not WorkerLostError or node_died(lost):
        return outcome  # a node that left re-runs its tasks for free anyway
    shared_lost = SharedWorkerLostError(
        f"{lost.problem} (other tiny tasks shared its worker; it runs again alone)",
        fix=lost.fix,
        culprit=task_id,
    )
    shared_lost.__cause__ = lost.__cause__
    return failed(shared_lost)


def failed(error: BaseException) -> Future[Outcome]:
    failed: Future[Outcome] = Future()
    failed.set_exception(error)
    return failed


def _lost_errors() -> tuple[type[BaseException], ...]:
    exceptions = ray_module().exceptions
    return (
        exceptions.WorkerCrashedError,
        exceptions.NodeDiedError,
        exceptions.ObjectLostError,  # ObjectReconstructionFailedError and kin derive from it
        exceptions.OwnerDiedError,
        exceptions.RayActorError,  # a model actor died with its process or node
        # the pinned node left between the scheduler's choice and Ray's placement
        exceptions.TaskUnschedulableError,
        exceptions.ActorUnschedulableError,
    )


def node_died(error: BaseException) -> bool:
    """Whether ``error`` says the task's node is gone (not only its worker): the node then
    leaves the scheduler's cluster before the failure is reported, so its tasks run again
    elsewhere without spending a retry."""
    exceptions = ray_module().exceptions
    gone = (
        exceptions.NodeDiedError,
        exceptions.TaskUnschedulableError,
        exceptions.ActorUnschedulableError,
    )
    return isinstance(error.__cause__, gone)


def maze_error(error: BaseException, task_id: str) -> BaseException:
    """Ray's failures, said in Maze's words: a dead worker or node is retryable."""
    ray = ray_module()
    if isinstance(error, _lost_errors()):
        lost = WorkerLostError(
            f"the Ray worker running task {task_id!r} died or lost an input:"
            f" {type(error).__name__}",
            fix="find what killed it; set retries= to run it again elsewhere",
            culprit=task_id,
        )
        lost.__cause__ = error
        return lost
    if isinstance(error, ray.exceptions.TaskCancelledError):
        return MazeError(
            f"task {task_id!r} was cancelled in Ray by something other than Maze",
            fix="do not ray.cancel() tasks Maze started; cancel the run with handle.cancel()",
            culprit=task_id,
        )
    return error


def fetch(value: Any) -> Any:
    if isinstance(value, Inline):
        return pickle.loads(value.data)
    ray = ray_module()
    return ray.get(value) if isinstance(value, ray.ObjectRef) else value
