"""Calls to a rate-limited provider: never more at once than its limit, and a 429 gives
the unit back while the call waits to try again."""

from __future__ import annotations

import threading
import time

import pytest

from maze_core import LocalRuntime, MazeError, Remote, ValidationError
from maze_core.run import providers
from maze_core.run.providers import backoff, overloaded


def unused(x: int) -> int:
    return x


class Status(Exception):
    def __init__(self, status_code: int, headers: dict | None = None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        self.response = type("Response", (), {"headers": headers or {}, "status_code": 0})()


class RateLimitError(Exception):
    """As an SDK names it."""


def test_overload_is_told_by_status_or_class():
    assert overloaded(Status(429))
    assert overloaded(Status(529))
    assert overloaded(RateLimitError("slow down"))
    assert not overloaded(Status(400))
    assert not overloaded(ValueError("429"))


def test_backoff_follows_retry_after_else_doubles():
    assert backoff(Status(429, {"retry-after": "3"}), 1) == 3.0
    assert 0.25 <= backoff(Status(429), 1) <= 0.5
    assert 1.0 <= backoff(Status(429), 3) <= 2.0


class Meter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.order: list[str] = []

    def call(self, name: str, seconds: float) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(name)
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
        return name


def test_a_limit_of_two_is_never_exceeded_by_twenty_callers():
    meter = Meter()
    with LocalRuntime("threads", cpus=1, limits={"api": 2}, autoload_plugins=False) as runtime:
        remote = Remote(unused, name="chat", runtime=runtime, provider="api")
        threads = [
            threading.Thread(target=remote.here, args=(lambda i=i: meter.call(f"c{i}", 0.05),))
            for i in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert meter.peak == 2
    assert len(meter.order) == 20


def test_a_429_gives_the_unit_back_while_the_call_waits(monkeypatch):
    monkeypatch.setattr(providers, "FIRST_WAIT_S", 0.3)
    meter = Meter()
    refused = []

    def first() -> str:
        meter.call("first", 0.0)
        if not refused:
            refused.append(True)
            raise Status(429)
        return "first done"

    with LocalRuntime("threads", cpus=1, limits={"api": 1}, autoload_plugins=False) as runtime:
        remote = Remote(unused, name="chat", runtime=runtime, provider="api")
        waiting = threading.Thread(target=lambda: refused.append(remote.here(first)))
        waiting.start()
        time.sleep(0.05)  # first was refused and is backing off, its unit free
        assert remote.here(lambda: meter.call("second", 0.0)) == "second"
        waiting.join()
    assert meter.order == ["first", "second", "first"]
    assert refused[-1] == "first done"


def test_other_errors_are_not_retried():
    with LocalRuntime("threads", cpus=1, limits={"api": 1}, autoload_plugins=False) as runtime:
        remote = Remote(unused, name="chat", runtime=runtime, provider="api")
        calls = []

        def bad() -> None:
            calls.append(1)
            raise Status(400)

        with pytest.raises(Status):
            remote.here(bad)
    assert calls == [1]


def test_a_provider_without_a_limit_is_named():
    with LocalRuntime("threads", cpus=1, autoload_plugins=False) as runtime:
        remote = Remote(unused, name="chat", runtime=runtime, provider="openai")
        with pytest.raises(MazeError, match="openai"):
            remote.here(lambda: None)


def test_limits_are_positive_counts():
    with pytest.raises(ValidationError, match="positive whole number"):
        LocalRuntime("threads", limits={"api": 0})
