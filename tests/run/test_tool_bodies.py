"""What a tool's body may do, and what the caller then sees, on every executor: call
``sys.exit``, return what cannot travel, start processes of its own, be a coroutine run
through ``arun``."""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

from maze_core import LocalRuntime, SerializationError, TaskFailedError, Workflow, tool


@tool
def exits() -> None:
    sys.exit(3)


@tool
def returns_a_lock_in_a_dict() -> dict:
    return {"fine": 1, "lock": threading.Lock()}


@tool
def uses_a_process_pool() -> int:
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(2) as pool:
        return sum(pool.map(abs, [-1, -2, -3]))


@tool
async def awaits(x: int) -> int:
    await asyncio.sleep(0.01)
    return x + 1


def error_of(runtime: LocalRuntime, fn) -> BaseException | None:
    wf = Workflow(fn.__name__)
    ref = wf.add(fn)
    return wf.run(runtime).tasks[ref.task_id].error


def test_sys_exit_in_a_tool_is_its_failure_with_its_traceback(runtime):
    error = error_of(runtime, exits)
    assert isinstance(error, TaskFailedError)
    assert "raised SystemExit: 3" in str(error)
    assert "sys.exit(3)" in str(error)  # the tool's own frame, not "could not be run"


def test_a_result_that_cannot_travel_is_named_by_its_place(tmp_path):
    with LocalRuntime("processes", cpus=1, predictor=False, autoload_plugins=False) as runtime:
        error = error_of(runtime, returns_a_lock_in_a_dict)
    assert isinstance(error, SerializationError)
    assert "the result's item ['lock'] (lock)" in str(error)  # was "the result (Outcome)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks a pool")
def test_a_tool_may_start_a_process_pool_in_a_worker_process():
    with LocalRuntime("processes", cpus=1, predictor=False, autoload_plugins=False) as runtime:
        wf = Workflow("pool")
        ref = wf.add(uses_a_process_pool)
        assert (
            wf.run(runtime)[ref] == 6
        )  # was "daemonic processes are not allowed to have children"


def test_an_async_tool_runs_through_arun_on_every_executor(runtime):
    wf = Workflow("async")
    ref = wf.add(awaits, 1)

    async def main():
        return await wf.arun(runtime)

    assert (
        asyncio.run(main())[ref] == 2
    )  # inline: "asyncio.run() cannot be called from a running event loop"
