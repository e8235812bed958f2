"""distribute(graph): every LangGraph feature gives the same result, node bodies remote."""

from __future__ import annotations

import asyncio
import operator
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypedDict

import pytest

pytest.importorskip("langgraph", reason="langgraph is not installed (pip install -e '.[dev]')")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command, RetryPolicy, Send, interrupt

from maze_core import LocalRuntime, Resources
from maze_langgraph import distribute


class Fan(TypedDict):
    topic: str
    notes: Annotated[list, operator.add]
    pids: Annotated[list, operator.add]


def research(state: Fan) -> dict:
    return {"notes": [f"research {state['topic']}"], "pids": [os.getpid()]}


def critique(state: Fan) -> dict:
    return {"notes": [f"critique {state['topic']}"], "pids": [os.getpid()]}


def merge(state: Fan) -> dict:
    return {"notes": [f"merged {len(state['notes'])}"], "pids": [os.getpid()]}


def fan_graph():
    builder = StateGraph(Fan)
    builder.add_node("research", research, metadata={"maze": {"resources": {"cpus": 1}}})
    builder.add_node("critique", critique)
    builder.add_node("merge", merge)
    builder.add_edge(START, "research")
    builder.add_edge(START, "critique")
    builder.add_edge(["research", "critique"], "merge")
    builder.add_edge("merge", END)
    return builder.compile()


def without_pids(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "pids"}


def test_fan_out_and_reducers_give_the_same_state_with_nodes_in_workers(processes):
    plain = fan_graph()
    remote = distribute(plain, processes)
    expected = plain.invoke({"topic": "maze"})
    got = remote.invoke({"topic": "maze"})
    assert without_pids(got) == without_pids(expected)
    assert os.getpid() not in got["pids"]  # every body ran in a worker process
    assert remote.maze_local_nodes == {"__start__": "LangGraph's own node"}


def test_ainvoke_and_stream_modes_match(processes):
    plain, remote = fan_graph(), distribute(fan_graph(), processes)
    assert without_pids(asyncio.run(remote.ainvoke({"topic": "a"}))) == without_pids(
        asyncio.run(plain.ainvoke({"topic": "a"}))
    )

    def updated_nodes(graph) -> list:  # parallel nodes may finish in either order
        return sorted(
            node for chunk in graph.stream({"topic": "b"}, stream_mode="updates") for node in chunk
        )

    assert updated_nodes(remote) == updated_nodes(plain) == ["critique", "merge", "research"]


class Route(TypedDict):
    n: int
    path: Annotated[list, operator.add]


def classify(state: Route) -> dict:
    return {"path": ["classify"]}


def small(state: Route) -> dict:
    return {"path": ["small"]}


def large(state: Route) -> dict:
    return {"path": ["large"]}


def route(state: Route) -> str:
    return "large" if state["n"] > 10 else "small"


def test_conditional_edges_route_as_locally(processes):
    builder = StateGraph(Route)
    builder.add_node("classify", classify)
    builder.add_node("small", small)
    builder.add_node("large", large)
    builder.add_edge(START, "classify")
    builder.add_conditional_edges("classify", route, ["small", "large"])
    plain = builder.compile()
    remote = distribute(plain, processes)
    for n in (3, 30):
        assert remote.invoke({"n": n, "path": []}) == plain.invoke({"n": n, "path": []})


class MapState(TypedDict):
    docs: list
    summaries: Annotated[list, operator.add]


class DocState(TypedDict):
    doc: str


def fan(state: MapState) -> list:
    return [Send("summarize", {"doc": doc}) for doc in state["docs"]]


def summarize(state: DocState) -> dict:
    return {"summaries": [state["doc"].upper()]}


def test_send_map_reduce_matches(processes):
    builder = StateGraph(MapState)
    builder.add_node("summarize", summarize)
    builder.add_conditional_edges(START, fan, ["summarize"])
    plain = builder.compile()
    remote = distribute(plain, processes)
    state = {"docs": ["a", "b", "c", "d"], "summaries": []}
    assert sorted(remote.invoke(state)["summaries"]) == sorted(plain.invoke(state)["summaries"])


def jump(state: Route) -> Command:
    return Command(goto="large", update={"path": ["jump"]})


def test_command_goto_and_update_match(processes):
    builder = StateGraph(Route)
    builder.add_node("jump", jump)
    builder.add_node("large", large)
    builder.add_edge(START, "jump")
    plain = builder.compile()
    remote = distribute(plain, processes)
    assert remote.invoke({"n": 1, "path": []}) == plain.invoke({"n": 1, "path": []})


def test_subgraph_nodes_are_distributed_too(processes):
    inner = fan_graph()
    builder = StateGraph(Fan)
    builder.add_node("inner", inner)
    builder.add_edge(START, "inner")
    plain = builder.compile()
    remote = distribute(plain, processes)
    got = remote.invoke({"topic": "sub"})
    assert without_pids(got) == without_pids(plain.invoke({"topic": "sub"}))
    assert os.getpid() not in got["pids"]


class Approval(TypedDict):
    draft: str
    verdict: str


