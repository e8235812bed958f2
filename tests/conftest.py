from __future__ import annotations

import sys
import textwrap

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


USER_PACKAGE = {
    "__init__.py": "",
    "helpers.py": "FACTOR = 3\n\ndef scale(x):\n    return x * FACTOR\n",
    "tools.py": textwrap.dedent("""
        import threading
        from maze_core import tool
        from {package}.helpers import scale

        LOCK = threading.Lock()
        BIG = b"x" * 3_000_000

        @tool
        def triple(x: int) -> int:
            return scale(x)

        @tool
        def locked(x: int) -> int:
            with LOCK:
                return x

        @tool
        def heavy(x: int) -> int:
            return x + len(BIG)

        class Point:
            def __init__(self, x):
                self.x = x

        @tool
        def point(x: int) -> Point:
            return Point(x)
    """),
    "graphs.py": textwrap.dedent("""
        from typing import TypedDict
        from langgraph.func import entrypoint, task
        from langgraph.graph import START, StateGraph
        from {package}.helpers import scale

        class State(TypedDict):
            x: int

        def tripled(state: State) -> dict:
            return {{"x": scale(state["x"])}}

        def graph():
            builder = StateGraph(State)
            builder.add_node("tripled", tripled)
            builder.add_edge(START, "tripled")
            return builder.compile()

        @task
        def triple_task(x: int) -> int:
            return scale(x)

        @entrypoint()
        def workflow(x: int) -> int:
            return triple_task(x).result() + 1
    """),
}


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    """A package on the driver's path only, as a script's neighbour module would be; yields
    its ``tools`` module (``graphs`` holds a LangGraph graph and entrypoint)."""
    name = f"userpkg_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / "src" / name
    root.mkdir(parents=True)
    for file, text in USER_PACKAGE.items():
        (root / file).write_text(text.format(package=name))
    monkeypatch.syspath_prepend(str(root.parent))
    yield __import__(f"{name}.tools").tools
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]
