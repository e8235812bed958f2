"""Many concurrent workflows: all complete with the right answers, and the driver does not
leak (a second wave leaves its memory where the first did). CI runs 200 workflows a wave;
``pytest -m soak`` runs 1,000, also on Ray."""

from __future__ import annotations

import pytest

from maze_core import LocalRuntime
from tests.reliability.load import wave

MiB = 2**20


def waves(runtime, workflows: int):
    first = wave(runtime, workflows)
    second = wave(runtime, workflows, first_seed=workflows)
    third = wave(runtime, workflows, first_seed=2 * workflows)
    return first, second, third


def assert_complete_and_flat(first, second, third, workflows: int) -> None:
    for done in (first, second, third):
        assert done.completed == workflows
        assert done.wrong == 0
    if first.rss_after:  # after a warm-up wave, more waves must not keep growing the driver
        assert third.rss_after - second.rss_after < 32 * MiB, (second, third)


@pytest.mark.timeout(300)
def test_two_hundred_concurrent_workflows_a_wave_locally():
    with LocalRuntime("threads", cpus=2, autoload_plugins=False) as runtime:
        assert_complete_and_flat(*waves(runtime, 200), 200)
        assert runtime.scheduler.active_runs == 0
        runtime.scheduler.check_invariants()


@pytest.mark.soak
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("where", ["threads", "ray"])
def test_a_thousand_concurrent_workflows_a_wave(where):
    if where == "ray":
        pytest.importorskip("ray", reason="ray is not installed")
        from maze_core.run.ray import RayRuntime

        runtime = RayRuntime(num_cpus=2, autoload_plugins=False)
    else:
        runtime = LocalRuntime("threads", cpus=2, autoload_plugins=False)
    with runtime:
        assert_complete_and_flat(*waves(runtime, 1000), 1000)
        runtime.scheduler.check_invariants()
