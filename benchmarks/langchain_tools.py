"""One agent turn with 4 parallel tool calls, plain LangChain against MazeToolMiddleware().

The scripted model asks for 2 I/O-like tools (0.5 s sleeps) and 2 CPU-bound pure-Python
tools (~0.5 s each) in one message. Plain ``create_agent`` runs the calls on threads, where
the two CPU-bound ones take turns on the GIL. ``MazeToolMiddleware()`` runs with its
defaults (no kinds, no resources; the shared local processes runtime): it learns in the
warm-up turns that ``crunch`` computes, which then runs in worker processes, and that
``fetch`` waits, which runs in the caller holding no CPU slot. Both sides are timed in the
same run, in turns (best of --rounds each), after 3 warm-up turns of the middleware's agent
and once MaLearn's background import of river is done (``cold_start.py`` measures that).

    python benchmarks/langchain_tools.py [--json OUT] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from langgraph_fanout import HALF_SECOND, spin  # a sibling script
from rich.console import Console
from rich.table import Table


def fetch(source: str) -> str:
    """Wait 0.5 s for a remote source, as an HTTP call or a model endpoint would."""
    time.sleep(0.5)
    return f"{source}: ok"


def crunch(seed: int) -> str:
    """~0.5 s of pure-Python work (holds the GIL)."""
    return f"{seed}: {spin(HALF_SECOND)}"


def agent(middleware: list):
    from langchain.agents import create_agent
    from langchain_core.tools import tool

    from maze_langchain.testing import ScriptedChatModel

    calls = [{"name": "fetch", "args": {"source": f"s{i}"}} for i in range(2)]
    calls += [{"name": "crunch", "args": {"seed": i}} for i in range(2)]
    model = ScriptedChatModel(calls=calls)
    return create_agent(model, [tool(fetch), tool(crunch)], middleware=middleware)


def turn(graph) -> float:
    start = time.perf_counter()
    messages = graph.invoke({"messages": [("user", "go")]})["messages"]
    assert sum(m.type == "tool" for m in messages) == 4
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-langchain-tools.json")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-bench-"))
    from maze_core.predict.model import import_river_now
    from maze_langchain import MazeToolMiddleware

    middleware = MazeToolMiddleware()
    plain, maze = agent([]), agent([middleware])
    for _ in range(3):  # Maze learns where each tool runs best
        turn(maze)
    import_river_now()  # steady state: not MaLearn's one-off background import (1-2 CPU-s)
    plain_s = maze_s = float("inf")
    for _ in range(args.rounds):
        plain_s, maze_s = min(plain_s, turn(plain)), min(maze_s, turn(maze))
    kinds = {name: kind for name, (kind, _) in middleware.runtime.kinds.known().items()}

    start = time.perf_counter()
    crunch(0)
    alone_s = time.perf_counter() - start
    table = Table(title="One agent turn, 4 parallel tool calls (2 I/O x 0.5 s, 2 CPU x 0.5 s)")
    for column in ("", "plain create_agent", "MazeToolMiddleware()", "Maze / plain"):
        table.add_column(column, justify="right")
    table.add_row(
        f"wall time, best of {args.rounds} ({os.cpu_count()} cores)",
        f"{plain_s:.2f} s",
        f"{maze_s:.2f} s",
        f"{maze_s / plain_s:.2f}x",
    )
    Console(width=120).print(table)
    print(f"one CPU-bound call alone: {alone_s:.2f} s; learned kinds: {kinds}")
    with open(args.json, "w") as out:
        figures = {"plain_s": plain_s, "maze_s": maze_s, "cpu_call_alone_s": alone_s}
        json.dump({**figures, "ratio": maze_s / plain_s, "kinds": kinds}, out, indent=2)


if __name__ == "__main__":
    main()
