"""What a function captures, kept the same in its caller and in the worker that runs it.

A node or tool that changes what it closes over (``nonlocal count; count += 1``, a list it
appends to, a global dict, a fake model's cursor) changes the caller's objects when it runs
in place. In another process it changes the worker's copies, and the caller never sees it:
the answer differs silently. So a call that runs elsewhere carries the current values of
what its function captures (its *slots*: closure cells, the globals it reads, its default
arguments, the object of a bound method, a callable object's attributes), the worker puts
them in its copy before the body runs, and sends back the slots whose value the body
changed; the caller merges those into its own live objects, in place (a list stays the same
list), combining with changes made meanwhile by other calls (numbers add up, appended items
are all kept, dict keys and an object's attributes merge).

What is tracked: values that pickle to at most ``LIMIT`` bytes each, other than code
(functions, classes, modules), found in the function, the helper functions of its own
module it calls, and what they wrap, up to ``DEPTH`` levels. A larger captured object is
shipped once with the function and, if a body changes it, the change stays in the worker.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import os
import pickle
import types
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from maze_core.run.worker.wire import dumps

__all__ = ["LIMIT", "Captured", "Sent", "Tracking", "captured_values"]

LIMIT = 256 * 1024  # bytes a captured value may pickle to and still be kept in step
DEPTH = 4  # functions deep: the body, a helper it calls, what that helper wraps ...

_CODE = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    functools.partial,
    property,
    classmethod,
    staticmethod,
)
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME"})
_IMMUTABLE = (int, float, complex, str, bytes, tuple, frozenset, type(None))
Path = tuple[tuple[Any, ...], ...]  # steps from the function to a slot: ("c", 2), ("g", "x")


@dataclasses.dataclass(frozen=True, slots=True)
class Sent:
    """The captured values as one call carries them: where each slot is, and the values
    pickled together (so two slots holding one object hold one object in the worker)."""

    pid: int  # the caller's process: a worker there shares the objects themselves
    paths: tuple[Path, ...]
    data: bytes


class Captured:
    """The caller's side: the slots of ``fn``, their values for each call, and the merge
    of what a call changed back into the live objects."""

    __slots__ = ("fn", "paths")

    def __init__(self, fn: Any, paths: tuple[Path, ...]) -> None:
        self.fn = fn
        self.paths = paths

    @classmethod
    def of(cls, fn: Any) -> Captured | None:
        """The slots ``fn`` captures (None when it captures nothing a body could change)."""
        paths = tuple(path for path, value in _slots(fn) if _small(value))
        return cls(fn, paths) if paths else None

    def send(self) -> Sent | None:
        """This call's values (None when one no longer pickles: it then runs on what was
        shipped with the function, as a larger object does)."""
        try:
            data = _dumps(tuple(_read(self.fn, path) for path in self.paths))
        except Exception:
            return None
        return Sent(os.getpid(), self.paths, data)

    def take_back(self, sent: Sent, changes: bytes) -> None:
        """Merge the slots a call changed (``changes``, from :meth:`Tracking.changes`) into
        the live objects, with what other calls changed since ``sent``."""
        changed: dict[int, Any] = pickle.loads(changes)
        before = pickle.loads(sent.data)
        merged: set[int] = set()  # a live container two slots hold is merged once
        for index, new in changed.items():
            path = sent.paths[index]
            live = _read(self.fn, path)
            if id(live) in merged:
                continue
            value = _merge(live, before[index], new)
            if not isinstance(live, _IMMUTABLE):  # two counters at 0 hold one int object
                merged.add(id(live))
            if value is not live:
                _write(self.fn, path, value)


class Tracking:
    """The worker's side of one call: its copy of the function given the caller's values,
    then asked what the body changed."""

    __slots__ = ("fn", "sent", "values")

    def __init__(self, fn: Any, sent: Sent) -> None:
        self.fn = fn
        self.sent = sent
        self.values: tuple[Any, ...] = pickle.loads(sent.data)
        for path, value in zip(sent.paths, self.values, strict=True):
            _write(fn, path, value)

    @classmethod
    def start(cls, fn: Any, sent: Sent | None) -> Tracking | None:
        """Put the caller's values in ``fn`` (None when there are none, or when this is the
        caller's own process: then the body changes the caller's objects themselves)."""
        if sent is None or sent.pid == os.getpid():
            return None
        return cls(fn, sent)

    def changes(self) -> bytes | None:
        """The slots whose value the body changed, pickled (None: it changed none). A value
        that no longer pickles (a body that stored a lock in it) is left out."""
        current = tuple(_read(self.fn, path) for path in self.sent.paths)
        try:
            if _dumps(current) == self.sent.data:
                return None
        except Exception:
            pass
        before = pickle.loads(self.sent.data)
        changed = {}
        for index, (old, new) in enumerate(zip(before, current, strict=True)):
            try:
                if _dumps(new) != _dumps(old):
                    changed[index] = new
            except Exception:
                continue
        return _dumps(changed) if changed else None


def captured_values(fn: Any) -> Iterator[Any]:
    """Every value ``fn`` captures other than code, tracked or not (big ones too)."""
    return (value for _, value in _slots(fn))


def _slots(fn: Any) -> Iterator[tuple[Path, Any]]:
    """Each slot of ``fn`` with its value, in an order both sides of a call agree on."""
    module = getattr(fn, "__module__", None)
    seen: set[int] = set()

    def walk(obj: Any, path: Path, depth: int) -> Iterator[tuple[Path, Any]]:
        if id(obj) in seen or depth > DEPTH:
            return
        seen.add(id(obj))
        if isinstance(obj, types.MethodType):
            if _trackable(obj.__self__):
                yield (*path, ("s",)), obj.__self__
            yield from walk(obj.__func__, (*path, ("f",)), depth + 1)
        elif isinstance(obj, functools.partial):
            yield from walk(obj.func, (*path, ("f",)), depth + 1)
        elif isinstance(obj, types.FunctionType):
            yield from in_function(obj, path, depth)
        elif _plain_object(obj) and isinstance(type(obj).__call__, types.FunctionType):
            yield (*path, ("i",)), obj  # a callable object: its attributes, new ones too
            yield from walk(type(obj).__call__, (*path, ("k",)), depth + 1)
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None and not isinstance(obj, types.MethodType):
            yield from walk(wrapped, (*path, ("w",)), depth + 1)

    def in_function(fn: types.FunctionType, path: Path, depth: int) -> Iterator[tuple[Path, Any]]:
        found: list[tuple[Path, Any]] = []
        for name in sorted(_global_names(fn.__code__)):
            if name in fn.__globals__:
                found.append(((*path, ("g", name)), fn.__globals__[name]))
        for index, cell in enumerate(fn.__closure__ or ()):
            try:
                found.append(((*path, ("c", index)), cell.cell_contents))
            except ValueError:  # a cell not yet filled
                continue
        for index, default in enumerate(fn.__defaults__ or ()):  # def f(x, seen=[]), say
            found.append(((*path, ("d", index)), default))
        for name, default in sorted((fn.__kwdefaults__ or {}).items()):
            found.append(((*path, ("kw", name)), default))
        for slot_path, value in found:
            if isinstance(value, types.FunctionType):
                if value.__closure__ or value.__module__ == module:  # the user's helpers
                    yield from walk(value, slot_path, depth + 1)
            elif _trackable(value):
                yield slot_path, value

    yield from walk(fn, (), 0)


@functools.lru_cache(maxsize=4096)
def _global_names(code: types.CodeType) -> frozenset[str]:
    """The globals ``code`` reads or writes (``co_names`` also holds attribute names).
    Disassembling is slow (~0.4 ms a function), and a function is looked at again at
    every ``distribute()`` of its graph: cached per code object."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_OPS}
    for const in code.co_consts:  # nested functions and comprehensions
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return frozenset(names)


