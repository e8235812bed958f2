from __future__ import annotations

import pytest

from maze_core import TaskRef, ValidationError, Workflow, tool


@tool
def double(x: int) -> int:
    return 2 * x


@tool
def total(values: list[int], extra: dict | None = None) -> int:
    return sum(values) + sum((extra or {}).values())


@tool
def pair(a: int) -> dict:
    return {"left": a, "right": [a, a + 1]}


def test_refs_inside_nested_arguments_become_edges():
    wf = Workflow("nested")
    a, b = wf.add(double, 1), wf.add(double, 2)
    c = wf.add(total, [a, 10], extra={"b": b})
    assert wf.tasks[c.task_id].deps == ("double", "double-1")
    assert wf.run()[c] == 2 + 10 + 4


def test_selections_read_part_of_an_output_lazily():
    wf = Workflow("select")
    p = wf.add(pair, 5)
    s = wf.add(total, [p["left"], p["right"][1]])
    result = wf.run()
    assert result[s] == 11
    assert result[p["right"][0]] == 5


def test_after_orders_without_data():
    wf = Workflow("after")
    first = wf.add(double, 1)
    second = wf.add(double, 2, after=[first])
    assert wf.tasks[second.task_id].deps == (first.task_id,)


def test_task_names_default_to_the_tool_then_numbered():
    wf = Workflow("names")
    refs = [wf.add(double, i) for i in range(3)] + [wf.add(double, 9, task_name="nine")]
    assert [r.task_id for r in refs] == ["double", "double-1", "double-2", "nine"]


def test_plain_callables_are_wrapped_as_default_cpu_tools():
    wf = Workflow("plain")
    ref = wf.add(lambda x: x * 3, 4)
    assert wf.tasks[ref.task_id].spec.kind == "cpu"
    assert wf.run()[ref] == 12


def test_inputs_are_given_at_run_time_and_the_workflow_runs_many_times():
    wf = Workflow("inputs")
    x = wf.input("x")
    scale = wf.input("scale", default=1)
    out = wf.add(total, [wf.add(double, x), scale])
    assert wf.run(x=1)[out] == 3
    assert wf.run(x=2, scale=10)[out] == 14


def test_unknown_argument_is_named():
    wf = Workflow("bad")
    with pytest.raises(ValidationError, match=r"double.*unexpected keyword argument 'y'"):
        wf.add(double, y=1)


def test_missing_argument_is_named():
    wf = Workflow("bad")
    with pytest.raises(ValidationError, match="missing a required argument: 'x'"):
        wf.add(double)


def test_refs_from_another_workflow_are_refused():
    other = Workflow("other")
    ref = other.add(double, 1)
    wf = Workflow("mine")
    with pytest.raises(ValidationError, match="belongs to another workflow") as info:
        wf.add(double, ref)
    assert "within the workflow that created them" in str(info.value)
    with pytest.raises(ValidationError, match="not a task of this workflow"):
        wf.add(double, 1, after=[ref])


def test_after_must_hold_refs():
    wf = Workflow("bad")
    with pytest.raises(ValidationError, match="after="):
        wf.add(double, 1, after=["double"])


def test_duplicate_task_names_are_refused():
    wf = Workflow("dup")
    wf.add(double, 1, task_name="a")
    with pytest.raises(ValidationError, match="already has a task named 'a'"):
        wf.add(double, 2, task_name="a")


def test_tools_may_not_use_reserved_parameter_names():
    def clash(after: int) -> int:
        return after

    with pytest.raises(ValidationError, match="rename that parameter"):
        Workflow("clash").add(clash, 1)


def test_non_callables_are_refused():
    with pytest.raises(ValidationError, match="not callable"):
        Workflow("bad").add(42)


def test_a_built_workflow_is_immutable():
    wf = Workflow("frozen")
    wf.add(double, 1)
    wf.build()
    with pytest.raises(ValidationError, match="immutable"):
        wf.add(double, 2)
    with pytest.raises(ValidationError, match="immutable"):
        wf.input("late")


def test_an_empty_workflow_cannot_be_built():
    with pytest.raises(ValidationError, match="no tasks"):
        Workflow("empty").build()


def test_unknown_and_missing_inputs_are_named():
    wf = Workflow("inputs")
    wf.add(double, wf.input("x"))
    with pytest.raises(ValidationError, match="needs input 'x'"):
        wf.run()
    with pytest.raises(ValidationError, match="has no input 'y'"):
        wf.run(x=1, y=2)


def test_the_graph_lists_dependents_in_topological_order():
    wf = Workflow("diamond")
    top = wf.add(double, 1)
    left, right = wf.add(double, top), wf.add(double, top)
    wf.add(total, [left, right])
    graph = wf.build()
    assert list(graph.tasks) == ["double", "double-1", "double-2", "total"]
    assert graph.dependents["double"] == ("double-1", "double-2")
    assert isinstance(top, TaskRef)


def test_values_given_for_annotated_parameters_are_checked_when_added():
    import numpy as np

    @tool
    def typed(n: int, ratio: float, blob: bytes, tags: list[str], note: str | None = None) -> int:
        return n

    class Custom:
        pass

    @tool
    def loose(thing: Custom, anything) -> None:  # user classes and no annotation: unchecked
        return None

    wf = Workflow("types")
    wf.add(typed, True, np.int64(3), bytearray(b"x"), ["a"], None)  # what Python allows
    wf.add(typed, wf.add(typed, 1, 2.0, b"", []), 0.5, b"", [], "n")  # refs are not checked
    wf.add(loose, "not a Custom", object())
    with pytest.raises(ValidationError, match=r"takes n: int, but was given str") as caught:
        wf.add(typed, "1", 1.0, b"", [])
    assert caught.value.culprit == "typed.n"
    with pytest.raises(ValidationError, match=r"tags: list"):
        wf.add(typed, 1, 1.0, b"", ("a",))
    with pytest.raises(ValidationError, match=r"note: str \| NoneType"):
        wf.add(typed, 1, 1.0, b"", [], note=3)
