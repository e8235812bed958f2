"""Server mode under many small runs: the shared scheduler against each client scheduling
its own runs (``shared=False``), on the same cluster in the same run.

``maze start --head`` on loopback (a fresh ``MAZE_HOME``, 2 CPUs), then 2 client processes
at once each submit ``--runs`` one-task runs (the shape the LangGraph and LangChain adapters
generate) as fast as they can and wait for them all: submissions per second, completed runs
per second and P50/P95 run latency (submit to result), shared and ``shared=False``, in
alternating order over ``--rounds``. Then one client leaves ``--waiting`` runs waiting
(each sleeps 30 s on a 2-CPU cluster) and ``maze status`` is timed while they wait.

    python benchmarks/server_mode.py [--json OUT] [--runs 1000] [--rounds 2] [--waiting 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    from maze_core import Workflow, tool
    from maze_core.run.ray import RayRuntime
    from maze_core.sim.metrics import percentile

    @tool
    def one(i: int) -> int:
        return i

    @tool
    def nap(i: int) -> int:
        time.sleep(30)
        return i

    address, runs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    runtime = RayRuntime(address=address, shared=mode != "own")
    wf = Workflow("one")
    wf.add(one if mode != "waiting" else nap, wf.input("i"))
    runtime.submit(wf, i=-1).result(timeout=300) if mode != "waiting" else None
    start = time.perf_counter()
    handles = [(runtime.submit(wf, i=i), time.perf_counter()) for i in range(runs)]
    submitted = time.perf_counter() - start
    if mode == "waiting":
        print(json.dumps({"submitted": runs, "submit_s": submitted}), flush=True)
        time.sleep(3600)
    latency = []
    for handle, at in handles:
        assert handle.result(timeout=900).ok
        latency.append(time.perf_counter() - at)
    total = time.perf_counter() - start
    print(json.dumps({
        "runs": runs, "submit_s": submitted, "total_s": total,
        "p50_s": percentile(latency, 50), "p95_s": percentile(latency, 95),
    }))
    runtime.close()
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def maze(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "maze_core", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def clients(script: Path, address: str, runs: int, mode: str, env: dict[str, str]) -> dict:
    """Two clients at once; their figures pooled (rates over the slower one's time)."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), address, str(runs), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    rows = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"a client failed:\n{err[-3000:]}")
        rows.append(json.loads([x for x in out.splitlines() if x.startswith("{")][-1]))
    return {
        "runs": 2 * runs,
        "submits_per_s": 2 * runs / max(r["submit_s"] for r in rows),
        "runs_per_s": 2 * runs / max(r["total_s"] for r in rows),
        "p50_s": max(r["p50_s"] for r in rows),
        "p95_s": max(r["p95_s"] for r in rows),
    }


def waiting_status(script: Path, address: str, waiting: int, env: dict[str, str]) -> dict:
    """``maze status`` timed while ``waiting`` runs wait in the shared scheduler."""
    proc = subprocess.Popen(
        [sys.executable, str(script), address, str(waiting), "waiting"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = ""
        while proc.stdout is not None and not line.startswith("{"):
            line = proc.stdout.readline()  # Ray forwards its own lines to stdout too
            if not line:
                raise SystemExit(f"the waiting client failed:\n{proc.stderr.read()[-3000:]}")
        submitted = json.loads(line)
        time.sleep(5)  # let the service take them in
        times = []
        for _ in range(3):
            began = time.perf_counter()
            shown = maze("status", env=env)
            times.append(time.perf_counter() - began)
            if shown.returncode != 0:
                raise SystemExit(f"maze status failed:\n{shown.stderr[-3000:]}")
        return {"waiting": waiting, "submit_s": submitted["submit_s"], "status_s": times}
    finally:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-server-mode.json")
    parser.add_argument("--runs", type=int, default=1000, help="runs per client")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--waiting", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="maze-server-bench-"))
    (home / "home").mkdir()
    env = {**os.environ, "MAZE_HOME": str(home), "HOME": str(home / "home"), "COLUMNS": "200"}
    env = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    script = home / "client.py"
    script.write_text(CLIENT)
    port = free_port()
    started = maze("start", "--head", "--port", str(port), "--num-cpus", "2", env=env)
    if started.returncode != 0:
        raise SystemExit(started.stdout + started.stderr[-3000:])
    address = f"127.0.0.1:{port}"
    results: dict = {"shared": [], "own": []}
    try:
        for index in range(args.rounds):
            for mode in ("shared", "own") if index % 2 == 0 else ("own", "shared"):
                results[mode].append(clients(script, address, args.runs, mode, env))
        results["waiting"] = waiting_status(script, address, args.waiting, env)
    finally:
        maze("stop", env=env)
    table = Table(title=f"2 clients x {args.runs} one-task runs, {args.rounds} rounds (range)")
    for column in ("scheduler", "submissions/s", "runs/s", "P50 s", "P95 s"):
        table.add_column(column, justify="right")
    for mode, label in (("shared", "shared"), ("own", "shared=False")):
        rows = results[mode]

        def span(key: str, fmt: str, rows: list = rows) -> str:
            values = [r[key] for r in rows]
            return f"{fmt.format(min(values))}-{fmt.format(max(values))}"

        table.add_row(
            label,
            span("submits_per_s", "{:,.0f}"),
            span("runs_per_s", "{:,.0f}"),
            span("p50_s", "{:.2f}"),
            span("p95_s", "{:.2f}"),
        )
    console = Console(width=120)
    console.print(table)
    waiting = results["waiting"]
    console.print(
        f"{waiting['waiting']:,} runs waiting (submitted in {waiting['submit_s']:.1f} s): "
        f"maze status took {', '.join(f'{t:.2f}' for t in waiting['status_s'])} s"
    )
    Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
