"""Workflow, TaskRef and TaskGraph: DAGs whose edges come from data flow.

``wf.add(fn, **kwargs)`` returns a :class:`TaskRef`; passing that ref (anywhere inside the
arguments: lists, tuples, dicts, nested) to a later ``add`` makes an edge. A ref can only
point at a task that already exists, so a workflow is acyclic by construction. Everything
is checked when it is added, against the tool's signature, and the error says what to
change. ``wf.build()`` freezes the workflow into an immutable :class:`TaskGraph`, which can be
run any number of times with different inputs.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from maze_core.argtypes import Binder
from maze_core.errors import ValidationError
from maze_core.tools import ToolSpec, spec_of

if TYPE_CHECKING:
    from maze_core.run.result import RunResult
    from maze_core.run.runtime import RunHandle, Runtime

__all__ = ["MISSING", "InputRef", "Task", "TaskGraph", "TaskRef", "Workflow"]

MISSING: Any = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class TaskRef:
    """The future output of one task of one workflow; ``ref["key"]`` / ``ref[0]`` select
    part of that output lazily, when the consumer runs."""

    workflow_id: str
    task_id: str
    path: tuple[Any, ...] = ()

    def __getitem__(self, key: Any) -> TaskRef:
        return TaskRef(self.workflow_id, self.task_id, (*self.path, key))

    def __repr__(self) -> str:
        return f"TaskRef({self.task_id!r}{''.join(f'[{p!r}]' for p in self.path)})"


@dataclass(frozen=True, slots=True)
class InputRef:
    """A workflow input, given at run time: ``wf.run(name=value)``."""

    workflow_id: str
    name: str
    path: tuple[Any, ...] = ()

    def __getitem__(self, key: Any) -> InputRef:
        return InputRef(self.workflow_id, self.name, (*self.path, key))

    def __repr__(self) -> str:
        return f"InputRef({self.name!r}{''.join(f'[{p!r}]' for p in self.path)})"


@dataclass(frozen=True, slots=True, eq=False)
class Task:
    """One node of a TaskGraph: a tool with its (unresolved) arguments and dependencies."""

    id: str
    spec: ToolSpec
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    deps: tuple[str, ...]
    has_refs: bool


@dataclass(frozen=True, slots=True, eq=False)
class TaskGraph:
    """An immutable, validated DAG. ``tasks`` is in a topological order (the order added)."""

    name: str
    workflow_id: str
    tasks: Mapping[str, Task]
    inputs: Mapping[str, Any]
    dependents: Mapping[str, tuple[str, ...]] = field(repr=False)

    def bind_inputs(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The input values for one run (defaults filled in); unknown or missing ones raise."""
        unknown = sorted(set(given) - set(self.inputs))
        if unknown:
            raise ValidationError(
                f"workflow {self.name!r} has no input {', '.join(map(repr, unknown))}"
                f" (inputs: {', '.join(self.inputs) or 'none'})",
                fix="declare it with wf.input(name) or drop it from the run call",
                culprit=unknown[0],
            )
        values = {**{k: v for k, v in self.inputs.items() if v is not MISSING}, **given}
        missing = [name for name in self.inputs if name not in values]
        if missing:
            raise ValidationError(
                f"workflow {self.name!r} needs input {', '.join(map(repr, missing))}",
                fix=f"pass it when running: wf.run({missing[0]}=...)",
                culprit=missing[0],
            )
        return values


