"""maze_otel: spans per run and task, nested under the caller's span and over the tool's."""

from __future__ import annotations

import importlib.metadata

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from maze_core import LocalRuntime, Workflow, tool
from maze_otel import MazeTracing, enable
from maze_otel.plugin import disable

EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def spans():
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


@pytest.fixture
def traced():
    with LocalRuntime(
        "threads",
        cpus=2,
        autoload_plugins=False,
        plugins=[MazeTracing(enabled=True, tracer_provider=PROVIDER)],
    ) as runtime:
        yield runtime


@tool
def inner_work(x: int) -> int:
    with PROVIDER.get_tracer("user").start_as_current_span("inside the tool"):
        return x + 1


@tool(retries=1)
def broken(x: int) -> int:
    raise ValueError(f"no {x}")


def by_name(exported):
    return {span.name: span for span in exported.get_finished_spans()}


def test_runs_and_tasks_become_spans_nested_under_the_callers_span(traced, spans):
    wf = Workflow("traced")
    first = wf.add(inner_work, 1)
    wf.add(inner_work, first, task_name="second")
    with PROVIDER.get_tracer("user").start_as_current_span("agent turn"):
        result = traced.submit(wf).result(timeout=30)
    assert result.ok
    finished = spans.get_finished_spans()
    turn = next(s for s in finished if s.name == "agent turn")
    run = next(s for s in finished if s.name == "maze.run traced")
    tasks = [s for s in finished if s.name == "maze.task inner_work"]
    inner = [s for s in finished if s.name == "inside the tool"]
    assert run.parent.span_id == turn.context.span_id
    assert len(tasks) == 2
    assert all(task.parent.span_id == run.context.span_id for task in tasks)
    assert {s.parent.span_id for s in inner} == {t.context.span_id for t in tasks}
    assert {s.context.trace_id for s in finished} == {turn.context.trace_id}
    attributes = dict(tasks[0].attributes)
    assert attributes["maze.tool"] == "inner_work"
    assert attributes["maze.kind"] == "cpu"
    assert attributes["maze.node"] == "local"
    assert attributes["maze.outcome"] == "done"
    assert attributes["maze.retries"] == 0
    assert attributes["maze.actual_s"] >= 0
    assert attributes["maze.predicted_s"] > 0
    assert run.attributes["maze.status"] == "done"


def test_a_failed_task_is_an_error_span_with_its_retries(traced, spans):
    wf = Workflow("failing")
    wf.add(broken, 3)
    result = traced.submit(wf).result(timeout=30)
    assert not result.ok
    found = by_name(spans)
    task = found["maze.task broken"]
    assert task.status.status_code == trace.StatusCode.ERROR
    assert task.attributes["maze.outcome"] == "failed"
    assert task.attributes["maze.retries"] == 1
    assert any(event.name == "exception" for event in task.events)
    assert found["maze.run failing"].status.status_code == trace.StatusCode.ERROR


def test_a_langgraph_invocation_contains_its_node_tasks(traced, spans):
    pytest.importorskip("langgraph", reason="langgraph is not installed")
    from typing import TypedDict

    from langgraph.graph import START, StateGraph

    from maze_langgraph import distribute

    class State(TypedDict):
        n: int

    builder = StateGraph(State)
    builder.add_node("one", lambda state: {"n": state["n"] + 1})
    builder.add_node("two", lambda state: {"n": state["n"] * 2})
    builder.add_edge(START, "one")
    builder.add_edge("one", "two")
    graph = distribute(builder.compile(), traced)
    with PROVIDER.get_tracer("user").start_as_current_span("invocation"):
        assert graph.invoke({"n": 1}) == {"n": 4}
    finished = spans.get_finished_spans()
    invocation = next(s for s in finished if s.name == "invocation")
    runs = [s for s in finished if s.name.startswith("maze.run")]
    assert len(runs) == 2
    assert all(run.parent.span_id == invocation.context.span_id for run in runs)
    tasks = [s for s in finished if s.name.startswith("maze.task")]
    assert sorted(t.attributes["maze.task"] for t in tasks) == ["one", "two"]


def test_tracing_is_off_until_enabled_and_registered_as_an_entry_point(monkeypatch):
    names = {ep.name for ep in importlib.metadata.entry_points(group="maze")}
    assert "otel" in names
    monkeypatch.delenv("MAZE_OTEL", raising=False)
    plugin = MazeTracing()
    assert not plugin.on()
    monkeypatch.setenv("MAZE_OTEL", "1")
    assert plugin.on()
    monkeypatch.delenv("MAZE_OTEL")
    enable()
    try:
        assert plugin.on()
    finally:
        disable()
    assert not MazeTracing(enabled=False).on()
