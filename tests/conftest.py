from __future__ import annotations

import pytest

from maze_core import LocalRuntime

EXECUTORS = ("inline", "threads", "processes")


@pytest.fixture(params=EXECUTORS)
def runtime(request):
    """A fresh local runtime per test, once per executor, with 2 CPUs whatever the machine."""
    with LocalRuntime(request.param, cpus=2, autoload_plugins=False) as rt:
        yield rt


@pytest.fixture
def threads():
    with LocalRuntime("threads", cpus=2, autoload_plugins=False) as rt:
        yield rt
