"""remote_tool and MazeToolMiddleware: agents see the same messages, tool bodies run in Maze."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import threading
import time
from typing import Annotated, Any

import pytest

pytest.importorskip("langchain", reason="langchain is not installed (pip install -e '.[dev]')")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, ToolException
from langchain_core.tools import tool as lc_tool
from langgraph.prebuilt import InjectedState, InjectedStore, ToolRuntime
from langgraph.types import Command

from maze_core import MazeError, Resources, Workflow
from maze_core import tool as maze_tool
from maze_langchain import (
    MazeToolMiddleware,
    as_langchain_tool,
    from_langchain_tool,
    remote_tool,
)
from maze_langchain.testing import ScriptedChatModel


@lc_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@lc_tool
async def shout(text: str) -> str:
    """Upper-case a text, asynchronously."""
    await asyncio.sleep(0.01)
    return text.upper()


@lc_tool(response_format="content_and_artifact")
def count(n: int) -> tuple[str, list[int]]:
    """Count to n; the numbers are the artifact."""
    return f"{n} numbers", list(range(n))


@lc_tool
def remember(fact: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Store a fact in the conversation."""
    message = ToolMessage(f"noted {fact}", tool_call_id=tool_call_id, name="remember")
    return Command(update={"messages": [message]})


@lc_tool
def refuse(reason: str) -> str:
    """Always fails."""
    raise ToolException(f"refused: {reason}")


refuse.handle_tool_error = True


class Reverse(BaseTool):
    """A BaseTool subclass with its own _run."""

    name: str = "reverse"
    description: str = "Reverse a text."

    def _run(self, text: str) -> str:
        return text[::-1]


CALLS = [
    {"name": "add", "args": {"a": 2, "b": 3}},
    {"name": "shout", "args": {"text": "hi"}},
    {"name": "count", "args": {"n": 3}},
    {"name": "remember", "args": {"fact": "maze"}},
    {"name": "refuse", "args": {"reason": "no"}},
    {"name": "reverse", "args": {"text": "abc"}},
]
TOOLS = [add, shout, count, remember, refuse, Reverse()]
SYNC_TOOLS = [t for t in TOOLS if t is not shout]  # a coroutine-only tool needs ainvoke
QUESTION = {"messages": [("user", "go")]}


def digest(messages: list[Any]) -> list[tuple[Any, ...]]:
    """What an agent's history says, without the ids that differ between runs."""
    return [
        (
            type(m).__name__,
            m.content,
            [(c["name"], c["args"], c["id"]) for c in getattr(m, "tool_calls", [])],
            getattr(m, "tool_call_id", None),
            getattr(m, "artifact", None),
            getattr(m, "status", None),
        )
        for m in messages
    ]


def scripted(tools: list[Any]) -> ScriptedChatModel:
    """A model that calls each of ``tools`` once, all in one message."""
    names = {t.name for t in tools}
    return ScriptedChatModel(calls=[call for call in CALLS if call["name"] in names])


def create_agent(tools: list[Any], middleware: list[Any] = ()) -> Any:
    from langchain.agents import create_agent

    return create_agent(scripted(tools), tools, middleware=list(middleware))


def react_agent(tools: list[Any]) -> Any:
    from langgraph.prebuilt import create_react_agent

    with pytest.warns(Warning, match="create_react_agent has been moved"):
        return create_react_agent(scripted(tools), tools)


def test_the_twin_keeps_the_tool_s_surface(processes):
    for original in TOOLS:
        twin = remote_tool(original, runtime=processes)
        assert isinstance(twin, type(original))
        assert (twin.name, twin.description, twin.args) == (
            original.name,
            original.description,
            original.args,
        )
        assert twin.response_format == original.response_format
        assert twin.return_direct == original.return_direct
        assert twin.handle_tool_error == original.handle_tool_error
    assert remote_tool(add, runtime=processes).invoke({"a": 1, "b": 2}) == 3


def test_bodies_run_in_a_worker_process(processes):
    @lc_tool
    def where() -> int:
        """The process id."""
        return os.getpid()

    twin = remote_tool(where, runtime=processes)
    assert twin.invoke({}) != os.getpid()
    assert asyncio.run(twin.ainvoke({})) != os.getpid()


def test_content_and_artifact_and_errors_reach_the_agent_as_without_maze(processes):
    call = {"type": "tool_call", "name": "count", "args": {"n": 2}, "id": "c1"}
    message = remote_tool(count, runtime=processes).invoke(call)
    assert (message.content, message.artifact) == ("2 numbers", [0, 1])
    call = {"type": "tool_call", "name": "refuse", "args": {"reason": "x"}, "id": "c2"}
    message = remote_tool(refuse, runtime=processes).invoke(call)
    assert (message.content, message.status) == ("refused: x", "error")
    strict = refuse.model_copy(update={"handle_tool_error": False})
    with pytest.raises(ToolException, match="refused: y"):
        remote_tool(strict, runtime=processes).invoke({"reason": "y"})
    with pytest.raises(Exception, match="validation error"):
        remote_tool(add, runtime=processes).invoke({"a": "not a number", "b": 1})


