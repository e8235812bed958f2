"""The bad-input catalogue: every mistake a user can make gets a MazeError naming the culprit
and the fix, at once or as the failed task's error, and nothing hangs (each case is bounded).

Each case is a function that makes the mistake and returns the error it got (raised, or the
failed task's), with the type expected and a piece of text that names the culprit.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest

from maze_core import (
    DuplicateToolError,
    InfeasibleResourcesError,
    LocalRuntime,
    MazeError,
    Resources,
    SerializationError,
    TaskCancelledError,
    TaskFailedError,
    TaskRef,
    TaskTimeoutError,
    ToolRegistry,
    ValidationError,
    WorkerLostError,
    Workflow,
    export_features,
    tool,
)

pytestmark = pytest.mark.timeout(60)


@tool
def double(x: int) -> int:
    return 2 * x


@tool
def shaped(x: int, label: str = "") -> dict:
    return {"x": x, "label": label}


@tool
def echo(value):  # unannotated on purpose: any value goes
    return value


@tool
def fails(x: int) -> int:
    raise ValueError(f"cannot handle {x}")


@tool(timeout=0.3)
def never_returns() -> None:
    threading.Event().wait(60)


@tool
def exits() -> None:
    os._exit(3)


class Unpicklable(Exception):
    def __init__(self, lock: Any) -> None:
        super().__init__("holds a lock")
        self.lock = lock


@tool
def raises_unpicklable() -> None:
    raise Unpicklable(threading.Lock())


@tool
def returns_a_lock() -> Any:
    return threading.Lock()


@pytest.fixture(scope="module")
def local():
    with LocalRuntime("threads", cpus=2, autoload_plugins=False) as runtime:
        yield runtime


@pytest.fixture(scope="module")
def processes():
    with LocalRuntime("processes", cpus=2, autoload_plugins=False) as runtime:
        yield runtime


def raised(make: Callable[[], Any]) -> BaseException:
    try:
        make()
    except BaseException as error:
        return error
    raise AssertionError("no error")


def task_error(runtime: LocalRuntime, wf: Workflow, task: str) -> BaseException:
    result = runtime.submit(wf).result(timeout=30)
    error = result.tasks[task].error
    assert error is not None, result.tasks[task]
    return error


def one(tool_fn: Any, *args: Any, **kwargs: Any) -> Workflow:
    wf = Workflow("case")
    wf.add(tool_fn, *args, **kwargs)
    return wf


# -- building a workflow ----------------------------------------------------------------------


def case_missing_argument(runtime):
    return raised(lambda: Workflow("w").add(double))


def case_unknown_keyword(runtime):
    return raised(lambda: Workflow("w").add(double, x=1, y=2))


def case_wrong_type_for_an_annotated_parameter(runtime):
    return raised(lambda: Workflow("w").add(double, "three"))


def case_wrong_type_in_a_union(runtime):
    return raised(lambda: Workflow("w").add(shaped, 1, label=3))


def case_ref_from_another_workflow(runtime):
    other = Workflow("other").add(double, 1)
    return raised(lambda: Workflow("w").add(double, other))


def case_a_hand_made_ref_to_a_missing_task(runtime):
    wf = Workflow("w")
    return raised(lambda: wf.add(double, TaskRef(wf.id, "nope")))


def case_a_cycle_of_hand_made_refs(runtime):
    wf = Workflow("w")  # double-1 would use double's output, and double double-1's
    return raised(lambda: wf.add(double, TaskRef(wf.id, "double-1")))


def case_after_holds_something_else(runtime):
    return raised(lambda: Workflow("w").add(double, 1, after=["not a ref"]))


def case_after_a_task_of_another_workflow(runtime):
    other = Workflow("other").add(double, 1)
    return raised(lambda: Workflow("w").add(double, 1, after=[other]))


def case_duplicate_task_name(runtime):
    wf = Workflow("w")
    wf.add(double, 1, task_name="t")
    return raised(lambda: wf.add(double, 2, task_name="t"))


def case_adding_to_a_built_workflow(runtime):
    wf = one(double, 1)
    wf.build()
    return raised(lambda: wf.add(double, 2))


def case_empty_workflow(runtime):
    return raised(lambda: Workflow("empty").build())


def case_unknown_workflow_input(runtime):
    wf = Workflow("w")
    wf.add(double, wf.input("x"))
    return raised(lambda: runtime.submit(wf, x=1, y=2))


def case_missing_workflow_input(runtime):
    wf = Workflow("w")
    wf.add(double, wf.input("x"))
    return raised(lambda: runtime.submit(wf))


def case_a_tool_parameter_named_after_a_reserved_word(runtime):
    def takes_after(after: int) -> int:
        return after

    return raised(lambda: Workflow("w").add(takes_after, 1))


# -- declaring tools and resources --------------------------------------------------------------


def case_a_generator_tool(runtime):
    def numbers(n: int):
        yield from range(n)

    return raised(lambda: tool(numbers))


def case_negative_resources(runtime):
    return raised(lambda: Resources(cpus=-1))


def case_malformed_size(runtime):
    return raised(lambda: Resources(memory="12XB"))


def case_negative_retries(runtime):
    return raised(lambda: tool(retries=-1)(lambda: 1))


def case_a_model_loader_without_a_model(runtime):
    return raised(lambda: tool(load=dict)(lambda: 1))


def case_two_tools_under_one_name(runtime):
    registry = ToolRegistry()
    registry.register(tool(name="same")(lambda: 1))
    return raised(lambda: registry.register(tool(name="same")(lambda: 2)))


def case_infeasible_resources(runtime):
    big = tool(resources=Resources(cpus=64))(lambda: 1)
    return raised(lambda: runtime.submit(one(big)))


def case_unknown_executor(runtime):
    return raised(lambda: LocalRuntime("gpu-magic"))  # type: ignore[arg-type]


def case_unknown_policy(runtime):
    return raised(lambda: LocalRuntime(policy="nope"))


def case_submit_to_a_closed_runtime(runtime):
    closed = LocalRuntime("inline", autoload_plugins=False)
    closed.close()
    return raised(lambda: closed.submit(one(double, 1)))


# -- running ------------------------------------------------------------------------------------


def case_a_tool_that_raises(runtime):
    return task_error(runtime, one(fails, 7), "fails")


def case_a_tool_that_never_returns(runtime):
    return task_error(runtime, one(never_returns), "never_returns")


def case_selecting_a_missing_key(runtime):
    wf = Workflow("w")
    wf.add(double, wf.add(shaped, 1)["nope"])
    return task_error(runtime, wf, "double")


def case_downstream_of_a_failure(runtime):
    wf = Workflow("w")
    wf.add(double, wf.add(fails, 1))
    return task_error(runtime, wf, "double")


def case_reading_an_unknown_task_of_a_result(runtime):
    result = runtime.submit(one(double, 1)).result(timeout=30)
    return raised(lambda: result["nope"])


def case_waiting_too_long_for_a_run(runtime):
    return raised(lambda: one(never_returns).run(runtime, timeout=0.05))


def case_submitting_from_inside_the_loop(runtime):
    inline = LocalRuntime("inline", autoload_plugins=False)

    @tool
    def nested() -> Any:
        return inline.submit(one(double, 1))

    try:
        return task_error(inline, one(nested), "nested")
    finally:
        inline.close()


# -- crossing to worker processes ----------------------------------------------------------------


def case_an_unpicklable_argument(processes):
    return task_error(processes, one(echo, threading.Lock()), "echo")


def case_an_unpicklable_result(processes):
    return task_error(processes, one(returns_a_lock), "returns_a_lock")


def case_an_exception_that_cannot_be_pickled(processes):
    return task_error(processes, one(raises_unpicklable), "raises_unpicklable")


def case_a_tool_that_kills_its_own_process(processes):
    return task_error(processes, one(exits), "exits")


@tool
def big_result(size: int) -> bytes:
    return b"x" * size


def case_a_result_over_the_limit(processes):
    with LocalRuntime("processes", cpus=1, autoload_plugins=False, max_result="10KB") as small:
        assert small.submit(one(big_result, 1000)).result(timeout=30).ok  # under it: fine
        return task_error(small, one(big_result, 50_000), "big_result")


def case_a_tool_that_never_returns_in_a_process(processes):
    return task_error(processes, one(never_returns), "never_returns")


LOCAL_CASES: list[tuple[Callable[[Any], BaseException], type[BaseException], str]] = [
    (case_missing_argument, ValidationError, "'double'"),
    (case_unknown_keyword, ValidationError, "'y'"),
    (case_wrong_type_for_an_annotated_parameter, ValidationError, "x: int"),
    (case_wrong_type_in_a_union, ValidationError, "label: str"),
    (case_ref_from_another_workflow, ValidationError, "another workflow"),
    (case_a_hand_made_ref_to_a_missing_task, ValidationError, "'nope'"),
    (case_a_cycle_of_hand_made_refs, ValidationError, "'double-1'"),
    (case_after_holds_something_else, ValidationError, "'not a ref'"),
    (case_after_a_task_of_another_workflow, ValidationError, "after="),
    (case_duplicate_task_name, ValidationError, "'t'"),
    (case_adding_to_a_built_workflow, ValidationError, "'case'"),
    (case_empty_workflow, ValidationError, "'empty'"),
    (case_unknown_workflow_input, ValidationError, "'y'"),
    (case_missing_workflow_input, ValidationError, "'x'"),
    (case_a_tool_parameter_named_after_a_reserved_word, ValidationError, "'after'"),
    (case_a_generator_tool, ValidationError, "generator function"),
    (case_negative_resources, ValidationError, "cpus=-1"),
    (case_malformed_size, ValidationError, "'12XB'"),
    (case_negative_retries, ValidationError, "retries=-1"),
    (case_a_model_loader_without_a_model, ValidationError, "model"),
    (case_two_tools_under_one_name, DuplicateToolError, "'same'"),
    (case_infeasible_resources, InfeasibleResourcesError, "64 CPUs"),
    (case_unknown_executor, ValidationError, "'gpu-magic'"),
    (case_unknown_policy, ValidationError, "'nope'"),
    (case_submit_to_a_closed_runtime, ValidationError, "closed"),
    (case_a_tool_that_raises, TaskFailedError, "cannot handle 7"),
    (case_a_tool_that_never_returns, TaskTimeoutError, "never_returns"),
    (case_selecting_a_missing_key, TaskFailedError, "'nope'"),
    (case_downstream_of_a_failure, TaskCancelledError, "fails"),
    (case_reading_an_unknown_task_of_a_result, ValidationError, "'nope'"),
    (case_waiting_too_long_for_a_run, TaskTimeoutError, "'case'"),
    (case_submitting_from_inside_the_loop, TaskFailedError, "would deadlock"),
]
PROCESS_CASES: list[tuple[Callable[[Any], BaseException], type[BaseException], str]] = [
    (case_an_unpicklable_argument, SerializationError, "argument 'value'"),
    (case_an_unpicklable_result, SerializationError, "result"),
    (case_an_exception_that_cannot_be_pickled, TaskFailedError, "Unpicklable"),
    (case_a_tool_that_kills_its_own_process, WorkerLostError, "died"),
    (case_a_tool_that_never_returns_in_a_process, TaskTimeoutError, "never_returns"),
    (case_a_result_over_the_limit, SerializationError, "10,000 bytes (max_result)"),
]


def check(error: BaseException, expected: type[BaseException], culprit: str) -> None:
    assert isinstance(error, expected), repr(error)
    assert isinstance(error, MazeError), repr(error)
    assert culprit in str(error), str(error)
    assert error.fix, f"no fix in {error!r}"
    assert "fix:" in str(error)


@pytest.mark.parametrize(
    ("case", "expected", "culprit"), LOCAL_CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_a_mistake_names_its_culprit_and_the_fix(local, case, expected, culprit):
    check(case(local), expected, culprit)


@pytest.mark.parametrize(
    ("case", "expected", "culprit"), PROCESS_CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_a_mistake_across_processes_names_its_culprit_and_the_fix(
    processes, case, expected, culprit
):
    check(case(processes), expected, culprit)


def test_the_catalogue_has_thirty_cases_or_more():
    assert len(LOCAL_CASES) + len(PROCESS_CASES) >= 30


def test_a_dead_cluster_address_fails_at_once_naming_it():
    pytest.importorskip("ray", reason="ray is not installed")
    from maze_core.run.ray import RayRuntime

    error = raised(lambda: RayRuntime(address="127.0.0.1:1"))
    check(error, MazeError, "127.0.0.1:1")
    assert "maze start --head" in error.fix


def test_graphs_and_tools_that_cannot_travel_are_named_when_wrapped(local):
    pytest.importorskip("langgraph", reason="langgraph is not installed")
    from typing import TypedDict

    from langchain_core.tools import tool as lc_tool
    from langgraph.graph import START, StateGraph

    from maze_langchain import remote_tool
    from maze_langgraph import distribute

    lock = threading.Lock()

    class State(TypedDict):
        n: int

    def guarded(state: State) -> dict:
        with lock:
            return {"n": state["n"]}

    builder = StateGraph(State)
    builder.add_node("guarded", guarded)
    builder.add_edge(START, "guarded")
    with pytest.warns(UserWarning, match=r"node 'guarded' cannot run in a worker.*'lock'"):
        kept = distribute(builder.compile(), local)  # it runs in the caller, as plain
    assert "'lock'" in kept.maze_local_nodes["guarded"]
    check(raised(lambda: distribute(builder, local)), MazeError, "StateGraph")

    @lc_tool
    def locked(x: int) -> int:
        """Uses a lock."""
        with lock:
            return x

    check(raised(lambda: remote_tool(locked, runtime=local)), MazeError, "'lock'")


@tool
def exports_a_huge_number() -> int:
    export_features(n=10**400)  # no float holds it
    return 1


def test_numbers_no_float_holds_are_dropped_not_a_wedge(local, caplog):
    wf = Workflow("huge")
    exported = wf.add(exports_a_huge_number)
    given = wf.add(double, 10**400)  # a feature of the call too
    result = local.submit(wf).result(timeout=30)
    assert result.ok
    assert result[exported] == 1
    assert result[given] == 2 * 10**400
    assert "too large for a float" in caplog.text
