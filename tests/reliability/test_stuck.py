"""Calls that never return: past their timeout they are abandoned, and the runtime keeps
running everything else (a thread cannot be stopped, so its pool replaces it)."""

from __future__ import annotations

import threading

import pytest

from maze_core import LocalRuntime, TaskTimeoutError, Workflow, tool

pytestmark = pytest.mark.timeout(120)

RELEASE = threading.Event()


@tool(timeout=0.2)
def never_returns_in_time() -> None:
    RELEASE.wait(60)


@tool
def quick() -> int:
    return 1


def test_threads_stuck_past_their_timeout_do_not_starve_later_tasks(caplog):
    with LocalRuntime("threads", cpus=2, predictor=False, autoload_plugins=False) as runtime:
        stuck = []
        for index in range(40):  # more than the pool's 32 threads
            wf = Workflow(f"stuck-{index}")
            stuck.append((wf.add(never_returns_in_time), runtime.submit(wf)))
        for ref, handle in stuck:
            assert isinstance(handle.result(timeout=60).tasks[ref.task_id].error, TaskTimeoutError)
        later = Workflow("later")
        ref = later.add(quick)
        assert runtime.submit(later).result(timeout=60)[ref] == 1
        RELEASE.set()
    assert "still running after its timeout" in caplog.text
