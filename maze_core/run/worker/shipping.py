"""Code shipping: a tool's code reaches workers that do not have the user's files.

A Ray worker unpickles a tool function by importing its module, which fails on a node
that has the Python environment but not the user's own files (a script's neighbour
module, a notebook's package on the driver's path). Such modules are pickled *by value*
instead (cloudpickle's ``register_pickle_by_value``, for the whole top-level package, so the
helpers and classes the tool uses travel with it); ``__main__`` is pickled by value anyway.
A module is taken to be importable everywhere when it is in the standard library, in an
installed distribution, or in a folder the environment puts on the path (site-packages,
editable installs' ``.pth`` folders): Ray requires the same environment on every node, and
shipping installed libraries would be slow and wrong (C extensions).

What ships is checked once per tool, before a run starts: code and captured globals over
the size limit, or something that cannot be pickled at all, is a SerializationError naming
the tool and the global to blame.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import inspect
import pickle
import site
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from maze_core.errors import SerializationError


class Pickler(Protocol):
    """What shipping needs of cloudpickle (the module, Ray's copy of it, or
    :data:`maze_core.run.worker.wire.BY_VALUE`)."""

    def dumps(self, obj: Any, /) -> bytes: ...

    def list_registry_pickle_by_value(self) -> Any: ...

    def register_pickle_by_value(self, module: Any, /) -> None: ...


__all__ = ["Pickler", "Shipped", "check_shippable", "pickled", "ship_by_value", "shipped_once"]


@functools.cache
def _installed_packages() -> frozenset[str]:
    import importlib.metadata  # ~70 ms: only when something is first shipped

    return frozenset(importlib.metadata.packages_distributions())


@functools.cache
def _environment_paths() -> tuple[str, ...]:
    """Where the environment's packages live: site-packages, and the folders its ``.pth``
    files add (editable installs, whose packages distributions do not list)."""
    paths = [*site.getsitepackages(), site.getusersitepackages()]
    for folder in list(paths):
        for pth in sorted(Path(folder).glob("*.pth")) if Path(folder).is_dir() else ():
            with contextlib.suppress(OSError, UnicodeDecodeError):
                for line in pth.read_text().splitlines():
                    if line and not line.startswith(("#", "import")) and Path(line).is_dir():
                        paths.append(str(Path(line).resolve()))
    return tuple(str(Path(path).resolve()) for path in paths)


MAZE_PACKAGES = frozenset({"maze_core", "maze_langgraph", "maze_langchain", "maze_otel"})
"""Maze's own packages, one distribution: a worker runs Maze, so it has them all (shipped by
value, an adapter's module-level state, a ContextVar, would not even pickle)."""


def _importable_everywhere(package: str) -> bool:
    if package in sys.stdlib_module_names or package in MAZE_PACKAGES:
        return True
    if package in _installed_packages():
        return True
    module = sys.modules.get(package)
    origin = getattr(module, "__file__", None)
    if origin is None:
        return False
    # the folder that must be on the path to import it: a package's parent, a module's own
    here = Path(origin).resolve().parent
    root = str(here.parent if hasattr(module, "__path__") else here)
    return root in _environment_paths()


def ship_by_value(fn: Callable[..., Any], pickler: Pickler) -> str | None:
    """Make ``pickler`` pickle ``fn``'s package by value if workers may lack it; return the
    package registered (None when it is importable everywhere, or is ``__main__``)."""
    module_name = getattr(fn, "__module__", None) or "__main__"
    package = module_name.partition(".")[0]
    if package == "__main__" or _importable_everywhere(package):
        return None
    module = sys.modules.get(package)
    if module is None:  # defined under a name that was never imported: nothing to register
        return None
    pickler.register_pickle_by_value(module)
    return package


class Shipped:
    """A function that travels by value, pickled once here and unpickled once per worker
    process (then taken from that process's cache), instead of both on every call.

    Adapters send the function a node, task or tool call runs inside every call; by value,
    cloudpickle rebuilt its code on both sides each time (~0.3 ms a call on Ray), and on
    local processes a call naming ``__main__`` is pickled by cloudpickle instead of the C
    pickler (see ``wire.dumps``). Like a Ray remote function, it is captured when
    shipped: a later change to a global it reads is not seen by workers. Here (the driver)
    it calls through to the function.

    The pickled function is kept in base64, whose alphabet has no ``_``: a pickle that holds
    it then cannot spell ``__main__`` (which ``wire.dumps`` looks for to choose cloudpickle).
    (zlib did the same, ~50x slower: 58 µs a node function at every ``distribute()``.)"""

    __slots__ = ("__weakref__", "data", "fn", "key")

    def __init__(self, fn: Callable[..., Any], pickler: Pickler, data: bytes | None = None) -> None:
        """``data``: ``fn`` pickled by ``pickler`` already (a check that it travels did)."""
        self.fn = fn
        self.data: bytes = base64.b64encode(pickler.dumps(fn) if data is None else data)
        self.key = hashlib.blake2b(self.data, digest_size=16).digest()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unshipped, (self.key, self.data))


