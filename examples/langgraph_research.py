"""A LangGraph research agent, distributed by Maze with one line.

    plan ──Send──> summarise (one per document, in parallel) ──> draft ──> route
                                                                  ▲          │ too short
                                                                  └─ expand ─┤
                                                                             │ long enough
                                                              approve (human, interrupt) ──> publish

``plan`` picks the documents of a small built-in corpus that mention the topic and fans out one
``summarise`` per document (``Send``, map-reduce); each summary is CPU work (keywords by
TF-IDF, the sentence that carries most of them). ``draft`` asks a deterministic scripted chat
model (offline, no API key) to write the report from the summaries; a router sends a draft
that is too short back through ``expand`` once; ``approve`` stops for a human's verdict
(``interrupt``), and the script answers for them (``--ask`` to answer yourself).

The graph is plain LangGraph. ``distribute(graph)`` is the one line that makes every node run a
Maze task in a worker process: same results, checkpoints and interrupts.

    python examples/langgraph_research.py [--topic scheduling] [--ask] [--timeline FILE]
"""

from __future__ import annotations

import argparse
import math
import operator
import os
import re
import uuid
from collections import Counter
from typing import Annotated, Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, Send, interrupt

from maze_core import LocalRuntime
from maze_core.timeline import Recorder
from maze_langgraph import distribute

CORPUS = {
    "dask": "Dask schedules task graphs on a cluster. The scheduler assigns each task to "
    "a worker that holds its inputs, which keeps data movement low. Work stealing moves "
    "queued tasks from busy workers to idle ones.",
    "ray": "Ray runs tasks and actors on a cluster of nodes. Each node has a raylet that "
    "schedules tasks locally and spills them to other nodes when resources are short. "
    "Objects live in a shared-memory object store and move between nodes on demand.",
    "heft": "HEFT ranks tasks by their upward rank, the longest path of predicted work to the "
    "end of the graph, and places each task on the processor that finishes it earliest. "
    "Good duration predictions make the schedule good.",
    "agents": "Agent frameworks run every step of an agent in one process. Model calls, tool "
    "calls and parsing queue behind each other there, while other machines sit idle. "
    "Task-level scheduling lets the steps of many agents share a cluster.",
    "gpus": "GPU memory is the scarce resource of model serving. Loading a model takes "
    "seconds to minutes, so a scheduler should send work to where the model is already "
    "resident and keep the GPU busy.",
    "cooking": "Bread needs flour, water, salt and time. The dough rises while you wait.",
}
WORD = re.compile(r"[a-z][a-z\-]{2,}")
STOP = frozenset(["the", "and", "that", "its", "are", "each", "with", "from", "where", "while"])


class Research(TypedDict, total=False):
    topic: str
    documents: list[str]
    summaries: Annotated[list[dict[str, Any]], operator.add]
    draft: str
    expanded: bool
    verdict: str
    report: str


class OutlineModel(BaseChatModel):
    """A deterministic stand-in for an LLM: writes a report from the bullet lines it is given
    (one paragraph per bullet, the topic as the title). Offline, no API key."""

    @property
    def _llm_type(self) -> str:
        return "outline"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = str(messages[-1].content)
        title = prompt.splitlines()[0].removeprefix("Topic: ")
        bullets = [line[2:] for line in prompt.splitlines() if line.startswith("- ")]
        body = "\n\n".join(f"{bullet}" for bullet in bullets)
        text = f"# {title.title()}\n\n{body}"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


MODEL = OutlineModel()


def words(text: str) -> list[str]:
    return [w for w in WORD.findall(text.lower()) if w not in STOP]


def plan(state: Research) -> Command:
    topic = set(words(state["topic"]))
    chosen = [name for name, text in CORPUS.items() if topic & set(words(text))]
    sends = [Send("summarise", {"topic": state["topic"], "documents": [name]}) for name in chosen]
    return Command(update={"documents": chosen}, goto=sends or [Send("draft", state)])


