"""A short-lived process (a script, a test file): a 5-node LangGraph graph of trivial nodes
invoked 100 times, plain then distributed with default arguments, in a fresh interpreter
per sample. Wall and process CPU of the 100 invocations, each side measured in the same
process. What a user of many small scripts (or LangGraph's own test files) pays: the
runtime's start is not counted, its learning during the invocations is.

Leaves out: graphs whose nodes compute (they move to workers once learned) and imports.

    python benchmarks/short_lived.py [--samples 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from rich.console import Console
from rich.table import Table

SAMPLE = """
import json, operator, time
from typing import Annotated, TypedDict
from langgraph.graph import START, StateGraph
from maze_core import LocalRuntime
from maze_langgraph import distribute

class State(TypedDict):
    x: Annotated[list, operator.add]

def graph():
    builder = StateGraph(State)
    for i in range(5):
        builder.add_node(f"n{i}", lambda state, i=i: {"x": [i]})
    builder.add_edge(START, "n0")
    for i in range(4):
        builder.add_edge(f"n{i}", f"n{i + 1}")
    return builder.compile()

def timed(compiled):
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(100):
        compiled.invoke({"x": []})
    return time.perf_counter() - wall, time.process_time() - cpu

plain = timed(graph())
with LocalRuntime("processes", cpus=2) as runtime:
    distributed = timed(distribute(graph(), runtime))
print(json.dumps({"plain": plain, "distributed": distributed}))
"""


def sample() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [sys.executable, "-c", SAMPLE],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "MAZE_HOME": home},
            timeout=300,
        )
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--json", help="write the samples to this file")
    args = parser.parse_args()
    samples = [sample() for _ in range(args.samples)]
    table = Table(title=f"100 invocations of a 5-node graph, {args.samples} fresh processes")
    for column in ("side", "wall s (median)", "wall s (range)", "CPU s (median)"):
        table.add_column(column, justify="right")
    for side in ("plain", "distributed"):
        walls = [s[side][0] for s in samples]
        cpus = [s[side][1] for s in samples]
        table.add_row(
            side,
            f"{statistics.median(walls):.3f}",
            f"{min(walls):.3f}-{max(walls):.3f}",
            f"{statistics.median(cpus):.3f}",
        )
    ratios = [s["distributed"][0] / s["plain"][0] for s in samples]
    Console().print(table)
    print(f"distributed / plain (wall): {min(ratios):.2f}-{max(ratios):.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"samples": samples, "ratios": ratios}, out, indent=2)


if __name__ == "__main__":
    main()
