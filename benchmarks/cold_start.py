"""What a new process pays before Maze's first result, against its peers in the same run.

Every sample is a fresh interpreter, so nothing is cached in memory; samples of the cases
are taken in turns, so a slow phase of the machine hits every case alike. Cases:

* ``import maze_core`` and ``import maze_langgraph`` beside ``import langgraph.graph``
  (what a LangGraph user imports anyway): wall and CPU seconds of the import alone.
* A fan-out of 4 I/O tasks of 0.3 s: from before ``import`` to the run's result (all four
  done), and from the end of the imports (``after imports``: what the run itself costs),
  with ``wf.run()`` on the shared local runtime, beside a ``ThreadPoolExecutor`` running
  the same four calls. Maze runs with a fresh ``MAZE_HOME`` (no history) and a
  warm one (saved models of the tools, with their online learners).
* A one-node LangGraph graph invoked once: plain, and through ``distribute()`` (the shared
  local processes runtime, so its first worker process starts inside the figure).

What it leaves out: the interpreter's own start (the same for every case, measured as
``python -c pass``), the disk cache (warm after the first sample), bytecode compilation
(Maze's modules are compiled first, as ``pip install`` compiles LangGraph's: from an
editable checkout, or with ``PYTHONDONTWRITEBYTECODE`` set, every sample would otherwise
compile Maze's sources, about 0.1 s, and none of LangGraph's), and Ray.

    python benchmarks/cold_start.py [--samples N] [--json OUT]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap

from rich.console import Console
from rich.table import Table

ONE_NODE = """
    from typing import TypedDict
    from langgraph.graph import StateGraph
    {maze}
    mark()
    class S(TypedDict):
        x: int
    builder = StateGraph(S)
    builder.add_node("double", lambda s: {{"x": 2 * s["x"]}})
    builder.set_entry_point("double")
    graph = {wrap}(builder.compile())
    assert graph.invoke({{"x": 2}}) == {{"x": 4}}
    """
CASES = {
    "python -c pass": "",
    "import langgraph.graph": "import langgraph.graph",
    "import maze_core": "import maze_core",
    "import maze_langgraph": "import maze_langgraph",
    "fan-out, ThreadPoolExecutor": """
        from concurrent.futures import ThreadPoolExecutor
        mark()
        def fetch(i):
            time.sleep(0.3)
            return i
        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(fetch, range(4))) == [0, 1, 2, 3]
        """,
    "fan-out, Maze (fresh MAZE_HOME)": """
        from maze_core import Workflow, tool
        mark()
        @tool(kind="io")
        def fetch(i: int) -> int:
            time.sleep(0.3)
            return i
        wf = Workflow("fanout")
        refs = [wf.add(fetch, i) for i in range(4)]
        result = wf.run()
        assert [result[r] for r in refs] == [0, 1, 2, 3]
        """,
    "1-node graph, plain LangGraph": ONE_NODE.format(maze="", wrap=""),
    "1-node graph, distributed": ONE_NODE.format(
        maze="from maze_langgraph import distribute", wrap="distribute"
    ),
}
WARM = "fan-out, Maze (warm MAZE_HOME)"

PROBE = """
import time
_wall, _cpu = time.perf_counter(), time.process_time()
_marked = [_wall]
def mark():  # where the imports end
    _marked[0] = time.perf_counter()
{body}
import json, os
_end = time.perf_counter()
print(json.dumps({{"wall": _end - _wall, "cpu": time.process_time() - _cpu,
                   "after_imports": _end - _marked[0]}}))
os._exit(0)  # the figure ends with the result: not with the runtime's exit hooks
"""


PACKAGES = ("maze_core", "maze_langgraph", "maze_langchain")


def compile_packages() -> None:
    """Write the bytecode of Maze's packages, as installing them from a wheel would."""
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in (spec and spec.submodule_search_locations) or ():
            compileall.compile_dir(folder, quiet=1)


def child_env(home: str) -> dict[str, str]:
    env = {**os.environ, "MAZE_HOME": home}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def sample(body: str, home: str) -> dict[str, float]:
    code = PROBE.format(body=textwrap.dedent(body))
    env = child_env(home)
    # files, not pipes: a sample ends with its interpreter, whatever its children do
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            [sys.executable, "-c", code], stdout=out, stderr=err, env=env, timeout=300
        )
        out.seek(0), err.seek(0)
        if done.returncode != 0:
            raise SystemExit(f"a sample failed:\n{err.read()[-3000:]}")
        figures: dict[str, float] = json.loads(out.read().strip().splitlines()[-1])
    return figures


def warm_home() -> str:
    """A MAZE_HOME whose history knows the fan-out's tool (saved models included)."""
    home = tempfile.mkdtemp(prefix="maze-cold-warm-")
    body = CASES["fan-out, Maze (fresh MAZE_HOME)"].replace("0.3", "0.01")
    code = (
        "import time\nmark = print\n"
        + textwrap.dedent(body)
        + "\nfor _ in range(40):\n    wf.run()\n"
    )
    subprocess.run([sys.executable, "-c", code], env=child_env(home), check=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()

    compile_packages()
    warm = warm_home()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in [*CASES, WARM]}
    for _ in range(args.samples):
        for name, body in CASES.items():
            runs[name].append(sample(body, tempfile.mkdtemp(prefix="maze-cold-")))
        runs[WARM].append(sample(CASES["fan-out, Maze (fresh MAZE_HOME)"], warm))

    table = Table(
        title=f"Cold start: a fresh interpreter per sample, {args.samples} samples, medians"
    )
    columns = ("case", "wall s", "wall s (range)", "CPU s", "CPU s (range)", "after imports s")
    for column in columns:
        table.add_column(column, justify="right")
    summary = {}
    for name, samples in runs.items():
        walls = [s["wall"] for s in samples]
        cpus = [s["cpu"] for s in samples]
        after = [s["after_imports"] for s in samples]
        summary[name] = {"wall": walls, "cpu": cpus, "after_imports": after}
        table.add_row(
            name,
            f"{statistics.median(walls):.3f}",
            f"{min(walls):.3f}-{max(walls):.3f}",
            f"{statistics.median(cpus):.3f}",
            f"{min(cpus):.3f}-{max(cpus):.3f}",
            f"{statistics.median(after):.3f} ({min(after):.3f}-{max(after):.3f})",
        )
    Console(width=120).print(table)
    lg = statistics.median(summary["import langgraph.graph"]["wall"])
    mlg = statistics.median(summary["import maze_langgraph"]["wall"])
    print(f"import maze_langgraph - import langgraph.graph: {mlg - lg:+.3f} s (median)")
    if args.json:
        figures = {"cpus": os.cpu_count(), "python": platform.python_version(), "cases": summary}
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