def summarise(state: Research) -> dict:
    """CPU work: keywords by TF-IDF against the corpus, and the sentence richest in them."""
    name = state["documents"][0]
    text = CORPUS[name]
    counts = Counter(words(text))
    seen_in = Counter(w for doc in CORPUS.values() for w in set(words(doc)))
    weight = {w: n * math.log(len(CORPUS) / seen_in[w]) for w, n in counts.items()}
    keywords = sorted(weight, key=lambda w: (-weight[w], w))[:4]
    sentences = re.split(r"(?<=\.)\s+", text)
    best = max(sentences, key=lambda s: sum(weight.get(w, 0.0) for w in words(s)))
    return {"summaries": [{"document": name, "keywords": keywords, "sentence": best}]}


def draft(state: Research) -> dict:
    summaries = sorted(state.get("summaries", []), key=lambda s: s["document"])
    bullets = [
        f"- {s['sentence']} (from {s['document']}: {', '.join(s['keywords'])})" for s in summaries
    ]
    reply = MODEL.invoke("\n".join([f"Topic: {state['topic']}", *bullets]))
    return {"draft": str(reply.content)}


def route(state: Research) -> str:
    long_enough = len(state["draft"].split()) >= 60
    return "approve" if long_enough or state.get("expanded") else "expand"


def expand(state: Research) -> dict:
    """Add every document's remaining sentences to the summaries (once)."""
    extra = [
        {"document": s["document"], "keywords": s["keywords"], "sentence": rest}
        for s in state.get("summaries", [])
        for rest in re.split(r"(?<=\.)\s+", CORPUS[s["document"]])
        if rest != s["sentence"]
    ]
    return {"summaries": extra, "expanded": True}


def approve(state: Research) -> dict:
    verdict = interrupt({"question": "Publish this report?", "draft": state["draft"]})
    return {"verdict": str(verdict)}


def publish(state: Research) -> dict:
    if not state["verdict"].startswith("approve"):
        return {"report": f"(not published: {state['verdict']})"}
    return {"report": state["draft"] + f"\n\n_Approved: {state['verdict']}, pid {os.getpid()}._"}


def build_graph() -> Any:
    builder = StateGraph(Research)
    builder.add_node("plan", plan, destinations=("summarise", "draft"))
    builder.add_node("summarise", summarise)
    builder.add_node("draft", draft)
    builder.add_node("expand", expand)
    builder.add_node("approve", approve)
    builder.add_node("publish", publish)
    builder.add_edge(START, "plan")
    builder.add_edge("summarise", "draft")
    builder.add_conditional_edges("draft", route, ["approve", "expand"])
    builder.add_edge("expand", "draft")
    builder.add_edge("approve", "publish")
    builder.add_edge("publish", END)
    return builder.compile(checkpointer=InMemorySaver())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default="scheduling tasks on a cluster")
    parser.add_argument("--ask", action="store_true", help="answer the approval yourself")
    parser.add_argument("--timeline", help="write every node task here (Chrome trace JSON)")
    args = parser.parse_args()
    recorder = Recorder()
    with LocalRuntime("processes", plugins=[recorder]) as runtime:
        graph = distribute(build_graph(), runtime)  # the one line
        config = {"configurable": {"thread_id": str(uuid.uuid4())}}
        state = graph.invoke({"topic": args.topic}, config)
        question = state["__interrupt__"][0].value
        print(f"{question['question']}\n\n{question['draft']}\n")
        answer = input("approve / reject: ") if args.ask else "approve (by the script)"
        state = graph.invoke(Command(resume=answer), config)
    print(state["report"])
    print(f"\nsummarised in parallel: {', '.join(state['documents'])}")
    print(f"node tasks run by Maze: {len(recorder.slices)} (local nodes: {graph.maze_local_nodes})")
    if args.timeline:
        recorder.write(args.timeline)
        print(f"timeline: {args.timeline} (open it in https://ui.perfetto.dev)")


if __name__ == "__main__":
    main()