class Workflow:
    """A DAG of tool calls built from data flow.

    >>> wf = Workflow("report")
    >>> text = wf.add(parse, path="a.pdf")
    >>> summary = wf.add(summarize, text=text)
    >>> wf.run()[summary]
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.id = secrets.token_hex(16)  # not uuid4: an app's tests may script its values
        self._tasks: dict[str, Task] = {}
        self._inputs: dict[str, Any] = {}
        self._graph: TaskGraph | None = None
        self._binders: dict[int, Binder] = {}
        self._name_counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, tasks={len(self._tasks)})"

    def input(self, name: str, default: Any = MISSING) -> InputRef:
        """Declare an input given at run time (``wf.run(name=...)``) and return its ref."""
        self._check_open()
        if name in self._inputs:
            raise ValidationError(
                f"workflow {self.name!r} already has an input named {name!r}",
                fix="give each input its own name",
                culprit=name,
            )
        self._inputs[name] = default
        return InputRef(self.id, name)

    def add(
        self,
        fn: Callable[..., Any] | ToolSpec,
        /,
        *args: Any,
        after: Iterable[TaskRef] = (),
        task_name: str | None = None,
        **kwargs: Any,
    ) -> TaskRef:
        """Add a call of ``fn`` (a tool, a plain callable, or a ToolSpec made with
        ``make_spec``, e.g. one function under several names) and return its output's ref.

        ``after`` orders this task after others without passing data; ``task_name`` names
        the task (default: the tool's name, then ``name-1``, ``name-2`` ...).
        """
        self._check_open()
        spec = spec_of(fn)
        args, kwargs = self._bind(spec, args, kwargs)
        deps, has_refs = self._dependencies(spec, (args, kwargs))
        deps.update(dict.fromkeys(self._after(spec, after)))
        task_id = self._task_id(spec, task_name)
        self._tasks[task_id] = Task(task_id, spec, args, kwargs, tuple(deps), has_refs)
        return TaskRef(self.id, task_id)

    @property
    def tasks(self) -> Mapping[str, Task]:
        return dict(self._tasks)

    def build(self) -> TaskGraph:
        """Freeze the workflow (no more ``add``) and return its immutable TaskGraph."""
        if self._graph is None:
            if not self._tasks:
                raise ValidationError(
                    f"workflow {self.name!r} has no tasks",
                    fix="add at least one task with wf.add(tool, ...)",
                    culprit=self.name,
                )
            dependents: dict[str, list[str]] = {task_id: [] for task_id in self._tasks}
            for task in self._tasks.values():
                for dep in task.deps:
                    dependents[dep].append(task.id)
            frozen = {k: tuple(v) for k, v in dependents.items()}
            self._graph = TaskGraph(
                self.name, self.id, dict(self._tasks), dict(self._inputs), frozen
            )
        return self._graph

    def submit(
        self, runtime: Runtime | str | None = None, /, *, fail_fast: bool = False, **inputs: Any
    ) -> RunHandle:
        """Start one run on ``runtime`` (default: the shared local one); return its handle."""
        from maze_core.run.shared import get_runtime

        return get_runtime(runtime).submit(self, fail_fast=fail_fast, **inputs)

    def run(
        self,
        runtime: Runtime | str | None = None,
        /,
        *,
        fail_fast: bool = False,
        timeout: float | None = None,
        progress: bool = False,
        **inputs: Any,
    ) -> RunResult:
        """Run once and wait for the result (outputs, per-task status, timings, errors).

        A run still going after ``timeout`` seconds is cancelled and TaskTimeoutError raised.
        ``progress=True`` shows the run's tasks live while it runs (on a terminal).
        """
        if progress:
            return self._run_with_progress(runtime, fail_fast, timeout, inputs)
        if timeout is None:
            from maze_core.run.shared import get_runtime

            return get_runtime(runtime).call(self, fail_fast=fail_fast, **inputs)
        handle = self.submit(runtime, fail_fast=fail_fast, **inputs)
        return _wait(handle, timeout)

    def _run_with_progress(
        self,
        runtime: Runtime | str | None,
        fail_fast: bool,
        timeout: float | None,
        inputs: dict[str, Any],
    ) -> RunResult:
        from maze_core.progress import Progress
        from maze_core.run.shared import get_runtime

        target = get_runtime(runtime)
        watcher = Progress(only=set())
        target.plugins.register(watcher)
        try:
            handle = target.submit(self, fail_fast=fail_fast, **inputs)
            watcher.only = {handle.run_id}
            with watcher.live():
                return _wait(handle, timeout)
        finally:
            target.plugins.unregister(watcher)

    async def arun(
        self, runtime: Runtime | str | None = None, /, *, fail_fast: bool = False, **inputs: Any
    ) -> RunResult:
        """Run once without blocking the event loop."""
        return await self.submit(runtime, fail_fast=fail_fast, **inputs)

    # -- validation ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._graph is not None:
            raise ValidationError(
                f"workflow {self.name!r} was already built or submitted and is immutable",
                fix="build a new Workflow for a different graph; run this one as often as you like",
                culprit=self.name,
            )

    def _bind(
        self, spec: ToolSpec, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        binder = self._binders.get(id(spec))
        if binder is None:
            binder = self._binders[id(spec)] = Binder(spec)
        return binder.bind(args, kwargs, skip=_holds_ref)

    def _dependencies(self, spec: ToolSpec, arguments: Any) -> tuple[dict[str, None], bool]:
        """The tasks whose outputs ``arguments`` use, and whether they hold any ref at all."""
        deps: dict[str, None] = {}
        has_refs = False
        for ref in _refs(arguments):
            has_refs = True
            if ref.workflow_id != self.id:
                raise ValidationError(
                    f"tool {spec.name!r} is given {ref!r}, which belongs to another workflow",
                    fix="pass refs only within the workflow that created them",
                    culprit=ref,
                )
            if isinstance(ref, TaskRef):
                if ref.task_id not in self._tasks:  # a hand-made ref: would wait forever
                    raise ValidationError(
                        f"tool {spec.name!r} is given a ref to task {ref.task_id!r}, which this"
                        " workflow does not have (yet)",
                        fix="pass refs returned by this workflow's add(); a task can only use"
                        " the outputs of tasks added before it",
                        culprit=ref,
                    )
                deps[ref.task_id] = None
        return deps, has_refs

    def _after(self, spec: ToolSpec, after: Iterable[TaskRef] | None) -> list[str]:
        if after is None or after == ():
            return []
        if isinstance(after, TaskRef):
            after = [after]
        if not isinstance(after, Iterable) or isinstance(after, str | bytes):
            raise ValidationError(
                f"after= of tool {spec.name!r} is {after!r}, not refs of this workflow's tasks",
                fix="give after=[ref, ...] with refs returned by this workflow's add()",
                culprit=after,
            )
        ids = []
        for ref in after:
            if (
                not isinstance(ref, TaskRef)
                or ref.workflow_id != self.id
                or ref.task_id not in self._tasks
            ):
                raise ValidationError(
                    f"after= of tool {spec.name!r} holds {ref!r}, not a task of this workflow",
                    fix="give after=[ref, ...] with refs returned by this workflow's add()",
                    culprit=ref,
                )
            ids.append(ref.task_id)
        return ids

    def _task_id(self, spec: ToolSpec, task_name: str | None) -> str:
        if task_name is not None:
            if task_name in self._tasks:
                raise ValidationError(
                    f"workflow {self.name!r} already has a task named {task_name!r}",
                    fix="give each task_name once",
                    culprit=task_name,
                )
            return task_name
        n = self._name_counts.get(spec.name, 0)
        task_id = spec.name if n == 0 else f"{spec.name}-{n}"
        while task_id in self._tasks:  # only when a task_name took this one
            n += 1
            task_id = f"{spec.name}-{n}"
        self._name_counts[spec.name] = n + 1
        return task_id


def _holds_ref(value: Any) -> bool:
    return bool(_refs(value))


def _wait(handle: RunHandle, timeout: float | None) -> RunResult:
    try:
        return handle.result(timeout)
    except TimeoutError:
        handle.cancel(f"wf.run(timeout={timeout}) expired")
        raise
    except KeyboardInterrupt:  # Ctrl-C stops the run, as it stops a call made in place
        handle.cancel("interrupted (KeyboardInterrupt)")
        raise


_ATOMS = frozenset({int, float, str, bool, bytes, type(None)})
_REFS = (TaskRef, InputRef)


def _refs(value: Any) -> list[TaskRef | InputRef]:
    """Every ref inside ``value`` (lists, tuples, sets, dict values, nested), in order."""
    found: list[TaskRef | InputRef] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) in _ATOMS:
            continue
        if isinstance(item, _REFS):
            found.append(item)
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
        elif isinstance(item, set | frozenset):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(reversed(item.values()))
    return found


def resolve(value: Any, outputs: Mapping[str, Any] | None, inputs: Mapping[str, Any]) -> Any:
    """``value`` with every ref replaced by the output or input it stands for; with
    ``outputs=None`` only input refs are replaced (task refs are resolved elsewhere)."""
    if isinstance(value, TaskRef):
        return value if outputs is None else _select(outputs[value.task_id], value.path)
    if isinstance(value, InputRef):
        return _select(inputs[value.name], value.path)
    if isinstance(value, list | tuple | set | frozenset):
        items = [resolve(item, outputs, inputs) for item in value]
        return type(value)(items) if not _is_namedtuple(value) else type(value)(*items)
    if isinstance(value, dict):
        return {key: resolve(item, outputs, inputs) for key, item in value.items()}
    return value


def task_refs(value: Any) -> list[str]:
    """The ids of the tasks whose outputs ``value`` uses, once each, in order of appearance."""
    return list(dict.fromkeys(ref.task_id for ref in _refs(value) if isinstance(ref, TaskRef)))


def _select(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")
