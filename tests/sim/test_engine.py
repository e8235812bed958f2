"""The simulator drives the real scheduler deterministically and measures what happened."""

from __future__ import annotations

import itertools
import json

import pytest
from typer.testing import CliRunner

from maze_core.cli import app
from maze_core.errors import ValidationError
from maze_core.schedule import POLICIES
from maze_core.sim.engine import ClusterSpec, SimConfig, arrivals, compare, simulate
from maze_core.sim.trace import load_derived

DATA = load_derived()
SMALL = SimConfig(workload="batched", batch=12, cluster=ClusterSpec(nodes=3))


def test_a_seed_gives_the_same_result_twice():
    first = simulate(DATA, SMALL).summary()
    second = simulate(DATA, SMALL).summary()
    first.pop("decision_us_median")
    second.pop("decision_us_median")
    assert first == second


def test_other_seeds_give_other_workloads():
    assert arrivals(DATA, SMALL) != arrivals(DATA, SimConfig(workload="batched", batch=12, seed=1))


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_policy_completes_the_identical_workload(policy):
    from dataclasses import replace

    result = simulate(DATA, replace(SMALL, policy=policy))
    assert result.workflows == 12
    expected_tasks = sum(len(DATA.templates[t].tasks) for _, t in arrivals(DATA, SMALL))
    assert result.tasks == expected_tasks
    assert all(r > 0 for r in result.response_s)


def test_tasks_respect_dependencies_and_gpu_capacity():
    result = simulate(DATA, SMALL)
    ends = {(s.run, s.task): s.end for s in result.timeline}
    starts = {(s.run, s.task): s.start for s in result.timeline}
    for index, (_, template) in enumerate(arrivals(DATA, SMALL)):
        for src, dst in DATA.templates[template].edges:
            assert starts[index, dst] >= ends[index, src] - 1e-9
    gpu_tasks = {(t.name) for tpl in DATA.templates.values() for t in tpl.tasks if t.kind == "gpu"}
    by_node: dict[str, list[tuple[float, float]]] = {}
    for s in result.timeline:
        if s.task in gpu_tasks:
            by_node.setdefault(s.node, []).append((s.start, s.end))
    for intervals in by_node.values():  # one GPU per node: never two GPU tasks at once
        intervals.sort()
        assert all(b[0] >= a[1] - 1e-9 for a, b in itertools.pairwise(intervals))


def test_agent_level_runs_each_workflow_on_one_node_one_task_at_a_time():
    from dataclasses import replace

    result = simulate(DATA, replace(SMALL, policy="agent-level"))
    per_run: dict[int, list[tuple[float, float, str]]] = {}
    for s in result.timeline:
        per_run.setdefault(s.run, []).append((s.start, s.end, s.node))
    for spans in per_run.values():
        spans.sort()
        assert len({node for _, _, node in spans}) == 1
        assert all(b[0] >= a[1] - 1e-9 for a, b in itertools.pairwise(spans))


def test_exp1_replays_the_published_phases():
    times = [t for t, _ in arrivals(DATA, SimConfig(workload="exp1", load=1.0))]
    assert 35 < len(times) < 90  # ~3000 s at 1/45 req/s times the phase factors
    assert max(times) < 3000


def test_unknown_workloads_and_predictors_are_named():
    with pytest.raises(ValidationError, match="exp1, batched or replay"):
        arrivals(DATA, SimConfig(workload="nope"))
    with pytest.raises(ValidationError, match="oracle"):
        simulate(DATA, SimConfig(workload="batched", batch=1, predictor="psychic"))


def test_compare_returns_the_published_json_keys():
    results = compare(DATA, SMALL, ["fcfs", "daps"])
    for row in results.values():
        assert {
            "p50_s",
            "p95_s",
            "p99_s",
            "throughput_per_min",
            "makespan_s",
            "gpu_busy_share",
            "decision_us_median",
            "worst_window_p95_s",
            "workflows",
        } <= row.keys()


def test_replay_of_an_experiment_with_one_setting_needs_no_setting():
    published = arrivals(DATA, SimConfig(workload="replay:exp1"))
    assert published == arrivals(DATA, SimConfig(workload="replay:exp1/continuous"))
    assert len(published) == 54


def test_a_model_load_of_zero_makes_every_start_free():
    from dataclasses import replace

    charged = simulate(DATA, SMALL)
    free = simulate(DATA, replace(SMALL, model_load_s=0.0))
    assert charged.model_loads > 0
    assert sum(s.end - s.start for s in free.timeline) < sum(
        s.end - s.start for s in charged.timeline
    )


def test_an_ablation_reaches_the_simulated_policy():
    from dataclasses import replace

    eight_nodes = SimConfig(workload="batched", batch=40)
    plain = simulate(DATA, eight_nodes)
    blind = simulate(DATA, replace(eight_nodes, ablate=("affinity",)))
    assert blind.model_loads > plain.model_loads  # no longer drawn to resident models


def test_maze_sim_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "sim.json"
    result = CliRunner().invoke(
        app,
        [
            "sim",
            "--workload",
            "batched",
            "--nodes",
            "3",
            "--compare",
            "maze-original,daps",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "maze-original" in result.output
    assert "daps" in result.output
    assert set(json.loads(out.read_text())) == {"maze-original", "daps"}


def test_maze_sim_explains_a_bad_policy():
    result = CliRunner().invoke(app, ["sim", "--policy", "random", "--workload", "batched"])
    assert result.exit_code == 2
    assert "unknown scheduling policy 'random'" in result.output


def test_a_simulation_writes_the_same_timeline_format_as_a_run(tmp_path):
    from maze_core.timeline import read_trace, write_trace

    result = simulate(DATA, SMALL)
    slices = read_trace(write_trace(tmp_path / "sim.json", result.timeline))
    assert len(slices) == result.tasks
    assert {s.kind for s in slices} <= {"cpu", "gpu", "io"}
    assert {s.node for s in slices} <= {f"node{i}" for i in range(3)}
    assert any(s.deps for s in slices)
