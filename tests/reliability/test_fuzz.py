"""Fuzzing workflow construction: any DAG built from data flow runs to the answer a direct
evaluation gives; any malformed call is a ValidationError, never another exception.
(The scheduler's event stream is fuzzed in tests/schedule/test_properties.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maze_core import LocalRuntime, ValidationError, Workflow, tool


@tool
def total(base: int, parts: list) -> int:
    return base + sum(parts)


@tool(kind="io")
def passthrough(value: int) -> int:
    return value


@pytest.fixture(scope="module")
def inline():
    with LocalRuntime("inline", autoload_plugins=False, predictor=False) as runtime:
        yield runtime


dags = st.lists(
    st.tuples(
        st.integers(-50, 50),  # the task's own number
        st.lists(st.integers(0, 10_000), max_size=4),  # which earlier tasks it reads
        st.booleans(),  # through an io passthrough first
        st.lists(st.integers(0, 10_000), max_size=2),  # after= (order only)
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(dags)
def test_any_dag_runs_to_the_answer_of_a_direct_evaluation(inline, spec):
    wf = Workflow("fuzz")
    refs: list[Any] = []
    values: list[int] = []
    for base, reads, relay, after in spec:
        inputs = [refs[i % len(refs)] for i in reads] if refs else []
        if relay and inputs:
            inputs = [wf.add(passthrough, inputs[0]), *inputs[1:]]
        order = [refs[i % len(refs)] for i in after] if refs else []
        refs.append(wf.add(total, base, inputs, after=order))
        values.append(base + sum(values[i % len(values)] for i in reads) if values else base)
    result = inline.submit(wf).result(timeout=60)
    assert result.ok
    assert [result[ref] for ref in refs] == values


junk = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.binary(max_size=4),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(junk, max_size=3),
    st.dictionaries(st.sampled_from(["base", "parts", "x", "after"]), junk, max_size=3),
)
def test_malformed_calls_are_validation_errors(args, kwargs):
    wf = Workflow("junk")
    error: ValidationError | None = None
    try:
        wf.add(total, *args, **kwargs)
    except ValidationError as exc:  # anything else fails the test
        error = exc
    if error is not None:
        assert error.fix
        assert "total" in str(error) or "after=" in str(error)
