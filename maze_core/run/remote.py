"""``Remote``: run one callable as one Maze task per call, and get its value back.

The primitive every adapter builds on (a LangGraph node's body, a functional-API ``@task``,
a LangChain tool's body): the callable becomes a tool with declared resources, each call a
one-task run that the runtime's scheduler orders with every other run's tasks, and the
caller gets the value, or the exception the callable raised with its own type, as if it had
run in place. The one-task workflow is built once; a call costs a submit and a wait
(``Runtime.call``: on local processes the waiting thread reads the result from the worker
itself).

What the callable gets is what pickles (for workers in other processes); what the caller
keeps live (a graph's store, callbacks, a stream writer) does not travel with the call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import cloudpickle

from maze_core.errors import MazeError, SerializationError, user_exception
from maze_core.graph import TaskGraph, Workflow
from maze_core.run.here import Ran, arun_here, run_here
from maze_core.run.providers import ATTEMPTS, backoff, overloaded
from maze_core.run.result import RunResult
from maze_core.run.runtime import RunHandle, RunHints, Runtime
from maze_core.run.shared import get_runtime
from maze_core.run.worker import channel
from maze_core.run.worker.call import settle
from maze_core.run.worker.shipping import Shipped, pickled
from maze_core.tools import Kind, Resources, ToolSpec, make_spec

__all__ = ["INTERRUPT_WAIT_S", "Remote", "apply", "is_coroutine"]

INTERRUPT_WAIT_S = 5.0  # how long a cancelled call waits for its interrupted body to end


@dataclasses.dataclass(frozen=True, slots=True)
class _Call:
    """One call of a remote function, as its worker receives it."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    channel: channel.Route | None = None  # how it reaches its channel to the caller


def apply(call: _Call) -> Any:
    """Worker side: the call, made (inside its channel's link), and awaited when the
    callable is async (every Remote runs this module-level function, so only the callable
    and its arguments travel)."""
    with channel.linked(call.channel):
        return settle(call.fn(*call.args, **call.kwargs))