def test_a_coroutine_only_tool_still_refuses_sync_calls(processes):
    twin = remote_tool(shout, runtime=processes)
    with pytest.raises(NotImplementedError, match="does not support sync"):
        twin.invoke({"text": "x"})
    assert asyncio.run(twin.ainvoke({"text": "x"})) == "X"


def test_a_tool_that_cannot_be_pickled_fails_at_wrap_time(processes):
    lock = threading.Lock()

    @lc_tool
    def locked(x: int) -> int:
        """Uses a lock."""
        with lock:
            return x

    with pytest.raises(MazeError, match=r"'locked' cannot run in a worker.*'lock'"):
        remote_tool(locked, runtime=processes)
    with pytest.raises(MazeError, match="BaseTool"):
        remote_tool(len, runtime=processes)


@pytest.mark.parametrize("make", [create_agent, react_agent], ids=["create_agent", "react"])
def test_an_agent_with_remote_tools_gives_the_same_messages(processes, make):
    plain = make(SYNC_TOOLS).invoke(QUESTION)["messages"]
    twins = [remote_tool(t, runtime=processes) for t in SYNC_TOOLS]
    remote = make(twins).invoke(QUESTION)["messages"]
    assert digest(remote) == digest(plain)
    assert "refused: no" in remote[-1].content  # the failing tool's error reached the model
    plain = asyncio.run(make(TOOLS).ainvoke(QUESTION))["messages"]
    twins = [remote_tool(t, runtime=processes) for t in TOOLS]
    assert digest(asyncio.run(make(twins).ainvoke(QUESTION))["messages"]) == digest(plain)


def assert_same_messages_with(middleware: MazeToolMiddleware) -> None:
    """create_agent with and without ``middleware`` says the same, sync and async."""
    plain = create_agent(SYNC_TOOLS).invoke(QUESTION)["messages"]
    remote = create_agent(SYNC_TOOLS, [middleware]).invoke(QUESTION)["messages"]
    assert digest(remote) == digest(plain)
    plain = asyncio.run(create_agent(TOOLS).ainvoke(QUESTION))["messages"]
    remote = asyncio.run(create_agent(TOOLS, [middleware]).ainvoke(QUESTION))["messages"]
    assert digest(remote) == digest(plain)


def test_the_middleware_distributes_every_call_sync_and_async(processes):
    middleware = MazeToolMiddleware(runtime=processes, resources={"add": {"cpus": 1}})
    assert_same_messages_with(middleware)
    assert len(middleware._twins) == len(TOOLS)


def test_the_middleware_works_on_a_tool_node(processes):
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode

    def graph(node: ToolNode) -> Any:
        builder = StateGraph(MessagesState)
        builder.add_node("tools", node)
        builder.add_edge(START, "tools")
        return builder.compile()

    middleware = MazeToolMiddleware(runtime=processes)
    ai = scripted(SYNC_TOOLS).invoke([("user", "go")])
    plain = graph(ToolNode(SYNC_TOOLS)).invoke({"messages": [ai]})["messages"]
    node = ToolNode(SYNC_TOOLS, wrap_tool_call=middleware.wrap_tool_call)
    remote = graph(node).invoke({"messages": [ai]})["messages"]
    assert len(remote) == 1 + len(SYNC_TOOLS)
    assert digest(remote) == digest(plain)


@lc_tool
def nap(seconds: float) -> list[float]:
    """Sleep; return when it started and ended, and where."""
    start = time.time()
    time.sleep(seconds)
    return [start, time.time(), os.getpid()]


def test_parallel_tool_calls_run_in_parallel_in_workers(processes):
    calls = [{"name": "nap", "args": {"seconds": 0.5}}] * 2
    from langchain.agents import create_agent as make

    middleware = MazeToolMiddleware(runtime=processes)
    agent = make(ScriptedChatModel(calls=calls), [nap], middleware=[middleware])
    messages = agent.invoke(QUESTION)["messages"]
    (start1, end1, pid1), (start2, end2, pid2) = (
        json.loads(m.content) for m in messages if m.type == "tool"
    )
    assert max(start1, start2) < min(end1, end2)  # the two sleeps overlapped
    assert os.getpid() not in (pid1, pid2)
    assert pid1 != pid2


