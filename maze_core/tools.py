"""MaRegister: ``@tool``, the resources a tool declares, its frozen spec, and the registry.

``@tool`` only records a frozen :class:`ToolSpec` on the function and returns the very same
function, so a tool stays a plain Python callable (and pickles by reference). The spec says
what the scheduler needs: the resources one call reserves, its kind (``cpu``, ``gpu`` or
``io``), the model it needs resident, and how to retry and time it out.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil
import re
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TypeVar, overload

from maze_core.errors import DuplicateToolError, ValidationError
from maze_core.schema import describe, json_schema

__all__ = [
    "DEFAULT_SECONDS",
    "Kind",
    "Resources",
    "ToolRegistry",
    "ToolSpec",
    "as_resources",
    "check_kinds",
    "discover",
    "make_spec",
    "parse_size",
    "spec_of",
    "tool",
]

Kind = Literal["cpu", "gpu", "io"]
KINDS: tuple[Kind, ...] = ("cpu", "gpu", "io")
DEFAULT_SECONDS: Mapping[str, float] = {"cpu": 0.1, "io": 0.5, "gpu": 10.0}
"""Cold-start duration guesses per kind, until a predictor knows a tool (an agent's CPU step
takes ~0.1 s, not the 3 s the published system assumed)."""
F = TypeVar("F", bound=Callable[..., Any])

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTP])(i)?)?B?\s*$", re.IGNORECASE)
_SIZE_FIX = 'give a byte count or a string such as "512MB", "16GiB" or "1.5GB"'


def parse_size(value: int | float | str | None, *, what: str = "size") -> int | None:
    """Bytes from ``1024``, ``"512MB"`` (powers of 1000) or ``"16GiB"`` (powers of 1024)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{what}={value!r} is not a size", fix=_SIZE_FIX, culprit=value)
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValidationError(f"{what}={value!r} is not a size", fix=_SIZE_FIX, culprit=value)
        number, prefix, binary = match.groups()
        power = "_KMGTP".index(prefix.upper()) if prefix else 0
        return int(float(number) * (1024 if binary else 1000) ** power)
    if not math.isfinite(value) or value < 0:
        raise ValidationError(f"{what}={value!r} is negative", fix=_SIZE_FIX, culprit=value)
    return int(value)


def _amount(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ValidationError(
            f"{what}={value!r} is not a non-negative number",
            fix=f"give {what} as a number >= 0 (fractions share a device)",
            culprit=value,
        )
    return float(value)


class Resources:
    """What one call of a tool reserves while it runs. Immutable and hashable.

    ``gpu_memory`` is per GPU and ``memory`` is host RAM; both accept ``"16GiB"`` or bytes.
    ``custom`` holds any other named resource (``{"accelerator_slot": 1}``), as Ray does.
    """

    __slots__ = ("_key", "cpus", "custom", "gpu_memory", "gpus", "memory")

    cpus: float
    gpus: float
    gpu_memory: int | None
    memory: int | None
    custom: Mapping[str, float]
    _key: tuple[int, tuple[Any, ...]]  # (hash, what equality compares)

    def __init__(
        self,
        cpus: float = 1,
        gpus: float = 0,
        gpu_memory: int | str | None = None,
        memory: int | str | None = None,
        custom: Mapping[str, float] | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "cpus", _amount(cpus, "cpus"))
        set_(self, "gpus", _amount(gpus, "gpus"))
        set_(self, "gpu_memory", parse_size(gpu_memory, what="gpu_memory"))
        set_(self, "memory", parse_size(memory, what="memory"))
        amounts = {k: _amount(v, f"custom[{k!r}]") for k, v in (custom or {}).items()}
        set_(self, "custom", types.MappingProxyType(amounts))
        # what equality and hashing compare, made once: requests key the scheduler's groups
        key = (
            self.cpus,
            self.gpus,
            self.gpu_memory,
            self.memory,
            tuple(sorted(self.custom.items())),
        )
        set_(self, "_key", (hash(key), key))
        if self.gpu_memory and not self.gpus:
            raise ValidationError(
                f"gpu_memory={self.gpu_memory} bytes was asked for without a GPU",
                fix="also ask for gpus=1 (or a fraction such as gpus=0.5)",
                culprit=self,
            )

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Resources are immutable; build a new one instead of setting {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Resources) and self._key[1] == other._key[1]

    def __hash__(self) -> int:
        return self._key[0]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Resources, (self.cpus, self.gpus, self.gpu_memory, self.memory, dict(self.custom)))

    def __repr__(self) -> str:
        parts = [f"cpus={self.cpus:g}"]
        if self.gpus:
            parts.append(f"gpus={self.gpus:g}")
        if self.gpu_memory is not None:
            parts.append(f"gpu_memory={self.gpu_memory}")
        if self.memory is not None:
            parts.append(f"memory={self.memory}")
        if self.custom:
            parts.append(f"custom={dict(self.custom)!r}")
        return f"Resources({', '.join(parts)})"