def write(state: Approval) -> dict:
    return {"draft": f"draft about {state['draft']}"}


def approve(state: Approval) -> dict:
    answer = interrupt({"question": "ship it?", "draft": state["draft"]})
    return {"verdict": f"{answer} ({os.getpid()})"}


def approval_graph():
    builder = StateGraph(Approval)
    builder.add_node("write", write)
    builder.add_node("approve", approve)
    builder.add_edge(START, "write")
    builder.add_edge("write", "approve")
    return builder.compile(checkpointer=InMemorySaver())


def test_interrupt_and_resume_with_the_node_running_remotely(processes):
    remote = distribute(approval_graph(), processes)
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    first = remote.invoke({"draft": "maze", "verdict": ""}, config)
    (pending,) = first["__interrupt__"]
    assert pending.value == {"question": "ship it?", "draft": "draft about maze"}
    done = remote.invoke(Command(resume="yes"), config)
    verdict, pid = done["verdict"].rstrip(")").split(" (")
    assert verdict == "yes"
    assert int(pid) != os.getpid()
    history = list(remote.get_state_history(config))
    plain = approval_graph()
    plain_config = {"configurable": {"thread_id": "plain"}}
    plain.invoke({"draft": "maze", "verdict": ""}, plain_config)
    plain.invoke(Command(resume="yes"), plain_config)
    assert len(history) == len(list(plain.get_state_history(plain_config)))


@dataclass
class Context:
    user: str


class Greeting(TypedDict):
    text: str


def greet(state: Greeting, runtime: Runtime[Context]) -> dict:
    get_stream_writer()({"progress": "half"})
    return {"text": f"hello {runtime.context.user}"}


def configured(state: Greeting) -> dict:
    from langchain_core.runnables.config import ensure_config

    config = ensure_config()  # what any LangChain code inside the node sees
    user, node = config["configurable"]["user"], config["metadata"]["langgraph_node"]
    return {"text": f"{user} in {node}, tags {config['tags']}"}


def test_a_remote_node_sees_the_invocations_config_as_langchain_code_reads_it(processes):
    builder = StateGraph(Greeting)
    builder.add_node("configured", configured)
    builder.add_edge(START, "configured")
    plain = builder.compile()
    remote = distribute(plain, processes)
    for user in ("ada", "bob"):  # each call's own config, never one a worker saw before
        config = {"configurable": {"user": user}, "tags": ["t"]}
        got = remote.invoke({"text": ""}, config)
        assert got == plain.invoke({"text": ""}, config)
        assert got == {"text": f"{user} in configured, tags ['t']"}


def test_runtime_context_and_custom_stream_writer_work_remotely(processes):
    builder = StateGraph(Greeting, context_schema=Context)
    builder.add_node("greet", greet)
    builder.add_edge(START, "greet")
    plain = builder.compile()
    remote = distribute(plain, processes)
    context = Context(user="ada")
    chunks = list(remote.stream({"text": ""}, context=context, stream_mode=["custom", "values"]))
    assert chunks == list(
        plain.stream({"text": ""}, context=context, stream_mode=["custom", "values"])
    )
    assert chunks[-1] == ("values", {"text": "hello ada"})


class Flaky(TypedDict):
    marker: str
    tries: int


def flaky(state: Flaky) -> dict:
    marker = Path(state["marker"])
    if not marker.exists():
        marker.write_text("failed once")
        raise ConnectionError("transient")
    return {"tries": 2}


def test_retry_policy_retries_once_and_the_error_type_is_kept(processes, tmp_path):
    builder = StateGraph(Flaky)
    builder.add_node("flaky", flaky, retry_policy=RetryPolicy(retry_on=ConnectionError))
    builder.add_edge(START, "flaky")
    remote = distribute(builder.compile(), processes)
    assert remote.invoke({"marker": str(tmp_path / "m"), "tries": 0})["tries"] == 2
    builder = StateGraph(Flaky)
    builder.add_node("flaky", flaky)
    builder.add_edge(START, "flaky")
    remote = distribute(builder.compile(), processes)
    with pytest.raises(ConnectionError, match="transient"):
        remote.invoke({"marker": str(tmp_path / "other"), "tries": 0})