class Remote:
    """``fn`` as a Maze tool named ``name``: each :meth:`call` runs it (awaited in the
    worker when it is async) as one task on
    ``runtime`` (a Runtime or its name; default the shared local ``processes`` runtime)
    with ``resources`` (default 1 CPU; ``kind="io"`` for calls that mostly wait, which take
    no CPU slot), ``model`` (placed where that model is resident; ``load`` builds it once
    per worker), ``timeout`` and ``retries``, as ``@tool`` declares them. The run is named
    ``name``, its one task ``task`` (default ``name``: a graph's node, say).

    Where a call runs best: :meth:`runs_here` says whether the next one should run in its
    caller (:meth:`here` / :meth:`ahere`, given the caller's own form of the call) rather
    than in a worker (:meth:`call` / :meth:`acall`). A call declared ``io`` does; one
    declaring nothing of its placement (no ``kind``, ``resources``, ``model``, ``load``
    or ``timeout``) does until the runtime has learned that its calls compute (see
    :mod:`maze_core.predict.kinds`).

    ``provider`` names the rate-limited service every call waits on (a model API): calls
    run in the caller, each holding one unit of the runtime's limit for it, so the
    scheduler decides whose call goes next, and an overloaded answer (429) gives the unit
    back and queues the call again after a backoff (see :mod:`maze_core.run.providers`).

    ``observe`` is told the seconds each call ran (an adapter's critical-path estimate
    learns from it); ``learn_as`` is what the kind of its calls is learned under (default
    ``name``: give two functions sharing a name their own). Raises SerializationError at
    once when ``fn`` cannot be pickled for a worker.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str,
        runtime: Runtime | str | None = "processes",
        resources: Resources | None = None,
        kind: Kind | None = None,
        model: str | None = None,
        timeout: float | None = None,
        retries: int = 0,
        load: Callable[[], Any] | None = None,
        observe: Callable[[float], None] | None = None,
        task: str | None = None,
        learn_as: str | None = None,
        provider: str | None = None,
    ) -> None:
        self.name = name
        self.learn_as = learn_as or name  # what its kind is learned under
        self.task = task or name
        self.runtime = get_runtime(runtime)
        self._coroutine = is_coroutine(fn)
        self.fn = self.carry(fn, subject=f"{name!r} cannot run in a worker", fix=_FIX)
        spec = make_spec(
            apply,
            resources=resources,
            kind=kind,
            model=model,
            timeout=timeout,
            retries=retries,
            load=load,
            name=name,
        )
        self.graph: TaskGraph = self._one_task(spec)
        self.provider = provider
        declared = (kind, resources, model, load, timeout, provider)
        self.learned = all(v is None for v in declared)
        self.kind = "io" if provider is not None else None if self.learned else spec.kind
        self._here: TaskGraph | None = None
        self._retries = retries
        self._observe = observe

    def __repr__(self) -> str:
        return f"Remote({self.name!r}, runtime={self.runtime!r})"

    def carry(self, value: Any, *, subject: str, fix: str, check: bool = True) -> Any:
        """What to send in place of ``value`` (a function a call carries, say) with every
        call: pickled once when it travels by value (see ``Runtime.ship``), which checks it
        pickles; with ``check``, one sent by reference or kept here is checked too. One
        that does not pickle is a SerializationError starting with ``subject``, naming what
        it captures that cannot, and ending with ``fix``."""
        try:
            travels = self.runtime.ship(value, self.name)
        except MazeError:
            raise
        except Exception as exc:  # name the captured object to blame, where there is one
            pickled(value, cloudpickle, subject, fix=fix)
            raise SerializationError(f"{subject}: {exc}", fix=fix, culprit=subject) from None
        if check and not isinstance(travels, Shipped):
            pickled(value, cloudpickle, subject, fix=fix)
        return travels

    def _one_task(self, spec: ToolSpec) -> TaskGraph:
        workflow = Workflow(self.name)
        workflow.add(spec, workflow.input("call"), task_name=self.task)
        return workflow.build()

    def runs_here(self) -> bool:
        """Whether the next call should run in its caller (see the class docstring)."""
        if not self.runtime.runs_here:
            return False
        if not self.learned:
            return self.kind == "io"
        return self.runtime.kinds.kind(self.learn_as) != "cpu"

    def here(self, body: Callable[[], Any], *, hints: RunHints | None = None) -> Any:
        """Run ``body()`` (the caller's own form of a call, with its live objects) in this
        thread as this function's task: scheduled, recorded and learned from as every
        call, run in place (see :mod:`maze_core.run.here`). Returns what it returns,
        raises what it raises."""
        if not self.runtime.runs_here:  # a client of a shared scheduler: unscheduled
            return body()
        attempt = 1
        while True:
            ran = Ran()
            try:
                return run_here(self.runtime, self._here_graph(), body, ran, hints=hints, call=None)
            except Exception as error:
                wait = self._backoff(error, attempt)
            finally:
                self._learn(ran)
            time.sleep(wait)
            attempt += 1

    async def ahere(
        self, body: Callable[[], Awaitable[Any]], *, hints: RunHints | None = None
    ) -> Any:
        """:meth:`here` for a coroutine: awaited within the caller's own task."""
        if not self.runtime.runs_here:
            return await body()
        import asyncio

        attempt = 1
        while True:
            ran = Ran()
            try:
                graph = self._here_graph()
                return await arun_here(self.runtime, graph, body, ran, hints=hints, call=None)
            except Exception as error:
                wait = self._backoff(error, attempt)
            finally:
                self._learn(ran)
            await asyncio.sleep(wait)
            attempt += 1

    def _backoff(self, error: Exception, attempt: int) -> float:
        """How long to wait before calling a provider again after ``error`` (its
        ``attempt``-th); raises ``error`` itself where it is not the provider's overload."""
        if self.provider is None or attempt >= ATTEMPTS or not overloaded(error):
            raise error
        return backoff(error, attempt)

    def _here_graph(self) -> TaskGraph:
        """The one-task graph of calls run in the caller: an io tool of the same name."""
        if self._here is None:
            units = {} if self.provider is None else {self.provider: 1.0}
            resources = Resources(cpus=0, custom=units)
            spec = make_spec(
                apply, kind="io", resources=resources, retries=self._retries, name=self.name
            )
            self._here = self._one_task(spec)
        return self._here

    def _learn(self, ran: Ran) -> None:
        outcome = ran.outcome
        if outcome is None:
            return
        seconds = outcome.finished - outcome.started
        self.runtime.kinds.observe(self.learn_as, seconds, outcome.cpu, ran.crowd, ran.queued)
        if self._observe is not None:
            self._observe(seconds)

    def call(
        self,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        hints: RunHints | None = None,
        handler: channel.Handler | None = None,
    ) -> Any:
        """``fn(*args, **kwargs)`` as a task, waiting in this thread. ``hints`` tell the
        scheduler the call is one step of a larger job (its age, the work after it);
        ``handler`` is the caller's end of a live channel with the call (see
        :mod:`maze_core.run.worker.channel`): the body's events reach it as they happen,
        and it answers the body's requests."""
        with self._channel(handler) as route:
            call = self._call(args, kwargs, route)
            result = self.runtime.call(self.graph, hints=hints, call=call)
        return self._value(result)

    async def acall(
        self,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        hints: RunHints | None = None,
        handler: channel.Handler | None = None,
        coroutine: bool | None = None,
    ) -> Any:
        """The same without blocking the event loop. Cancelled, it cancels the body as
        cancelling it in place would: a coroutine (``coroutine``; default: whether the
        function is a coroutine function) is interrupted at its ``await`` where the runtime
        can reach it, and waited for, up to :data:`INTERRUPT_WAIT_S`, so that what it does
        on its way out is done, and seen, before the cancellation goes on; otherwise the
        run is cancelled (synchronous code is not waited for in place either)."""
        with self._channel(handler) as route:
            call = self._call(args, kwargs, route)
            handle = self.runtime.submit(self.graph, hints=hints, call=call)
            coroutine = self._coroutine if coroutine is None else coroutine
            result = await self._awaited(handle, coroutine)
        return self._value(result)

    async def _awaited(self, handle: RunHandle, coroutine: bool) -> RunResult:
        import asyncio

        waiting = asyncio.wrap_future(handle.future)
        try:
            return await asyncio.shield(waiting)
        except asyncio.CancelledError:
            if not coroutine or not self.runtime.interrupt(handle.run_id, self.task):
                handle.cancel("the task awaiting it was cancelled")
                raise
        result = await _interrupted(waiting)
        if result is None:
            handle.cancel("it did not stop when its caller was cancelled")
            raise asyncio.CancelledError()
        if result.tasks[self.task].status != "done":  # its CancelledError, or what it raised
            raise user_exception(result.tasks[self.task].error, self.task)
        return result  # the body caught the cancellation and returned: as in place

    def _call(
        self, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None, route: channel.Route | None
    ) -> _Call:
        return _Call(self.fn, tuple(args), dict(kwargs or {}), route)

    def _channel(
        self, handler: channel.Handler | None
    ) -> contextlib.AbstractContextManager[channel.Route | None]:
        """A channel to ``handler`` for one call (its route), or none."""
        if handler is None:
            return contextlib.nullcontext()
        return channel.opened(handler, self.runtime.relay())

    def _value(self, result: RunResult) -> Any:
        record = result.tasks[self.task]
        if record.seconds is not None:
            cpu = record.cpu_seconds or 0.0
            self.runtime.kinds.observe(self.learn_as, record.seconds, cpu)
            if self._observe is not None:
                self._observe(record.seconds)
        if record.status != "done":
            raise user_exception(record.error, self.task)
        return result[self.task]


def is_coroutine(fn: Any) -> bool:
    """Whether calling ``fn`` makes a coroutine (a coroutine function, or an object whose
    ``__call__`` is one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


async def _interrupted(waiting: Any) -> RunResult | None:
    """The result of a run whose body was interrupted, once it ends; None if it does not
    within :data:`INTERRUPT_WAIT_S`. Cancelled again meanwhile (LangGraph cancels a step's
    tasks more than once), it waits on: the body is being cancelled already, as it would
    be in place."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + INTERRUPT_WAIT_S
    while (left := deadline - loop.time()) > 0:
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), left)
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            continue
    return None


_FIX = "create such objects inside the function (or load them there once), or run it in place"