@dataclass(frozen=True, slots=True, eq=False)
class ToolSpec:
    """Everything Maze knows about a tool; frozen once ``@tool`` has run."""

    name: str
    fn: Callable[..., Any]
    resources: Resources
    kind: Kind
    model: str | None
    features: Callable[..., Mapping[str, float]] | None
    timeout: float | None
    retries: int
    description: str
    parameters: dict[str, Any]
    is_async: bool
    load: Callable[[], Any] | None = None

    @property
    def origin(self) -> str:
        """Where the function was defined: ``module:qualname``."""
        return f"{self.fn.__module__}:{self.fn.__qualname__}"


def as_resources(value: Resources | Mapping[str, Any] | None, subject: str) -> Resources | None:
    """``value`` as Resources (a mapping gives its keyword arguments); a ValidationError
    saying ``subject`` (who declared it) when it is not one."""
    if value is None or isinstance(value, Resources):
        return value
    try:
        return Resources(**value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{subject}={value!r}: {exc}",
            fix='use keys of Resources: {"cpus": 1, "gpus": 0, "memory": "1GiB", ...}',
            culprit=subject,
        ) from None


def make_spec(
    fn: Callable[..., Any],
    *,
    resources: Resources | None = None,
    kind: Kind | None = None,
    model: str | None = None,
    features: Callable[..., Mapping[str, float]] | None = None,
    timeout: float | None = None,
    retries: int = 0,
    name: str | None = None,
    description: str | None = None,
    load: Callable[[], Any] | None = None,
) -> ToolSpec:
    """Build the spec of ``fn``; every option is checked here so mistakes fail at import."""
    if not callable(fn):
        raise ValidationError(
            f"{fn!r} is not callable", fix="decorate a function with @tool", culprit=fn
        )
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ValidationError(  # a generator cannot leave a worker process: refuse it everywhere
            f"tool {getattr(fn, '__qualname__', fn)!r} is a generator function: its task would"
            " return the generator, not what it yields",
            fix="return a list of the items (return list(...)), or make each item a task",
            culprit=fn,
        )
    if resources is not None and not isinstance(resources, Resources):
        raise ValidationError(
            f"tool {fn!r} has resources={resources!r}",
            fix="pass resources=Resources(cpus=..., gpus=..., memory=...)",
            culprit=resources,
        )
    kind = _kind(fn, kind, resources)
    if resources is None:
        resources = Resources(cpus=0) if kind == "io" else Resources()
    _check_options(fn, timeout, retries, features)
    _check_load(fn, model, load)
    summary, _ = describe(fn)
    return ToolSpec(
        name=name or str(getattr(fn, "__name__", type(fn).__name__)),
        fn=fn,
        resources=resources,
        kind=kind,
        model=model,
        features=features,
        timeout=None if timeout is None else float(timeout),
        retries=retries,
        description=summary if description is None else description,
        parameters=json_schema(fn),
        is_async=inspect.iscoroutinefunction(fn),
        load=load,
    )


def _check_load(fn: Callable[..., Any], model: str | None, load: object) -> None:
    if load is None:
        return
    if not callable(load):
        raise ValidationError(
            f"tool {fn!r} has load={load!r}",
            fix="pass a function of no arguments that builds and returns the model",
            culprit=load,
        )
    if model is None:
        raise ValidationError(
            f"tool {fn!r} has load= but no model=",
            fix='name the model it loads, e.g. @tool(model="bert", load=load_bert): workers'
            " keep one copy per name and the scheduler places calls where it is resident",
            culprit=fn,
        )


def check_kinds(named: Mapping[str, Any], noun: str) -> None:
    """Raise a ValidationError for a kind given by ``kinds=`` (of ``distribute()`` or
    ``MazeToolMiddleware``) that Maze does not know, naming the ``noun`` (node, tool) it
    was given to (the empty name: every one)."""
    for name, kind in named.items():
        if kind not in KINDS:
            raise ValidationError(
                f"kinds= gives {f'{noun} {name!r}' if name else f'every {noun}'} the kind {kind!r}",
                fix=f"use one of {', '.join(KINDS)}: io runs it in the caller, cpu and gpu"
                " in workers",
                culprit=name or kind,
            )