def _trackable(value: Any) -> bool:
    if isinstance(value, _CODE):
        return False
    return type(value).__module__ not in ("typing", "typing_extensions", "abc")


def _small(value: Any) -> bool:
    try:
        return len(_dumps(value)) <= LIMIT
    except Exception:
        return False


def _dumps(value: Any) -> bytes:
    """``value`` pickled the same way each time, as calls are (``wire.dumps``: the C
    pickler; cloudpickle for what only it can pickle, instances of classes defined in a
    function, and for what names ``__main__``, which a Ray worker does not have)."""
    return dumps(value)


def _step(obj: Any, step: tuple[Any, ...]) -> Any:
    kind = step[0]
    if kind == "g":
        return obj.__globals__[step[1]]
    if kind == "c":
        return obj.__closure__[step[1]].cell_contents
    if kind == "s":
        return obj.__self__
    if kind == "i":
        return obj
    if kind == "d":
        return obj.__defaults__[step[1]]
    if kind == "kw":
        return obj.__kwdefaults__[step[1]]
    if kind == "k":
        return type(obj).__call__
    if kind == "f":
        return obj.__func__ if isinstance(obj, types.MethodType) else obj.func
    return obj.__wrapped__


def _read(fn: Any, path: Path) -> Any:
    for step in path:
        fn = _step(fn, step)
    return fn


def _write(fn: Any, path: Path, value: Any) -> None:
    """Put ``value`` in the slot at ``path``: rebind a cell or global; a bound method's
    object, which cannot be rebound, takes ``value``'s state."""
    owner = _read(fn, path[:-1])
    kind, *key = path[-1]
    if kind == "g":
        owner.__globals__[key[0]] = value
    elif kind == "c":
        owner.__closure__[key[0]].cell_contents = value
    elif kind == "s":
        _replace(owner.__self__, value)
    elif kind == "i":
        _replace(owner, value)
    elif kind == "d":
        defaults = list(owner.__defaults__)
        defaults[key[0]] = value
        owner.__defaults__ = tuple(defaults)
    elif kind == "kw":
        owner.__kwdefaults__ = {**owner.__kwdefaults__, key[0]: value}