@lc_tool
def tally(word: str, runtime: ToolRuntime, state: Annotated[dict, InjectedState]) -> str:
    """Count the conversation's messages and stream a progress note."""
    runtime.stream_writer({"progress": word})
    return f"{word}: {len(state['messages'])} messages, call {runtime.tool_call_id}, {os.getpid()}"


@lc_tool
def note(word: str, store: Annotated[Any, InjectedStore()]) -> str:
    """Save a word in the graph's store."""
    store.put(("notes",), word, {"pid": os.getpid()})
    return f"saved {word}"


def test_injected_state_runtime_and_store_keep_working(processes):
    from langchain.agents import create_agent as make
    from langgraph.store.memory import InMemoryStore

    calls = [{"name": "tally", "args": {"word": "w"}}, {"name": "note", "args": {"word": "n"}}]
    store = InMemoryStore()
    middleware = MazeToolMiddleware(runtime=processes)
    agent = make(
        ScriptedChatModel(calls=calls), [tally, note], middleware=[middleware], store=store
    )
    chunks = list(agent.stream(QUESTION, stream_mode=["custom", "values"]))
    custom = [data for mode, data in chunks if mode == "custom"]
    messages = next(data for mode, data in reversed(chunks) if mode == "values")["messages"]
    tallied = next(m.content for m in messages if m.type == "tool" and m.name == "tally")
    assert tallied.startswith("w: 2 messages, call call_0, ")
    assert not tallied.endswith(str(os.getpid()))  # ran in a worker, with the state
    assert custom == [{"progress": "w"}]  # the worker's stream chunk was replayed
    assert store.get(("notes",), "n").value == {"pid": os.getpid()}  # with a store: in place


def test_conversions_both_ways(processes):
    @maze_tool(resources=Resources(cpus=1), retries=1)
    def scale(x: int, factor: int = 2) -> int:
        """Multiply x by factor."""
        return x * factor

    as_lc = as_langchain_tool(scale, runtime=processes)
    assert (as_lc.name, as_lc.description) == ("scale", "Multiply x by factor.")
    assert set(as_lc.args) == {"x", "factor"}
    assert as_lc.invoke({"x": 4}) == 8
    assert as_lc.maze_body.remote.graph.tasks["scale"].spec.retries == 1

    spec = from_langchain_tool(add, resources=Resources(cpus=1))
    assert spec.parameters["required"] == ["a", "b"]
    wf = Workflow("from-langchain")
    total = wf.add(spec, a=2, b=3)
    assert processes.submit(wf).result(timeout=60)[total] == 5
    with pytest.raises(MazeError, match="cannot call tool 'add'"):
        Workflow("bad").add(spec, a=1)


def test_the_main_features_on_ray(ray_runtime):
    assert_same_messages_with(MazeToolMiddleware(runtime=ray_runtime))


@lc_tool
def peek(key: str, runtime: ToolRuntime) -> str:
    """Read a note through the runtime's store, and count the reads there."""
    found = runtime.store.get(("notes",), key)
    reads = runtime.store.get(("notes",), "reads")
    runtime.store.put(("notes",), "reads", {"n": (reads.value["n"] if reads else 0) + 1})
    return str(found.value if found else None)


def test_the_store_through_a_workers_runtime_is_the_agents_own(processes):
    """A tool in a worker reads and writes the agent's store itself, over its channel (it
    raised a MazeError saying to keep the tool local)."""
    from langchain.agents import create_agent as make
    from langgraph.store.memory import InMemoryStore

    def ask(middleware: list[Any]) -> tuple[str, Any]:
        store = InMemoryStore()
        store.put(("notes",), "k", {"text": "maze"})
        calls = [{"name": "peek", "args": {"key": "k"}}]
        agent = make(ScriptedChatModel(calls=calls), [peek], middleware=middleware, store=store)
        answer = agent.invoke(QUESTION)["messages"][-1].content
        return answer, store.get(("notes",), "reads").value

    in_place = ask([])
    assert in_place == ("done: peek={'text': 'maze'}", {"n": 1})
    assert ask([MazeToolMiddleware(runtime=processes, kinds="cpu")]) == in_place


