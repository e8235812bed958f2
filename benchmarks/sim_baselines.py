"""Do the simulated baselines reproduce the published systems, and where does daps's lead
come from?

1. Anchors: ``maze-original`` and ``agent-level-autogen`` replay the logged arrivals of
   every experiment whose published runs the trace holds (exp1, exp2's three settings),
   seeds 0-4, on the published 8-node cluster; beside them the figures of the published
   Maze(vLLM) and AutoGen runs, computed from the trace's ``dag_runs.csv.gz`` the same way
   (linearly interpolated P95; the worst 120-s window of finish times).
2. Ablations: every policy on the published exp1 arrivals and on the exp1 phases at
   1.25, 2 and 3x load, as it is and with one cause removed at a time: model loading free
   (``model_load_s=0``), oracle durations, no aging, no affinity. P95 (range over seeds)
   and its ratio to maze-original's in the same condition and seed.

Needs the trace folder (``../shared/traces`` or ``$MAZE_TRACE_DIR``): the published runs'
figures are not shipped with Maze.

    python benchmarks/sim_baselines.py [--json OUT] [--seeds 5]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from maze_core.schedule import POLICIES
from maze_core.sim.engine import SimConfig, simulate
from maze_core.sim.metrics import percentile, worst_window_percentile
from maze_core.sim.trace import default_trace_dir, load_trace

ANCHORS = {"maze-original": "Maze(vLLM)", "agent-level-autogen": "AutoGen"}
CONDITIONS = {
    "as is": {},
    "model_load_s=0": {"model_load_s": 0.0},
    "oracle durations": {"predictor": "oracle"},
    "no aging": {"ablate": ("aging",)},
    "no affinity": {"ablate": ("affinity",)},
}
WORKLOADS = {
    "replay:exp1": ("replay:exp1", 1.0),
    "exp1 x1.25": ("exp1", 1.25),
    "exp1 x2": ("exp1", 2.0),
    "exp1 x3": ("exp1", 3.0),
}


def published(folder: Path) -> dict[tuple[str, str], dict[str, float]]:
    """P50/P95/worst-window P95 of each published system's runs, per (replay key, system)."""
    groups: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    with gzip.open(folder / "dag_runs.csv.gz", "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["system"] in ANCHORS.values() and row["completion_time_s"]:
                key = (f"{row['exp']}/{row['setting']}", row["system"])
                groups[key].append((float(row["finish_s"]), float(row["completion_time_s"])))
    out = {}
    for key, runs in groups.items():
        finished, response = zip(*runs, strict=True)
        out[key] = {
            "workflows": len(runs),
            "p50_s": percentile(response, 50),
            "p95_s": percentile(response, 95),
            "worst_window_p95_s": worst_window_percentile(finished, response, 95),
        }
    return out


def seeds_of(trace, config: SimConfig, seeds: int) -> list[dict]:
    return [simulate(trace, replace(config, seed=s)).summary() for s in range(seeds)]


def span(values: list[float]) -> str:
    return f"{min(values):,.0f}-{max(values):,.0f}"


def anchors(trace, real: dict, seeds: int, console: Console) -> dict:
    table = Table(title="Anchors: simulated baselines vs the published runs (seconds)")
    for header in (
        "replay",
        "policy",
        "published system",
        "P95 sim",
        "P95 real",
        "sim/real",
        "worst win sim",
        "worst win real",
    ):
        table.add_column(header, justify="right")
    results = {}
    for key in sorted({k for k, _ in real}):
        if key not in trace.arrivals:
            continue
        for policy, system in ANCHORS.items():
            if (key, system) not in real:
                continue
            runs = seeds_of(trace, SimConfig(policy=policy, workload=f"replay:{key}"), seeds)
            p95 = [r["p95_s"] for r in runs]
            window = [r["worst_window_p95_s"] for r in runs]
            truth = real[key, system]
            ratio = [v / truth["p95_s"] for v in p95]
            results[f"{key} {policy}"] = {"simulated": runs, "published": truth}
            table.add_row(
                key,
                policy,
                f"{system} ({truth['workflows']} wf)",
                span(p95),
                f"{truth['p95_s']:,.0f}",
                f"{min(ratio):.2f}-{max(ratio):.2f}",
                span(window),
                f"{truth['worst_window_p95_s']:,.0f}",
            )
    console.print(table)
    return results


def ablations(trace, seeds: int, console: Console) -> dict:
    results: dict = {}
    for label, (workload, load) in WORKLOADS.items():
        table = Table(title=f"Ablations on {label}: P95 s over seeds (P95 / maze-original's)")
        table.add_column("policy")
        for condition in CONDITIONS:
            table.add_column(condition, justify="right")
        base = {
            c: seeds_of(trace, SimConfig("maze-original", workload, load, **o), seeds)
            for c, o in CONDITIONS.items()
        }
        for policy in POLICIES:
            cells = []
            for condition, options in CONDITIONS.items():
                runs = (
                    base[condition]
                    if policy == "maze-original"
                    else seeds_of(trace, SimConfig(policy, workload, load, **options), seeds)
                )
                p95 = [r["p95_s"] for r in runs]
                ratio = [
                    r["p95_s"] / b["p95_s"] for r, b in zip(runs, base[condition], strict=True)
                ]
                results.setdefault(label, {}).setdefault(policy, {})[condition] = runs
                cells.append(f"{span(p95)} ({min(ratio):.2f}-{max(ratio):.2f})")
            table.add_row(policy, *cells)
        console.print(table)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="bench-sim-baselines.json")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    folder = default_trace_dir()
    if folder is None:
        raise SystemExit("needs the trace folder: set MAZE_TRACE_DIR (see the docstring)")
    console = Console(width=180)
    trace = load_trace(folder)
    console.print(f"workload source: {trace.source}")
    results = {
        "anchors": anchors(trace, published(folder), args.seeds, console),
        "ablations": ablations(trace, args.seeds, console),
    }
    Path(args.json).write_text(json.dumps(results, indent=1))
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