def _kind(fn: Callable[..., Any], kind: Kind | None, resources: Resources | None) -> Kind:
    if kind is None:
        return "gpu" if resources is not None and resources.gpus > 0 else "cpu"
    if kind not in KINDS:
        raise ValidationError(
            f"tool {fn!r} has kind={kind!r}",
            fix=f"use one of {', '.join(KINDS)} (or leave it out to infer it from resources)",
            culprit=kind,
        )
    return kind


def _check_options(
    fn: Callable[..., Any], timeout: float | None, retries: int, features: object
) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise ValidationError(
            f"tool {fn!r} has timeout={timeout!r}",
            fix="give the timeout in seconds, > 0, or None for no limit",
            culprit=timeout,
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValidationError(
            f"tool {fn!r} has retries={retries!r}",
            fix="give retries as an integer >= 0 (extra attempts after the first)",
            culprit=retries,
        )
    if features is not None and not callable(features):
        raise ValidationError(
            f"tool {fn!r} has features={features!r}",
            fix="pass a callable taking the tool's arguments and returning a dict of numbers",
            culprit=features,
        )


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(
    *,
    resources: Resources | None = None,
    kind: Kind | None = None,
    model: str | None = None,
    features: Callable[..., Mapping[str, float]] | None = None,
    timeout: float | None = None,
    retries: int = 0,
    name: str | None = None,
    description: str | None = None,
    load: Callable[[], Any] | None = None,
) -> Callable[[F], F]: ...
def tool(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Declare a function as a Maze tool, bare (``@tool``) or with options (``@tool(...)``).

    Options, all keyword-only: ``resources`` (a :class:`Resources`; io tools reserve no CPU
    by default), ``kind`` (``"cpu"``, ``"gpu"`` or ``"io"``; inferred from resources),
    ``model`` (a model that must be resident), ``load`` (a function of no arguments that
    builds the model: each worker process calls it once and keeps the result, which the
    tool gets from :func:`maze_core.current_model`), ``features`` (arguments -> dict of
    numbers for the predictor), ``timeout`` (seconds), ``retries``, ``name``, ``description``.
    The function is returned unchanged and stays callable as plain Python.
    """

    def mark(function: F) -> F:
        function.__maze_tool__ = make_spec(function, **options)  # type: ignore[attr-defined]
        return function

    return mark if fn is None else mark(fn)


def spec_of(fn: Callable[..., Any] | ToolSpec) -> ToolSpec:
    """The spec of a tool (or the spec itself); a plain callable gets a default cpu spec
    (it is not modified)."""
    if isinstance(fn, ToolSpec):
        return fn
    spec = getattr(fn, "__maze_tool__", None)
    return spec if isinstance(spec, ToolSpec) else make_spec(fn)


class ToolRegistry:
    """Tools by unique name. Registering the same function twice is a no-op; registering
    another function under a taken name raises :class:`DuplicateToolError` naming both."""

    def __init__(self) -> None:
        self._tools: dict[str, ToolSpec] = {}

    def register(self, fn_or_spec: Callable[..., Any] | ToolSpec) -> ToolSpec:
        spec = fn_or_spec if isinstance(fn_or_spec, ToolSpec) else spec_of(fn_or_spec)
        taken = self._tools.get(spec.name)
        if taken is not None and taken.fn is not spec.fn:
            raise DuplicateToolError(
                f"tool name {spec.name!r} is taken by {taken.origin}; {spec.origin} wants it too",
                fix="give one of them another name: @tool(name=...)",
                culprit=spec.name,
            )
        self._tools[spec.name] = spec
        return spec

    def __getitem__(self, name: str) -> ToolSpec:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ValidationError(
                f"no tool named {name!r} is registered (known: {known})",
                fix="register it with registry.register(fn) or discover(module, registry)",
                culprit=name,
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


def discover(target: str | ModuleType, registry: ToolRegistry | None = None) -> ToolRegistry:
    """Register every ``@tool`` function of a module, or of a package and its submodules."""
    registry = ToolRegistry() if registry is None else registry
    module = importlib.import_module(target) if isinstance(target, str) else target
    modules = [module]
    if hasattr(module, "__path__"):
        prefix = module.__name__ + "."
        for info in pkgutil.walk_packages(module.__path__, prefix):
            modules.append(importlib.import_module(info.name))
    for mod in modules:
        for _, value in sorted(vars(mod).items()):
            if isinstance(getattr(value, "__maze_tool__", None), ToolSpec):
                registry.register(value)
    return registry
