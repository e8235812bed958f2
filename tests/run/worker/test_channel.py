"""A live channel between a call and its caller: events up as they happen, requests down."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from maze_core import LocalRuntime, Remote
from maze_core.run.worker import channel


class Recorder:
    """The caller's end: records events (with when they came), answers by doubling."""

    def __init__(self, seen_at: Path | None = None) -> None:
        self.events: list[object] = []
        self.seen_at = seen_at

    def event(self, message: object) -> None:
        self.events.append(message)
        if self.seen_at is not None:
            self.seen_at.write_text("seen")

    def serve(self, request: object) -> object:
        if request == "boom":
            raise KeyError("no such thing")
        return (request, os.getpid())


def talk(n: int, marker: str) -> list:
    """Sends n events, asks twice, then waits (up to 10 s) until the caller saw the first."""
    link = channel.link()
    assert link is not None
    for i in range(n):
        link.emit(("step", i))
    answers = [link.ask(n), link.ask(n + 1)]
    deadline = time.monotonic() + 10
    while not Path(marker).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return [answers, Path(marker).exists(), os.getpid()]


def ask_boom() -> None:
    link = channel.link()
    assert link is not None
    link.ask("boom")


@pytest.fixture(params=["processes", "threads", "ray"])
def runtime(request):
    if request.param == "ray":
        yield request.getfixturevalue("ray_runtime")
        return
    with LocalRuntime(request.param, cpus=1, autoload_plugins=False) as runtime:
        yield runtime


def test_events_arrive_in_order_while_the_call_runs_and_requests_are_answered(runtime, tmp_path):
    marker = tmp_path / "seen"
    recorder = Recorder(seen_at=marker)
    remote = Remote(talk, name="talk", runtime=runtime)
    answers, saw_it_live, pid = remote.call((5, str(marker)), handler=recorder)
    assert recorder.events == [("step", i) for i in range(5)]
    assert saw_it_live  # the caller had the events before the call ended
    assert answers == [(5, os.getpid()), (6, os.getpid())]  # served by the caller
    if getattr(runtime, "executor_name", "ray") != "threads":
        assert pid != os.getpid()


def test_a_request_the_caller_fails_raises_in_the_body_with_its_type(runtime):
    remote = Remote(ask_boom, name="ask_boom", runtime=runtime)
    with pytest.raises(KeyError, match="no such thing"):
        remote.call(handler=Recorder())


def test_a_call_without_a_handler_has_no_link(runtime):
    remote = Remote(channel.link, name="no_link", runtime=runtime)
    assert remote.call() is None


def test_an_async_caller_gets_the_events_too(runtime, tmp_path):
    import asyncio

    marker = tmp_path / "seen"
    recorder = Recorder(seen_at=marker)
    remote = Remote(talk, name="talk", runtime=runtime)
    answers, saw_it_live, _ = asyncio.run(remote.acall((3, str(marker)), handler=recorder))
    assert recorder.events == [("step", i) for i in range(3)]
    assert saw_it_live
    assert answers == [(3, os.getpid()), (4, os.getpid())]


def test_events_of_many_threads_of_one_body_all_arrive(runtime):
    def chatty() -> int:
        link = channel.link()
        assert link is not None
        threads = [
            threading.Thread(target=lambda t=t: [link.emit((t, i)) for i in range(50)])
            for t in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return 200

    recorder = Recorder()
    assert Remote(chatty, name="chatty", runtime=runtime).call(handler=recorder) == 200
    assert sorted(recorder.events) == sorted((t, i) for t in range(4) for i in range(50))
    for t in range(4):  # each thread's own events in order
        assert [i for (u, i) in recorder.events if u == t] == list(range(50))
