from __future__ import annotations

import pytest

from maze_core import LocalRuntime
from maze_core.predict.kinds import KindLearner


@pytest.fixture(scope="module")
def processes():
    """A local process runtime with 2 CPUs, one per test module."""
    with LocalRuntime("processes", cpus=2, autoload_plugins=False) as runtime:
        yield runtime


@pytest.fixture(autouse=True)
def _calls_compute(request, monkeypatch):
    """Adapter tests specify the worker path: every call of an undeclared node or tool
    counts as learned computing, so it runs in a worker. Tests of where calls run (marked
    ``placement``) see the runtime's learner as it is."""
    if request.node.get_closest_marker("placement") is None:
        monkeypatch.setattr(KindLearner, "kind", lambda self, name: "cpu")
