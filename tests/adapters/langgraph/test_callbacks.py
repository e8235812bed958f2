"""Callback events of what runs inside a remote node reach the caller's handlers as they
happen: token streams, usage totals, the user's own handlers (plain against distributed)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypedDict

import pytest

pytest.importorskip("langgraph")

from langchain_core.callbacks import BaseCallbackHandler, get_usage_metadata_callback
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import START, StateGraph, add_messages
from langgraph.graph.message import push_message

from maze_langgraph import distribute

USAGE = {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}


class Chat(TypedDict):
    answer: str


def ask_model(state: Chat) -> dict:
    """A node calling a chat model that streams one chunk per word (made here: fresh)."""
    reply = AIMessage(
        content="maze runs every node where it runs best",
        usage_metadata=USAGE,
        response_metadata={"model_name": "fake-chat"},
    )
    model = GenericFakeChatModel(messages=iter([reply]))
    return {"answer": model.invoke("go").content}


def chat_graph():
    builder = StateGraph(Chat)
    builder.add_node("ask_model", ask_model)
    builder.add_edge(START, "ask_model")
    return builder.compile()


def tokens(chunks: list[Any]) -> list[tuple[str, str, str]]:
    return [(type(m).__name__, m.content, meta["langgraph_node"]) for m, meta in chunks]


def test_stream_mode_messages_gives_the_same_token_chunks(processes):
    plain = list(chat_graph().stream({"answer": ""}, stream_mode="messages"))
    remote = list(
        distribute(chat_graph(), processes).stream({"answer": ""}, stream_mode="messages")
    )
    assert len(tokens(plain)) > 5  # one chunk per word and space
    assert tokens(remote) == tokens(plain)


def test_async_stream_mode_messages_gives_the_same_token_chunks(processes):
    async def collect(graph):
        return [chunk async for chunk in graph.astream({"answer": ""}, stream_mode="messages")]

    plain = asyncio.run(collect(chat_graph()))
    remote = asyncio.run(collect(distribute(chat_graph(), processes)))
    assert tokens(remote) == tokens(plain)


def test_usage_callbacks_count_the_tokens_of_remote_model_calls(processes):
    with get_usage_metadata_callback() as plain:
        chat_graph().invoke({"answer": ""})
    with get_usage_metadata_callback() as remote:
        distribute(chat_graph(), processes).invoke({"answer": ""})
    assert remote.usage_metadata == plain.usage_metadata
    assert sum(u["total_tokens"] for u in remote.usage_metadata.values()) == 12


class Recorder(BaseCallbackHandler):
    """The user's own handler: the events it sees, and the parent of each model run."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.chain_runs: set[Any] = set()
        self.model_parents: list[bool] = []

    def on_chain_start(self, serialized, inputs, *, run_id, **kwargs) -> None:
        self.events.append("chain_start")
        self.chain_runs.add(run_id)

    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kw):
        self.events.append("chat_model_start")
        self.model_parents.append(parent_run_id in self.chain_runs)

    def on_llm_end(self, response, **kwargs) -> None:
        self.events.append("llm_end")

    def on_chain_end(self, outputs, **kwargs) -> None:
        self.events.append("chain_end")


def test_a_user_handler_sees_the_same_events_under_the_same_parents(processes):
    plain, remote = Recorder(), Recorder()
    chat_graph().invoke({"answer": ""}, {"callbacks": [plain]})
    distribute(chat_graph(), processes).invoke({"answer": ""}, {"callbacks": [remote]})
    assert "chat_model_start" in plain.events
    assert remote.events == plain.events
    assert remote.model_parents == plain.model_parents == [True]  # under the node's run


def test_astream_events_names_the_same_events(processes):
    async def names(graph):
        return [
            (event["event"], event["name"])
            async for event in graph.astream_events({"answer": ""}, version="v2")
        ]

    plain = asyncio.run(names(chat_graph()))
    remote = asyncio.run(names(distribute(chat_graph(), processes)))
    assert ("on_chat_model_stream", "GenericFakeChatModel") in plain
    assert remote == plain


def test_token_chunks_and_usage_come_through_ray_too(ray_runtime):
    plain = list(chat_graph().stream({"answer": ""}, stream_mode="messages"))
    remote = distribute(chat_graph(), ray_runtime)
    assert tokens(list(remote.stream({"answer": ""}, stream_mode="messages"))) == tokens(plain)
    with get_usage_metadata_callback() as usage:
        remote.invoke({"answer": ""})
    assert sum(u["total_tokens"] for u in usage.usage_metadata.values()) == 12


class Messages(TypedDict):
    messages: Annotated[list, add_messages]


def test_a_pushed_message_reaches_the_messages_stream_as_plain(processes):
    def node(state: Messages) -> dict:
        push_message(AIMessage(content="pushed", id="m-1"))
        return {}

    builder = StateGraph(Messages).add_node("node", node).add_edge(START, "node")
    plain = builder.compile()

    def streamed(graph) -> list[tuple[str, str]]:
        chunks = graph.stream({"messages": []}, stream_mode="messages")
        return [(message.content, meta["langgraph_node"]) for message, meta in chunks]

    assert streamed(plain) == [("pushed", "node")]
    assert streamed(distribute(plain, processes)) == streamed(plain)
