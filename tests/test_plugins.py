"""Entry-point plugins: loaded into every runtime; a broken one never stops a runtime."""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys

from maze_core import LocalRuntime, hookimpl, plugins
from maze_core.plugins import make_plugin_manager


def test_a_plugin_that_fails_to_load_is_skipped_with_a_warning(monkeypatch, caplog):
    broken = importlib.metadata.EntryPoint("broken", "no_such_module:PLUGIN", "maze")
    real = importlib.metadata.entry_points
    monkeypatch.setattr(
        importlib.metadata,
        "entry_points",
        lambda **kw: [broken, *real(**kw)] if kw.get("group") == "maze" else real(**kw),
    )
    plugins._entry_points.cache_clear()  # found once per process: find them again
    monkeypatch.setattr(plugins, "_entry_points", plugins._entry_points.__wrapped__)
    with caplog.at_level(logging.WARNING, logger="maze"):
        manager = make_plugin_manager(autoload=True)
    assert manager.get_plugin("broken") is None
    assert "plugin 'broken' (no_such_module:PLUGIN) could not be loaded" in caplog.text


def test_runtimes_start_without_opentelemetry_installed():
    code = (
        "import sys; sys.modules['opentelemetry'] = None\n"
        "from maze_core import LocalRuntime, Workflow\n"
        "wf = Workflow('w'); wf.add(abs, -3)\n"
        "with LocalRuntime('inline') as rt: print(rt.submit(wf).result()['abs'])\n"
        "try:\n    from maze_otel import MazeTracing\n"
        "except ImportError as e:\n    print(type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["3", "MissingDependencyError"], out.stderr[-2000:]


def test_the_entry_point_plugins_are_in_every_autoloading_runtime():
    with LocalRuntime("inline") as runtime:
        assert runtime.plugins.get_plugin("otel") is not None


class First:
    @hookimpl
    def maze_predict_duration(self, task):
        return None


class Second:
    @hookimpl(tryfirst=True)
    def maze_predict_duration(self, kind):
        return {"cpu": 2.0}.get(kind)


class Watcher:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @hookimpl
    def maze_task_transition(self, new):
        self.seen.append(new)


def test_a_hook_called_directly_answers_as_pluggy_does():
    manager = make_plugin_manager([First(), Second()], autoload=False)
    direct = manager.caller("maze_predict_duration")
    for kind in ("cpu", "io"):
        given = {"task": None, "kind": kind, "features": {}}
        assert direct(**given) == manager.hook.maze_predict_duration(**given)
    assert direct(task=None, kind="io", features={}) == 0.5  # the built-in defaults last


def test_a_hook_called_directly_follows_plugins_as_they_come_and_go():
    manager = make_plugin_manager(autoload=False)
    assert manager.caller("maze_task_transition") is None
    watcher = Watcher()
    manager.register(watcher)
    call = {"run_id": 1, "task": None, "old": "", "new": "ready", "time": 0.0}
    manager.caller("maze_task_transition")(**call, attempt=0, node=None, error=None)
    assert watcher.seen == ["ready"]
    manager.unregister(watcher)
    assert manager.caller("maze_task_transition") is None
