"""Many agents sharing a rate-limited model provider: whose call goes next, daps or FIFO.

50 agent invocations start 0.02 s apart; each is a LangGraph loop of model calls (a fake
model waiting ``--latency`` s a call): 70% short conversations (2 calls), 30% long (7 calls).
The provider serves 4 calls at once. Distributed with ``providers={"model": "llm"}`` on a
runtime with ``limits={"llm": 4}``, every model call is a Maze task holding one unit of
that limit, and the policy decides whose call goes next: ``fcfs`` is the provider's own
first-in-first-out order (what the same agents get without Maze), ``daps`` ranks the
calls of all invocations by invocation age and predicted remaining work. Latency of each
invocation, P50 and P95, both policies in the same run, in turns, over ``--rounds`` rounds.

What it leaves out: a real provider (its latency is a sleep, constant), what the model node
does besides waiting, and any knowledge of how long a conversation will be (daps does not
know which invocations are short: the graph's structure is the same for all).

    python benchmarks/provider_limits.py [--json OUT] [--rounds N] [--latency S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from typing import TypedDict

from rich.console import Console
from rich.table import Table

INVOCATIONS = 50
EVERY_S = 0.02
LIMIT = 4


class Chat(TypedDict):
    turns: int


def model(state: Chat) -> dict:
    time.sleep(LATENCY_S[0])
    return {"turns": state["turns"] - 1}


LATENCY_S = [0.1]


def agent_graph():
    from langgraph.graph import END, START, StateGraph

    builder = StateGraph(Chat)
    builder.add_node("model", model)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", lambda s: "model" if s["turns"] > 0 else END)
    return builder.compile()


def lengths() -> list[int]:
    """Calls per invocation: every third-or-so is long, spread over the arrivals."""
    return [7 if i % 10 in (2, 5, 8) else 2 for i in range(INVOCATIONS)]


def latencies(policy: str) -> list[float]:
    from maze_core import LocalRuntime
    from maze_langgraph import distribute

    with LocalRuntime("threads", cpus=2, limits={"llm": LIMIT}, policy=policy) as runtime:
        graph = distribute(agent_graph(), runtime, providers={"model": "llm"})
        done: list[float] = [0.0] * INVOCATIONS

        def invoke(i: int, turns: int) -> None:
            start = time.perf_counter()
            graph.invoke({"turns": turns})
            done[i] = time.perf_counter() - start

        threads = []
        for i, turns in enumerate(lengths()):
            thread = threading.Thread(target=invoke, args=(i, turns))
            thread.start()
            threads.append(thread)
            time.sleep(EVERY_S)
        for thread in threads:
            thread.join()
    return done


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-provider-limits.json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    LATENCY_S[0] = args.latency
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    rounds: dict[str, list[dict[str, float]]] = {"daps": [], "fcfs": []}
    for _ in range(args.rounds):
        for policy in rounds:
            values = latencies(policy)
            rounds[policy].append({"p50_s": quantile(values, 0.5), "p95_s": quantile(values, 0.95)})
    title = (
        f"{INVOCATIONS} agents, {LIMIT} calls at once to one provider"
        f" ({args.latency:g} s a call), {args.rounds} rounds"
    )
    table = Table(title=title)
    for column in ("round", "P50 daps / fcfs", "P95 daps / fcfs", "P50 ratio", "P95 ratio"):
        table.add_column(column, justify="right")
    for i, (daps, fcfs) in enumerate(zip(rounds["daps"], rounds["fcfs"], strict=True)):
        table.add_row(
            str(i + 1),
            f"{daps['p50_s']:.2f} / {fcfs['p50_s']:.2f} s",
            f"{daps['p95_s']:.2f} / {fcfs['p95_s']:.2f} s",
            f"{daps['p50_s'] / fcfs['p50_s']:.2f}",
            f"{daps['p95_s'] / fcfs['p95_s']:.2f}",
        )
    Console(width=120).print(table)
    medians = {
        policy: {key: statistics.median(r[key] for r in runs) for key in ("p50_s", "p95_s")}
        for policy, runs in rounds.items()
    }
    with open(args.json, "w") as out:
        json.dump({"rounds": rounds, "medians": medians}, out, indent=2)


if __name__ == "__main__":
    main()