def _merge(live: Any, old: Any, new: Any) -> Any:
    """What the slot holds once a call changed ``old`` to ``new`` while the caller's value
    became ``live``: ``live`` itself, changed in place where it is a container or object,
    else the value to rebind the slot to. Code (a function, a class) is never taken back:
    the worker's is a copy of the caller's (by value, its globals cut to what it reads),
    so it can look changed without being, and in the caller it would read the wrong
    globals."""
    if isinstance(live, _CODE) and isinstance(new, _CODE):
        return live
    if _equal(live, old):
        return _replace(live, new)
    if _number(live) and _number(old) and _number(new):
        return live + (new - old)
    if _extends(new, old) and _extends(live, old):  # both appended: keep both
        live.extend(new[len(old) :])
        return live
    if isinstance(live, dict) and isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() - new.keys():
            live.pop(key, None)
        for key, value in new.items():
            if key not in old:
                live[key] = value
            elif not _equal(value, old[key]):
                live[key] = _merge(live[key], old[key], value) if key in live else value
        return live
    if isinstance(live, set) and isinstance(old, set) and isinstance(new, set):
        live |= new - old
        live -= old - new
        return live
    if _plain_object(live) and _same_class(old, live) and _same_class(new, live):
        return _merge_attributes(live, vars(old), vars(new))
    return _replace(live, new)


def _merge_attributes(live: Any, old: dict[str, Any], new: dict[str, Any]) -> Any:
    """Attribute by attribute, as a dict; one that shadowed a class attribute (``calls =
    0`` on the class, ``self.calls += 1``) changed from the class's value."""
    cls = type(live)
    defaults = {name: getattr(cls, name) for name in new.keys() - old.keys() if hasattr(cls, name)}
    _merge(live.__dict__, old | defaults, new)
    return live


def _replace(live: Any, new: Any) -> Any:
    """``live`` given ``new``'s contents in place where it can be (so whoever else holds
    it sees them), else ``new``."""
    if not _same_class(new, live) or isinstance(live, str | bytes | int | float | tuple):
        return new
    if isinstance(live, list | bytearray):
        live[:] = new
    elif isinstance(live, dict | set):
        live.clear()
        live.update(new)
    elif isinstance(live, deque):
        live.clear()
        live.extend(new)
    elif not _set_state(live, new):
        return new
    return live


def _set_state(live: Any, new: Any) -> bool:
    """Give object ``live`` the pickled state of ``new`` (as unpickling would)."""
    reduced = new.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    state = reduced[2] if isinstance(reduced, tuple) and len(reduced) > 2 else None
    if state is None:
        return False
    setstate: Callable[[Any], None] | None = getattr(live, "__setstate__", None)
    state = _keeping_code(live, state)
    if setstate is not None:
        setstate(state)
        return True
    attributes, slots = state if isinstance(state, tuple) else (state, None)
    if attributes is not None:
        live.__dict__.clear()
        live.__dict__.update(attributes)
    for name, value in (slots or {}).items():
        setattr(live, name, value)
    return True


def _keeping_code(live: Any, state: Any) -> Any:
    """``state`` (an object's pickled state: its attributes, a pydantic model's
    ``__dict__`` in it, or ``(attributes, slots)``) with ``live``'s own code where both hold
    code under one name (see :func:`_merge`)."""
    if isinstance(state, tuple) and len(state) == 2:
        return (_keeping_code(live, state[0]), _keeping_code(live, state[1]))
    if not isinstance(state, dict):
        return state
    kept = dict(state)
    for name, value in state.items():
        if name == "__dict__" and isinstance(value, dict):
            kept[name] = _keeping_code(live, value)
        elif isinstance(value, _CODE) and isinstance(name, str):
            mine = getattr(live, name, None)
            if isinstance(mine, _CODE):
                kept[name] = mine
    return kept


def _same_class(a: Any, b: Any) -> bool:
    """Whether ``a`` and ``b`` are of one class: the same object, or (a class defined in a
    function, made anew where another cloudpickle copy unpickled it: Ray's, which does not
    keep its qualified name) the same name in the same module."""
    cls, other = type(a), type(b)
    if cls is other:
        return True
    return (cls.__module__, cls.__name__) == (other.__module__, other.__name__)


def _plain_object(value: Any) -> bool:
    """An object whose state is its attributes (no pickling of its own to respect, no
    attribute magic: a mock or a proxy is not one)."""
    cls: Any = type(value)
    return (
        hasattr(value, "__dict__")
        and not isinstance(value, _CODE)
        and cls.__reduce_ex__ is object.__reduce_ex__
        and getattr(cls, "__setstate__", None) is None
        and getattr(cls, "__getattr__", None) is None
        and cls.__getattribute__ is object.__getattribute__
    )


def _extends(longer: Any, prefix: Any) -> bool:
    return isinstance(longer, list) and isinstance(prefix, list) and longer[: len(prefix)] == prefix


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    try:
        if a is b or bool(a == b):
            return True
    except Exception:
        pass
    try:
        return _dumps(a) == _dumps(b)
    except Exception:
        return False
