"""The reliability scenarios at full size: chaos on a Ray cluster, and load in waves.

1. Chaos: 200 workflows (fan-out, fan-in, chain; 7 tasks each) on a 4-node Ray cluster while
   every 2 s a worker node is removed (a fresh one joins) or a Ray worker process is killed
   (tests/reliability/chaos.py, in a subprocess).
2. Load: three waves of 1,000 concurrent 10-task workflows through the local runtime and
   through Ray; the driver's RSS before and after each wave.

Prints completion %, retries, P95 latency and driver RSS, and writes JSON.

    python benchmarks/soak.py [--json OUT] [--chaos-workflows 200] [--load-workflows 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.load import rss_bytes, wave  # noqa: E402  (after the path above)

MiB = 2**20


def chaos(workflows: int, every: float) -> dict:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    script = ROOT / "tests" / "reliability" / "chaos.py"
    out = subprocess.run(
        [sys.executable, str(script), str(workflows), str(every)],
        capture_output=True,
        text=True,
        env=env,
        timeout=3600,
    )
    line = next((s for s in out.stdout.splitlines() if s.startswith("CHAOS ")), None)
    if line is None:
        raise SystemExit(f"chaos did not finish:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(line.removeprefix("CHAOS "))


def load(runtime, workflows: int) -> dict:
    from maze_core.progress import Progress

    before = rss_bytes()
    progress = Progress()  # live on a terminal
    runtime.plugins.register(progress)
    with progress.live():
        waves = [wave(runtime, workflows, first_seed=i * workflows) for i in range(3)]
    runtime.plugins.unregister(progress)
    return {
        "workflows": workflows * len(waves),
        "completed": sum(w.completed for w in waves),
        "wrong": sum(w.wrong for w in waves),
        "retries": sum(w.retries for w in waves),
        "p95_s": max(w.p95_s for w in waves),
        "rss_before_mib": before / MiB,
        "rss_after_waves_mib": [w.rss_after / MiB for w in waves],
        "decision_us_per_wave": [w.decision_us for w in waves],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-soak.json")
    parser.add_argument("--chaos-workflows", type=int, default=200)
    parser.add_argument("--chaos-every", type=float, default=2.0)
    parser.add_argument("--load-workflows", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("MAZE_HOME", tempfile.mkdtemp(prefix="maze-soak-"))
    from maze_core import LocalRuntime
    from maze_core.run.ray import RayRuntime

    figures = {"chaos (Ray, 4 nodes)": chaos(args.chaos_workflows, args.chaos_every)}
    with LocalRuntime("threads", cpus=2, autoload_plugins=False) as runtime:
        figures["load, local threads"] = load(runtime, args.load_workflows)
    with RayRuntime(num_cpus=2, autoload_plugins=False) as runtime:
        figures["load, Ray"] = load(runtime, args.load_workflows)

    table = Table(title="Soak: chaos and load at full size")
    columns = (
        "scenario",
        "workflows",
        "completed",
        "retries",
        "P95 s",
        "driver RSS MiB",
        "µs/decision",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for label, row in figures.items():
        if "rss_before_mib" in row:
            rss = f"{row['rss_before_mib']:.0f} -> " + " -> ".join(
                f"{value:.0f}" for value in row["rss_after_waves_mib"]
            )
            decisions = " / ".join(f"{value:.0f}" for value in row["decision_us_per_wave"])
        else:
            rss = f"{row['nodes_removed']} nodes removed, {row['workers_killed']} workers killed"
            decisions = ""
        table.add_row(
            label,
            f"{row['workflows']:,}",
            f"{row['completed'] / row['workflows']:.0%}",
            f"{row['retries']:,}",
            f"{row['p95_s']:.2f}",
            rss,
            decisions,
        )
    Console(width=160).print(table)
    Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
