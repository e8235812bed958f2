"""The plugin manager factory and Maze's built-in plugins.

Each runtime builds its own manager (there is no module-global one): built-ins first, then
the entry points of group ``maze`` (unless ``MAZE_DISABLE_PLUGIN_AUTOLOAD`` is set), then the
plugins the caller passes. ``check_pending()`` makes a misspelled ``maze_*`` hook fail loudly.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pluggy

from maze_core import hookspecs
from maze_core.graph import Task
from maze_core.hookspecs import hookimpl
from maze_core.tools import DEFAULT_SECONDS

__all__ = ["DEFAULT_SECONDS", "DefaultDurations", "PluginManager", "make_plugin_manager"]

AUTOLOAD_ENV = "MAZE_DISABLE_PLUGIN_AUTOLOAD"
log = logging.getLogger("maze")


class DefaultDurations:
    """Built-in predictor of last resort: a fixed guess per task kind."""

    def __init__(self, seconds: Mapping[str, float] = DEFAULT_SECONDS) -> None:
        self.seconds = dict(seconds)

    @hookimpl(trylast=True)
    def maze_predict_duration(self, task: Task, kind: str) -> float | None:
        return self.seconds.get(kind)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, plus :meth:`caller`: the run loop calls five hooks per task, and
    pluggy's dispatch (its argument checks, a copy of the implementations, its generic
    call loop: 2 to 5 µs a call) was a tenth of a no-op task's cost in Maze."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self._callers: dict[str, Callable[..., Any] | None] = {}

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        found = super().register(plugin, name)
        self._callers.clear()
        return found

    def unregister(self, plugin: Any | None = None, name: str | None = None) -> Any | None:
        found = super().unregister(plugin, name)
        self._callers.clear()
        return found

    def caller(self, name: str) -> Callable[..., Any] | None:
        """A function calling hook ``name`` (keyword arguments, every one the spec names)
        as pluggy would, or None when no plugin implements it; found again after a plugin
        comes or goes. Wrappers keep pluggy's own call."""
        try:
            return self._callers[name]
        except KeyError:
            found = self._callers[name] = _direct(getattr(self.hook, name))
            return found


def _direct(hook: pluggy.HookCaller) -> Callable[..., Any] | None:
    """``hook`` as one plain function: implementations in pluggy's order (the last
    registered first), each given the arguments it names; a ``firstresult`` hook returns
    the first answer that is not None, any other the list of them."""
    impls = hook.get_hookimpls()
    if not impls:
        return None
    if any(impl.hookwrapper or impl.wrapper or impl.kwargnames for impl in impls):
        return hook
    firstresult = bool(hook.spec and hook.spec.opts.get("firstresult"))
    calls = [(impl.function, impl.argnames) for impl in reversed(impls)]

    def call(**kwargs: Any) -> Any:
        results = []
        for function, names in calls:
            result = function(*[kwargs[name] for name in names])
            if result is not None:
                if firstresult:
                    return result
                results.append(result)
        return None if firstresult else results

    return call


@functools.cache
def _entry_points() -> tuple[Any, ...]:
    """The ``maze`` entry points, found once per process, when the first runtime is made:
    ``importlib.metadata`` and its scan of the installed packages cost ~70 ms, which
    ``import maze_core`` must not pay."""
    import importlib.metadata

    return tuple(importlib.metadata.entry_points(group=hookspecs.PROJECT))


def _load_entry_points(manager: PluginManager) -> None:
    """Register the plugins of the ``maze`` entry-point group. One that fails to load is
    skipped with a warning naming it: a broken plugin must not stop every runtime."""
    for entry in _entry_points():
        if manager.get_plugin(entry.name) is not None:
            continue
        try:
            plugin = entry.load()
        except Exception as exc:
            log.warning(
                "maze: plugin %r (%s) could not be loaded, skipped: %s",
                entry.name,
                entry.value,
                exc,
            )
            continue
        manager.register(plugin, name=entry.name)


def make_plugin_manager(
    plugins: Iterable[Any] = (),
    *,
    autoload: bool | None = None,
    builtins: Mapping[str, Any] | None = None,
) -> PluginManager:
    """A fresh manager: built-ins, entry points of group ``maze``, then ``plugins``.

    Registration order is precedence: a plugin registered later is called earlier, so
    entry points and the caller's plugins can answer before the built-ins (``builtins``
    are extra built-in plugins by name, such as the runtime's MaLearn).
    """
    manager = PluginManager()
    manager.add_hookspecs(hookspecs)
    manager.register(DefaultDurations(), name="maze.default_durations")
    for name, plugin in (builtins or {}).items():
        manager.register(plugin, name=name)
    if autoload is None:
        autoload = not os.environ.get(AUTOLOAD_ENV)
    if autoload:
        _load_entry_points(manager)
    for plugin in plugins:
        manager.register(plugin)
    manager.check_pending()
    return manager