class RateLimited(Exception):
    """Like an SDK's error: keyword-only arguments, and a field that cannot pickle."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status
        self.lock = threading.Lock()


def rate_limited(state: Flaky) -> dict:
    marker = Path(state["marker"])
    if not marker.exists():
        marker.write_text("limited once")
        raise RateLimited("slow down", status=429)
    return {"tries": 2}


def test_retry_policy_retries_an_exception_that_does_not_pickle(processes, tmp_path):
    builder = StateGraph(Flaky)
    builder.add_node("limited", rate_limited, retry_policy=RetryPolicy(retry_on=RateLimited))
    builder.add_edge(START, "limited")
    remote = distribute(builder.compile(), processes)
    assert remote.invoke({"marker": str(tmp_path / "m"), "tries": 0})["tries"] == 2
    builder = StateGraph(Flaky)
    builder.add_node("limited", rate_limited)
    builder.add_edge(START, "limited")
    remote = distribute(builder.compile(), processes)
    with pytest.raises(RateLimited, match="slow down") as raised:
        remote.invoke({"marker": str(tmp_path / "other"), "tries": 0})
    assert raised.value.status == 429
    assert "in rate_limited" in str(raised.value.__cause__)  # the user's frame, from the worker


def test_a_node_holding_what_cannot_travel_runs_here_with_one_warning_naming_it(processes):
    lock = threading.Lock()

    def locked(state: Route) -> dict:
        with lock:
            return {"path": ["locked"]}

    builder = StateGraph(Route)
    builder.add_node("locked", locked)
    builder.add_edge(START, "locked")
    graph = builder.compile()
    for check in (True, False):
        with pytest.warns(UserWarning, match=r"node 'locked' cannot run in a worker.*lock"):
            remote = distribute(graph, processes, check=check)
        assert list(remote.maze_local_nodes) == ["__start__", "locked"]
        assert "cannot travel to a worker" in remote.maze_local_nodes["locked"]
        assert remote.invoke({"n": 0, "path": []}) == graph.invoke({"n": 0, "path": []})
    remote = distribute(graph, processes, keep_local=["locked"])
    assert remote.maze_local_nodes["locked"] == "named in keep_local"


def test_a_distributed_graph_distributes_again_from_its_own_nodes(processes):
    graph = fan_graph()
    once = distribute(graph, processes)
    with LocalRuntime("threads", autoload_plugins=False) as threads:
        twice = distribute(once, threads)
        assert list(twice.maze_local_nodes) == list(once.maze_local_nodes)
        got = without_pids(twice.invoke({"topic": "x"}))
    assert got == without_pids(graph.invoke({"topic": "x"}))


def test_resources_can_be_given_by_node_name_and_bad_names_are_refused(processes):
    graph = fan_graph()
    with pytest.raises(Exception, match="nodes the graph does not have"):
        distribute(graph, processes, resources={"nope": Resources(cpus=1)})
    remote = distribute(graph, processes, resources={"merge": Resources(cpus=2)})
    assert without_pids(remote.invoke({"topic": "x"})) == without_pids(graph.invoke({"topic": "x"}))


def test_the_main_features_on_ray(ray_runtime):
    plain = fan_graph()
    remote = distribute(plain, ray_runtime)
    got = remote.invoke({"topic": "ray"})
    assert without_pids(got) == without_pids(plain.invoke({"topic": "ray"}))
    assert os.getpid() not in got["pids"]
    approval = distribute(approval_graph(), ray_runtime)
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    assert "__interrupt__" in approval.invoke({"draft": "maze", "verdict": ""}, config)
    assert approval.invoke(Command(resume="ok"), config)["verdict"].startswith("ok (")


def test_nodes_and_tasks_from_a_module_workers_cannot_import_run_on_ray(ray_runtime, user_package):
    import importlib

    import ray

    package = user_package.__name__.partition(".")[0]
    graphs = importlib.import_module(f"{package}.graphs")
    importable = ray.remote(lambda: importlib.util.find_spec(package) is not None)
    assert not ray.get(importable.remote())  # the workers really lack the package
    assert distribute(graphs.graph(), ray_runtime).invoke({"x": 2}) == {"x": 6}
    assert distribute(graphs.workflow, ray_runtime).invoke(2) == 7


class Parent(TypedDict):
    path: Annotated[list, operator.add]


def escalate(state: Parent) -> Command:
    return Command(graph=Command.PARENT, goto="handled", update={"path": ["escalated"]})


def handled(state: Parent) -> dict:
    return {"path": ["handled"]}


def test_command_to_the_parent_graph_from_a_remote_subgraph_node(processes):
    inner = StateGraph(Parent)
    inner.add_node("escalate", escalate)
    inner.add_edge(START, "escalate")
    outer = StateGraph(Parent)
    outer.add_node("inner", inner.compile(), destinations=("handled",))
    outer.add_node("handled", handled)
    outer.add_edge(START, "inner")
    plain = outer.compile()
    remote = distribute(plain, processes)
    assert remote.invoke({"path": []}) == plain.invoke({"path": []})


def test_abatch_and_astream_debug_mode_match(processes):
    plain, remote = fan_graph(), distribute(fan_graph(), processes)
    inputs = [{"topic": "x"}, {"topic": "y"}]

    async def both() -> tuple:
        plain_out = await plain.abatch(inputs)
        remote_out = await remote.abatch(inputs)
        plain_kinds = [c["type"] async for c in plain.astream(inputs[0], stream_mode="debug")]
        remote_kinds = [c["type"] async for c in remote.astream(inputs[0], stream_mode="debug")]
        return plain_out, remote_out, plain_kinds, remote_kinds

    plain_out, remote_out, plain_kinds, remote_kinds = asyncio.run(both())
    assert [without_pids(o) for o in remote_out] == [without_pids(o) for o in plain_out]
    assert sorted(remote_kinds) == sorted(plain_kinds)