@lc_tool
def summarize(text: str) -> str:
    """Summarize a text with a chat model (made here: fresh for each call)."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    model = GenericFakeChatModel(messages=iter([AIMessage(content=f"short {text}")]))
    return str(model.invoke(text).content)


class EventNames(BaseCallbackHandler):
    def __init__(self) -> None:
        self.names: list[str] = []

    def on_tool_start(self, *args, **kwargs) -> None:
        self.names.append("tool_start")

    def on_chat_model_start(self, *args, **kwargs) -> None:
        self.names.append("chat_model_start")

    def on_llm_end(self, *args, **kwargs) -> None:
        self.names.append("llm_end")

    def on_tool_end(self, *args, **kwargs) -> None:
        self.names.append("tool_end")


def test_callbacks_of_what_a_remote_tool_runs_reach_the_caller(processes):
    plain, remote = EventNames(), EventNames()
    assert summarize.invoke({"text": "maze"}, {"callbacks": [plain]}) == "short maze"
    twin = remote_tool(summarize, runtime=processes)
    assert twin.invoke({"text": "maze"}, {"callbacks": [remote]}) == "short maze"
    assert plain.names == ["tool_start", "chat_model_start", "llm_end", "tool_end"]
    assert remote.names == plain.names


def test_model_calls_hold_a_unit_of_their_provider_and_answer_as_plain():
    from maze_core import LocalRuntime
    from maze_core.timeline import Recorder

    recorder = Recorder()
    limited = LocalRuntime(
        "threads", cpus=2, limits={"llm": 1}, plugins=[recorder], autoload_plugins=False
    )
    with limited:
        middleware = MazeToolMiddleware(runtime=limited, model_provider="llm")
        plain = create_agent(SYNC_TOOLS).invoke(QUESTION)["messages"]
        agents = [create_agent(SYNC_TOOLS, [middleware]) for _ in range(4)]
        answers: list[Any] = [None] * 4

        def ask(i: int) -> None:
            answers[i] = agents[i].invoke(QUESTION)["messages"]

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        later = asyncio.run(create_agent(TOOLS, [middleware]).ainvoke(QUESTION))["messages"]
    plain_later = asyncio.run(create_agent(TOOLS).ainvoke(QUESTION))["messages"]
    assert all(digest(answer) == digest(plain) for answer in answers)
    assert digest(later) == digest(plain_later)
    calls = sorted((s.start, s.end) for s in recorder.slices if s.task == "model")
    assert len(calls) == 2 * 4 + 2  # two model turns per conversation
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(calls))  # one by one


class Narrating(BaseTool):
    """A tool whose own _run reports through its run manager and runs a child under it."""

    name: str = "narrating"
    description: str = "Upper-case a text, saying so."

    def _run(self, text: str, run_manager: Any = None) -> str:
        from langchain_core.runnables import RunnableLambda

        run_manager.on_text(f"working on {text}")
        upper = RunnableLambda(lambda t: t.upper())
        return upper.invoke(text, {"callbacks": run_manager.get_child()})


class RunEvents(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.tool_run: Any = None

    def on_tool_start(self, *args, run_id, parent_run_id=None, **kwargs) -> None:
        self.tool_run = run_id
        self.events.append(("tool_start", parent_run_id))

    def on_text(self, text, *, run_id, parent_run_id=None, **kwargs) -> None:
        self.events.append(("text", text, run_id == self.tool_run))

    def on_chain_start(self, *args, run_id, parent_run_id=None, **kwargs) -> None:
        self.events.append(("chain_start", parent_run_id == self.tool_run))

    def on_tool_end(self, *args, run_id, **kwargs) -> None:
        self.events.append(("tool_end", run_id == self.tool_run))


def test_a_tools_own_run_gets_its_run_manager_in_the_worker(processes):
    plain, remote = RunEvents(), RunEvents()
    assert Narrating().invoke({"text": "maze"}, {"callbacks": [plain]}) == "MAZE"
    twin = remote_tool(Narrating(), runtime=processes, kind="cpu")
    assert twin.invoke({"text": "maze"}, {"callbacks": [remote]}) == "MAZE"  # was None
    assert plain.events == [
        ("tool_start", None),
        ("text", "working on maze", True),
        ("chain_start", True),
        ("tool_end", True),
    ]
    assert remote.events == plain.events


@lc_tool
def spell(word: str, runtime: ToolRuntime) -> str:
    """Spell a word, one letter at a time on the tools stream."""
    for letter in word:
        runtime.emit_output_delta(letter)
    return word.upper()


def tool_events(agent: Any) -> list[tuple[str, Any]]:
    chunks = agent.stream({"messages": [("user", "spell")]}, stream_mode="tools")
    return [(chunk["event"], chunk.get("delta")) for chunk in chunks]


def test_output_deltas_of_a_remote_tool_reach_the_tools_stream(processes):
    from langchain.agents import create_agent as make_agent

    calls = [{"name": "spell", "args": {"word": "maze"}}]
    plain = tool_events(make_agent(ScriptedChatModel(calls=calls), [spell]))
    twin = remote_tool(spell, runtime=processes, kind="cpu")
    remote = tool_events(make_agent(ScriptedChatModel(calls=calls), [twin]))
    assert plain[1:5] == [("tool-output-delta", letter) for letter in "maze"]
    assert remote == plain  # the deltas were lost in the worker
