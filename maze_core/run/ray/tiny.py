"""Tiny tasks on Ray: bundles (many calls in one Ray task) and lanes (one call on a warm actor).

Ray costs about a millisecond per task here, which would be most of the run time of a task
predicted (90th percentile) to take less than the runtime's ``bundle_s``. Tiny tasks
dispatched together of one tool to one node share Ray tasks, one per CPU of the node, each
member keeping its own call, report, retries and output; a worker dying under a bundle costs
its members no retry (each runs again alone, so only the task that kills workers fails, on
its own account). A tiny task dispatched alone (the next node of a LangGraph chain) runs on
a lane of its node (:mod:`maze_core.run.ray.actors`), skipping the worker lease a Ray task
waits for. Tools with a timeout, a model or GPUs are never tiny.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from maze_core.errors import SharedWorkerLostError
from maze_core.run.ray.actors import ModelActors
from maze_core.run.ray.remotes import Remotes
from maze_core.run.ray.tasks import failed, member_outcome
from maze_core.run.runtime import Runtime
from maze_core.schedule import Dispatch
from maze_core.tools import ToolSpec

__all__ = ["MAX_BUNDLE", "MAX_LANES", "MIN_SPLIT", "TinyTasks"]

MAX_BUNDLE = 32  # tiny tasks sharing one Ray task, at most
MIN_SPLIT = 4  # a group of tiny tasks is split across CPUs into bundles no smaller
MAX_LANES = 4  # lane actors a node keeps at most (each is a worker process, ~100 MB)


class TinyTasks(Runtime):
    """The part of ``RayRuntime`` that sends tiny tasks to bundles and lanes."""

    bundle_s: float
    bundled: int  # tasks that ran in bundles
    remotes: Remotes
    _actors: ModelActors
    _solo: set[tuple[int, str]]  # tasks whose bundle lost its worker: their next try alone
    _tasks: dict[tuple[int, str, int], Any]

    @abc.abstractmethod
    def _dispatch(self, instruction: Dispatch, lane: bool = False) -> None: ...

    def _start_tiny(self, bundle_s: float) -> None:
        """Tasks predicted to take less than ``bundle_s`` are tiny (0: none is)."""
        self.bundle_s = bundle_s
        self.bundled = 0
        self._solo = set()

    @abc.abstractmethod
    def _reporter(self, instruction: Dispatch) -> Callable[..., None]: ...

    @abc.abstractmethod
    def _prepare(self, instruction: Dispatch) -> tuple[ToolSpec, list[Any], list[Any]]: ...

    def _dispatch_all(self, dispatches: list[Dispatch]) -> None:
        """Dispatches in a row (of different tasks: their order among themselves is free).
        The tiny ones of one tool to one node go together (see ``_apply_batch``)."""
        groups: dict[tuple[str, ToolSpec], list[Dispatch]] = {}
        for dispatch in dispatches:
            spec = self._tiny(dispatch) if self.bundle_s else None
            if spec is None:
                self._carry_out(dispatch)
            else:
                groups.setdefault((dispatch.allocation.node, spec), []).append(dispatch)
        for group in groups.values():
            self._carry_out(group)

    def _apply_batch(self, instructions: Sequence[Any]) -> None:
        """Tiny tasks of one tool to one node: in bundles, or on a lane when alone."""
        tiny = [i for i in instructions if isinstance(i, Dispatch)]
        if len(tiny) == 1:
            self._dispatch(tiny[0], lane=True)
        else:
            self._dispatch_bundle(tiny)

    def _tiny(self, instruction: Dispatch) -> ToolSpec | None:
        """The task's tool when the task may share a Ray task (None: it runs alone)."""
        if self.book.here_of(instruction.run_id) is not None:  # its caller runs it
            return None
        if (instruction.run_id, instruction.task_id) in self._solo:
            self._solo.discard((instruction.run_id, instruction.task_id))
            return None
        spec = self.book.task_of(instruction.run_id, instruction.task_id).spec
        if spec.load is not None or spec.resources.gpus or spec.timeout is not None:
            return None
        p90 = self.book.predicted_p90(instruction.run_id, instruction.task_id)
        return spec if p90 is not None and p90 < self.bundle_s else None

    def _dispatch_bundle(self, group: list[Dispatch]) -> None:
        """Run tiny tasks of one tool in shared Ray tasks. A group splits across the node's
        CPUs, but not below ``MIN_SPLIT`` members a bundle: a bundle's members end together
        and are dispatched again together, so small bundles would beget smaller."""
        node = group[0].allocation.node
        cpus = max(1, int(self.scheduler.nodes[node].cpus))
        size = min(MAX_BUNDLE, max(MIN_SPLIT, -(-len(group) // cpus)))
        for start in range(0, len(group), size):
            self._send_bundle(group[start : start + size])
        self.bundled += len(group)

    def _send_bundle(self, members: list[Dispatch]) -> None:
        prepared: list[tuple[Dispatch, Callable[..., None]]] = []
        calls, counts, values = [], [], []
        spec: ToolSpec | None = None
        for member in members:
            report = self._reporter(member)
            try:
                spec, call, upstream = self._prepare(member)
            except Exception as exc:  # a bad selection: this member fails, not the bundle
                report(failed(exc))
                continue
            prepared.append((member, report))
            calls.append(call)
            counts.append(len(upstream))
            values.extend(upstream)
        if spec is None:
            return
        try:
            remote = self.remotes.bundle(spec, members[0].allocation.node, len(calls))
            refs = remote.remote(calls, counts, *values)
        except Exception as exc:
            for _, report in prepared:
                report(failed(exc))
            return
        for member, _ in prepared:
            self._tasks[member.run_id, member.task_id, member.attempt] = refs[0]
        refs[0].future().add_done_callback(self._bundle_done(prepared, refs))

    def _bundle_done(
        self, prepared: list[tuple[Dispatch, Callable[..., None]]], refs: Sequence[Any]
    ) -> Callable[[Future[Any]], None]:
        """What reports every member's outcome when the bundle ends, then runs the loop once."""

        def done(future: Future[Any]) -> None:
            shared = len(prepared) > 1
            for index, (member, report) in enumerate(prepared):
                outcome = member_outcome(future, index, refs[index + 1], member.task_id, shared)
                if isinstance(outcome.exception(), SharedWorkerLostError):
                    self._solo.add((member.run_id, member.task_id))
                report(outcome, False)
            self._pump()

        return done

    def _on_lane(
        self, spec: ToolSpec, node: str, call: list[Any], values: list[Any]
    ) -> tuple[Any, Any] | None:
        """The task's (report, value) refs from a lane of ``node``; None when none is free
        and warm (see ``ModelActors.lane``)."""
        execute = self.remotes.actor_task(spec)
        lanes = max(1, min(MAX_LANES, int(self.scheduler.nodes[node].cpus)))
        options = self.remotes.options(spec, node)
        return self._actors.lane(node, lanes, options, execute, call, values)