_CACHED = 256  # functions a worker process keeps
_cache: OrderedDict[bytes, Any] = OrderedDict()
_cache_lock = threading.Lock()


def _unshipped(key: bytes, data: bytes) -> Any:
    """Worker side of :class:`Shipped`: the function, unpickled on first sight only."""
    with _cache_lock:
        fn = _cache.get(key)
        if fn is not None:
            _cache.move_to_end(key)
            return fn
    fn = pickle.loads(base64.b64decode(data))
    with _cache_lock:
        _cache[key] = fn
        while len(_cache) > _CACHED:
            _cache.popitem(last=False)
    return fn


def shipped_once(fn: Any, pickler: Pickler, data: bytes | None = None) -> Any:
    """``fn`` as a :class:`Shipped` when it is a function that would travel by value (its
    code is in ``__main__``, a module registered by value, or a closure); ``fn`` itself
    otherwise (by reference it costs little, and objects keep their state per call).
    ``data``: ``fn`` pickled by ``pickler`` already."""
    if not inspect.isfunction(fn):
        return fn
    module = getattr(fn, "__module__", None) or "__main__"
    by_value = module.partition(".")[0] in pickler.list_registry_pickle_by_value()
    if not by_value and module != "__main__":
        try:
            pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            by_value = True  # a lambda, a closure: only cloudpickle's by-value code can
    return Shipped(fn, pickler, data) if by_value or module == "__main__" else fn


def pickled(fn: Callable[..., Any], pickler: Pickler, subject: str, fix: str) -> bytes:
    """``fn`` pickled; a SerializationError saying ``subject`` (who cannot go where) and
    naming the captured object to blame when it cannot be pickled."""
    try:
        data: bytes = pickler.dumps(fn)
    except Exception as exc:
        culprit = unpicklable_global(fn, pickler)
        what = f"the object {culprit!r} it uses" if culprit else "its code"
        raise SerializationError(
            f"{subject}: {what} cannot be pickled ({type(exc).__name__}: {exc})",
            fix=fix,
            culprit=culprit or subject,
        ) from None
    return data


def check_shippable(tool_name: str, fn: Callable[..., Any], pickler: Pickler, limit: int) -> bytes:
    """``fn`` pickled as workers will receive it; a SerializationError naming the tool and
    the global to blame when it cannot be pickled or exceeds ``limit`` bytes."""
    data = pickled(
        fn,
        pickler,
        f"tool {tool_name!r} cannot be shipped to Ray workers",
        fix="create such objects inside the tool (or in a model loader) instead of"
        " capturing them from the defining module",
    )
    size = len(data)
    if size > limit:
        biggest = _biggest_global(fn, pickler)
        blame = f"; the largest part is the global {biggest!r}" if biggest else ""
        raise SerializationError(
            f"tool {tool_name!r} pickles to {size / 2**20:.1f} MiB with what it captures,"
            f" over the {limit / 2**20:.1f} MiB limit for shipping code to workers{blame}",
            fix="load big data inside the tool (from a file, or pass it as an input so it"
            " goes through the object store), or raise RayRuntime(ship_limit=...)",
            culprit=biggest or tool_name,
        )
    return data


def _captured(fn: Callable[..., Any]) -> dict[str, Any]:
    """The globals and closure variables ``fn`` refers to, by name."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return {}
    names = set(code.co_names)
    for const in code.co_consts:  # names used by nested functions and comprehensions
        names.update(getattr(const, "co_names", ()))
    module_globals = getattr(fn, "__globals__", {})
    found = {name: module_globals[name] for name in names if name in module_globals}
    cells = getattr(fn, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            found[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    return found


def unpicklable_global(fn: Callable[..., Any], pickler: Pickler) -> str | None:
    """The first object ``fn`` captures that cannot be pickled, by name (None: none)."""
    return next((name for name, size in _global_sizes(fn, pickler).items() if size is None), None)


def _biggest_global(fn: Callable[..., Any], pickler: Pickler) -> str | None:
    sizes = {name: size for name, size in _global_sizes(fn, pickler).items() if size is not None}
    return max(sizes, key=sizes.__getitem__) if sizes else None


def _global_sizes(fn: Callable[..., Any], pickler: Pickler) -> dict[str, int | None]:
    """Pickled bytes of each object ``fn`` captures (None where it cannot be pickled)."""
    sizes: dict[str, int | None] = {}
    for name, value in _captured(fn).items():
        try:
            sizes[name] = len(pickler.dumps(value))
        except Exception:
            sizes[name] = None
    return sizes
