"""A tool-calling LangChain agent whose parallel tool calls run as Maze tasks.

The agent (``langchain.agents.create_agent``) gets a question; its model, a deterministic
scripted one (offline, no API key), answers with four tool calls in one message: two
lookups that wait on a (simulated) remote service and two CPU-bound computations. Plain
LangChain runs them on threads, where the CPU-bound pair takes turns on the GIL; with
``MazeToolMiddleware`` each call is a Maze task: lookups on I/O threads, computations in two
worker processes. The agent's own code is unchanged: the middleware is the only addition.

    python examples/langchain_agent.py [--timeline FILE]
"""

from __future__ import annotations

import argparse
import os
import time

from langchain.agents import create_agent
from langchain_core.tools import tool

from maze_core import LocalRuntime
from maze_core.timeline import Recorder
from maze_langchain import MazeToolMiddleware
from maze_langchain.testing import ScriptedChatModel


@tool
def lookup(city: str) -> str:
    """The weather in a city (from a remote service: it takes a while to answer)."""
    time.sleep(0.4)
    return f"{city}: 14 C, light rain (pid {os.getpid()})"


@tool
def primes_below(limit: int) -> str:
    """How many primes there are below ``limit`` (pure-Python CPU work)."""
    sieve = bytearray([1]) * limit
    sieve[:2] = b"\x00\x00"
    for n in range(2, int(limit**0.5) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytearray(len(range(n * n, limit, n)))
    count = sum(1 for n in range(limit) if sieve[n])  # a slow, GIL-holding loop on purpose
    return f"{count} primes below {limit} (pid {os.getpid()})"


CALLS = [
    {"name": "lookup", "args": {"city": "Lisbon"}},
    {"name": "lookup", "args": {"city": "Zurich"}},
    {"name": "primes_below", "args": {"limit": 10_000_000}},
    {"name": "primes_below", "args": {"limit": 10_000_001}},
]


def ask(agent) -> tuple[float, str]:
    start = time.perf_counter()
    answer = agent.invoke({"messages": [("user", "weather and primes, please")]})
    return time.perf_counter() - start, answer["messages"][-1].content


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeline", help="write the tool tasks here (Chrome trace JSON)")
    args = parser.parse_args()
    model, tools = ScriptedChatModel(calls=CALLS), [lookup, primes_below]
    plain_s, _ = ask(create_agent(model, tools))
    recorder = Recorder()
    with LocalRuntime("processes", cpus=2, plugins=[recorder]) as runtime:
        middleware = MazeToolMiddleware(runtime=runtime, kinds={"lookup": "io"})
        agent = create_agent(model, tools, middleware=[middleware])  # the one change
        ask(agent)  # starts the worker processes
        maze_s, answer = ask(agent)
    print(answer.replace("; ", "\n  "))
    print(f"\nplain LangChain: {plain_s:.2f} s; tool calls as Maze tasks: {maze_s:.2f} s")
    if args.timeline:
        recorder.write(args.timeline)
        print(f"timeline: {args.timeline} (open it in https://ui.perfetto.dev)")


if __name__ == "__main__":
    main()
