"""Workload sources: the trace folder when present, the shipped derived figures always."""

from __future__ import annotations

import random
import statistics

import pytest

from maze_core.sim.trace import default_trace_dir, load_derived, load_trace

TRACE = default_trace_dir()
needs_trace = pytest.mark.skipif(
    TRACE is None, reason="../shared/traces is not here (a user's clone has no shared folder)"
)


def test_the_derived_figures_ship_all_templates_and_fits():
    data = load_derived()
    assert len(data.templates) == 14
    for name, template in data.templates.items():
        for task in template.tasks:
            assert (name, task.name) in data.fits or data.draw(
                name, task.name, random.Random(0)
            ) > 0
    assert 50 < data.model_load_s < 150
    assert "exp1/continuous" in data.arrivals
    assert "derived figures" in data.source


def test_draws_are_deterministic_per_rng():
    data = load_derived()
    a = [data.draw("gaia_file", "task2_llm_process_qwen", random.Random(7)) for _ in range(3)]
    b = [data.draw("gaia_file", "task2_llm_process_qwen", random.Random(7)) for _ in range(3)]
    assert a == b


@needs_trace
def test_the_trace_and_the_derived_figures_agree():
    trace, derived = load_trace(TRACE), load_derived()
    assert trace.templates == derived.templates
    assert trace.arrivals.keys() == derived.arrivals.keys()
    assert trace.model_load_s == pytest.approx(derived.model_load_s, rel=0.01)
    ratios = [
        derived.median(*key) / trace.median(*key)
        for key in trace.samples
        if trace.median(*key) > 1.0
    ]
    assert 0.7 < statistics.median(ratios) < 1.3


@needs_trace
def test_gpu_durations_are_model_requests_without_the_load():
    trace = load_trace(TRACE)
    gpu = [
        trace.median(name, t.name)
        for name, tpl in trace.templates.items()
        for t in tpl.tasks
        if t.kind == "gpu" and t.model
    ]
    assert 10 < statistics.median(gpu) < 60  # vLLM-like request times, not ~130 s with loading
