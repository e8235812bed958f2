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


@pytest.fixture(autouse=True, scope="session")
def _maze_home(tmp_path_factory):
    """Keep MaLearn's history out of the developer's ~/.maze during tests."""
    import os

    previous = os.environ.get("MAZE_HOME")
    os.environ["MAZE_HOME"] = str(tmp_path_factory.mktemp("maze-home"))
    yield
    if previous is None:
        os.environ.pop("MAZE_HOME", None)
    else:
        os.environ["MAZE_HOME"] = previous


@pytest.fixture(scope="session")
def ray_runtime():
    """One embedded local Ray for every single-node Ray test (started on first use)."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[dev]')")
    from maze_core.run.ray import RayRuntime

    runtime = RayRuntime(num_cpus=2, object_store_memory=200 * 2**20, autoload_plugins=False)
    yield runtime
    runtime.close()
