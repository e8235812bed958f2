from __future__ import annotations

import pytest

from maze_core import LocalRuntime


@pytest.fixture(scope="module")
def processes():
    """A local process runtime with 2 CPUs, one per test module."""
    with LocalRuntime("processes", cpus=2, autoload_plugins=False) as runtime:
        yield runtime
