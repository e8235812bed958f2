"""The public surface: exports, import cost, hooks documented."""

from __future__ import annotations

import inspect
import subprocess
import sys

import maze_core
from maze_core import hookspecs
from maze_core.plugins import make_plugin_manager


def test_all_is_sorted_and_every_name_exists():
    assert maze_core.__all__ == sorted(maze_core.__all__)
    for name in maze_core.__all__:
        assert hasattr(maze_core, name), name


def test_importing_maze_core_pulls_in_no_heavy_framework():
    code = (
        "import sys, maze_core; "
        "heavy = {'ray', 'langgraph', 'langchain', 'langchain_core', 'xgboost', 'river', 'torch',"
        " 'asyncio'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_hook_is_documented_with_when_and_where_it_runs():
    hooks = [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("maze_")]
    assert len(hooks) >= 5
    for hook in hooks:
        doc = inspect.getdoc(hook) or ""
        assert len(doc) > 80, hook.__name__
        assert "driver" in doc, f"{hook.__name__} must say where it runs"
        assert "Called" in doc, f"{hook.__name__} must say when it runs"


def test_firstresult_hooks_say_so():
    manager = make_plugin_manager(autoload=False)
    for name in dir(hookspecs):
        if not name.startswith("maze_"):
            continue
        opts = getattr(manager.hook, name).spec.opts
        doc = " ".join((inspect.getdoc(getattr(hookspecs, name)) or "").split())
        assert opts["firstresult"] == ("stops at the first non-None result" in doc), name


def test_every_manager_is_fresh():
    assert make_plugin_manager(autoload=False) is not make_plugin_manager(autoload=False)


def test_a_misspelled_hook_fails_loudly():
    import pytest
    from pluggy import PluginValidationError

    class Typo:
        @maze_core.hookimpl
        def maze_task_transitoin(self):
            pass

    with pytest.raises(PluginValidationError):
        make_plugin_manager([Typo()], autoload=False)
