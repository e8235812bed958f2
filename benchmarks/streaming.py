"""Token streaming from a node, plain LangGraph against distributed, same run.

A one-node graph whose node calls a chat model that streams 50 chunks 20 ms apart, read
with ``stream_mode="messages"``: the time to the first token and to the end, and whether
the chunk sequence (content, order, node) is the one plain LangGraph gives. Distributed on
local processes (a worker process: the node's callback events over its pipes) and on Ray
(through the runtime's relay actor). Runs of the three take turns; figures are medians with
their ranges. Then the channel's own cost: a call emitting 10,000 events to a handler that
does nothing, against the same call emitting none, per event (wall and caller-process CPU).

What it leaves out: a real model's network time (the 20 ms pacing stands for it), and
async graphs (the same channel, read by the runtime's reader thread).

    python benchmarks/streaming.py [--runs N] [--skip-ray] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from typing import Any, TypedDict

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langgraph.graph import START, StateGraph
from rich.console import Console
from rich.table import Table

from maze_core import LocalRuntime, Remote
from maze_core.run.worker import channel
from maze_langgraph import distribute

CHUNKS, PACE_S = 50, 0.02


class PacedChatModel(BaseChatModel):
    """Streams ``CHUNKS`` words, ``PACE_S`` apart (as a provider's tokens arrive)."""

    @property
    def _llm_type(self) -> str:
        return "paced"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        for i in range(CHUNKS):
            time.sleep(PACE_S)
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=f"w{i} "))
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


class Chat(TypedDict):
    answer: str


def answer(state: Chat) -> dict:
    return {"answer": PacedChatModel().invoke("go").content}


def graph() -> Any:
    builder = StateGraph(Chat)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile()


def measure(compiled: Any) -> tuple[float, float, list[tuple[str, str]]]:
    """(seconds to the first message chunk, seconds to the end, the chunks); with no
    chunk at all, the first comes at the end."""
    start = time.perf_counter()
    first, chunks = None, []
    for message, meta in compiled.stream({"answer": ""}, stream_mode="messages"):
        first = first if first is not None else time.perf_counter() - start
        chunks.append((str(message.content), meta["langgraph_node"]))
    total = time.perf_counter() - start
    return first if first is not None else total, total, chunks


def emitting(n: int) -> int:
    link = channel.link()
    for i in range(n):
        if link is not None:
            link.emit(i)
    return n


class Ignore:
    def event(self, message: Any) -> None:
        pass

    def serve(self, request: Any) -> Any:
        return None


def channel_cost(runtime: LocalRuntime, n: int) -> tuple[float, float]:
    """Wall and caller-CPU µs per event forwarded (best of 3, minus a call with none)."""
    remote = Remote(emitting, name="emitting", runtime=runtime)

    def timed(count: int) -> tuple[float, float]:
        start, cpu = time.perf_counter(), time.process_time()
        remote.call((count,), handler=Ignore())
        return time.perf_counter() - start, time.process_time() - cpu

    remote.call((10,), handler=Ignore())  # a warm worker
    base = min(timed(0) for _ in range(3))
    full = min(timed(n) for _ in range(3))
    return (full[0] - base[0]) / n * 1e6, (full[1] - base[1]) / n * 1e6


def main() -> None:
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    local = LocalRuntime("processes", cpus=2)
    sides: dict[str, Any] = {"plain": graph(), "processes": distribute(graph(), local)}
    ray_runtime = None
    if not args.skip_ray:
        from maze_core.run.ray import RayRuntime

        ray_runtime = RayRuntime(num_cpus=2, include_dashboard=False)
        sides["ray"] = distribute(graph(), ray_runtime)
    for compiled in sides.values():
        measure(compiled)  # warm: workers, imports
    figures: dict[str, dict[str, Any]] = {side: {"first": [], "total": []} for side in sides}
    expected = measure(sides["plain"])[2]
    for _ in range(args.runs):
        for side, compiled in sides.items():
            first, total, chunks = measure(compiled)
            figures[side]["chunks"] = len(chunks)
            figures[side]["first"].append(first)
            figures[side]["total"].append(total)
            figures[side]["same"] = figures[side].get("same", True) and chunks == expected
    per_event = channel_cost(local, 10_000)
    local.close()
    if ray_runtime is not None:
        ray_runtime.close()

    table = Table(title=f"Token streaming, {CHUNKS} chunks {PACE_S * 1000:.0f} ms apart")
    for column in ("side", "first token s", "range", "+ plain ms", "total s", "same chunks"):
        table.add_column(column, justify="right")
    plain_first = statistics.median(figures["plain"]["first"])
    for side, row in figures.items():
        first = statistics.median(row["first"])
        row.update(first_median=first, total_median=statistics.median(row["total"]))
        table.add_row(
            side,
            f"{first:.3f}",
            f"{min(row['first']):.3f}-{max(row['first']):.3f}",
            f"{(first - plain_first) * 1000:+.1f}",
            f"{row['total_median']:.3f}",
            "yes" if row["same"] else f"no: {row['chunks']} of {len(expected)}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"channel, local processes: {per_event[0]:.1f} µs wall, {per_event[1]:.1f} µs"
        " caller CPU per forwarded event"
    )
    if args.json:
        machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
        out = {"sides": figures, "per_event_us": per_event, "machine": machine}
        with open(args.json, "w") as handle:
            json.dump(out, handle, indent=2)


if __name__ == "__main__":
    main()
