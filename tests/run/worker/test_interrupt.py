"""A call that is cancelled is cancelled in its worker process, as it would be in place."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from maze_core import LocalRuntime, Remote, Workflow, tool

HANG_GUARD_S = 60  # a call that never ends fails the test instead of hanging CI


@pytest.fixture(params=["processes", "threads"])
def one_worker(request):
    """One CPU, on a worker process or a thread of this process."""
    with LocalRuntime(request.param, cpus=1, autoload_plugins=False) as runtime:
        yield runtime


def noted_on_cancel(marker: str):
    """An async body that waits, and notes in ``marker`` that it was cancelled."""

    async def body() -> str:
        try:
            await asyncio.sleep(HANG_GUARD_S)
        except asyncio.CancelledError:
            Path(marker).write_text("cancelled")
            raise
        return "finished"

    return body


def test_a_cancelled_call_cancels_its_body_and_waits_for_its_way_out(one_worker, tmp_path):
    marker = tmp_path / "marker"
    remote = Remote(noted_on_cancel(str(marker)), name="waits", runtime=one_worker)

    async def main() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(remote.acall(), 0.5)
        assert marker.read_text() == "cancelled"  # done before the cancellation went on

    asyncio.run(main())


def test_a_body_cancelled_before_it_started_is_cancelled_at_its_first_await(one_worker, tmp_path):
    marker = tmp_path / "marker"
    remote = Remote(noted_on_cancel(str(marker)), name="waits", runtime=one_worker)

    async def main() -> None:
        call = asyncio.ensure_future(remote.acall())
        await asyncio.sleep(0)  # submitted, perhaps not yet running in the worker
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(main())
    assert marker.read_text() == "cancelled"


def test_the_worker_of_a_cancelled_call_is_free_for_the_next(one_worker, tmp_path):
    remote = Remote(noted_on_cancel(str(tmp_path / "marker")), name="waits", runtime=one_worker)
    quick = Remote(lambda: "next", name="quick", runtime=one_worker)

    async def main() -> str:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(remote.acall(), 0.3)
        return await asyncio.wait_for(quick.acall(), HANG_GUARD_S)

    assert asyncio.run(main()) == "next"


def test_a_body_that_swallows_the_cancellation_returns_its_value(one_worker):
    async def stubborn() -> str:
        try:
            await asyncio.sleep(HANG_GUARD_S)
        except asyncio.CancelledError:
            return "kept going"
        return "finished"

    remote = Remote(stubborn, name="stubborn", runtime=one_worker)

    async def main() -> str:
        call = asyncio.ensure_future(remote.acall())
        await asyncio.sleep(0.3)
        call.cancel()
        return await call

    assert asyncio.run(main()) == "kept going"  # as an asyncio task that does so


@tool
def never_returns(started: str) -> None:
    Path(started).write_text("started")
    while True:
        time.sleep(0.05)


@tool
def quick_one() -> str:
    return "ran"


def test_cancelling_a_run_stops_its_running_task_in_the_worker(one_worker, tmp_path):
    started = tmp_path / "started"
    stuck = Workflow("stuck")
    stuck.add(never_returns, str(started))
    handle = one_worker.submit(stuck.build())
    deadline = time.monotonic() + HANG_GUARD_S
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    handle.cancel()
    assert handle.result(HANG_GUARD_S).status == "cancelled"
    after = Workflow("after")
    ref = after.add(quick_one)
    assert one_worker.submit(after.build()).result(HANG_GUARD_S)[ref] == "ran"
