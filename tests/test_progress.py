"""The live view: workflows, tasks by kind and state, running tasks by node."""

from __future__ import annotations

import io

from rich.console import Console

from maze_core import LocalRuntime, Workflow, tool
from maze_core.progress import Progress


@tool
def double(x: int) -> int:
    return 2 * x


@tool(kind="io")
def fetch(x: int) -> int:
    return x


def two_kinds(n: int) -> Workflow:
    wf = Workflow("two-kinds")
    for i in range(n):
        wf.add(double, wf.add(fetch, i))
    return wf


def test_progress_counts_every_task_and_workflow_until_the_end():
    progress = Progress()
    with LocalRuntime("threads", cpus=2, plugins=[progress], autoload_plugins=False) as runtime:
        handles = [runtime.submit(two_kinds(3)) for _ in range(2)]
        assert all(h.result(timeout=30).ok for h in handles)
    counts = progress.counts()
    assert counts["cpu", "done"] == counts["io", "done"] == 6
    assert not any(n for (_, state), n in counts.items() if state != "done")
    assert sorted(progress.runs.values()) == ["done", "done"]
    assert sum(progress.nodes.values()) == 0  # nothing left running
    out = io.StringIO()
    Console(file=out, force_terminal=True, width=120, highlight=False).print(progress.table())
    text = out.getvalue()
    assert "Maze tasks" in text
    assert "workflows: 2 done" in text


def test_progress_can_follow_one_run_of_a_shared_runtime():
    progress = Progress(only=set())
    with LocalRuntime("threads", cpus=2, plugins=[progress], autoload_plugins=False) as runtime:
        other = runtime.submit(two_kinds(4))
        mine = runtime.submit(two_kinds(1))
        progress.only = {mine.run_id}
        mine.result(timeout=30), other.result(timeout=30)
    assert progress.counts()["cpu", "done"] == 1


def test_wf_run_with_progress_returns_the_result_and_leaves_no_plugin_behind():
    with LocalRuntime("threads", cpus=2, autoload_plugins=False) as runtime:
        before = len(runtime.plugins.get_plugins())
        result = two_kinds(2).run(runtime, progress=True)
        assert result.ok
        assert len(runtime.plugins.get_plugins()) == before
