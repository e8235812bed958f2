"""MaLearn against the published system's predictor and a per-tool EWMA, on held-out runs.

Trains on experiments exp1, exp3 and exp6 of ../shared/traces and tests on exp2 and exp4
(split by experiment, so no run leaks into its own test; exp4's copy of exp1/Maze is dropped
as a duplicate), replaying the test rows prequentially: a prediction at each task's start
from what finished before it, learning at its finish. Baselines on the same rows and the
same protocol: the original system's logged predictions and a per-tool EWMA (alpha 0.3).

    python benchmarks/predictor.py [--trace-dir ../shared/traces] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console

from maze_core.predict.evaluate import evaluate, load_rows
from maze_core.predict.report import evaluation_table
from maze_core.sim.trace import default_trace_dir

TRAIN = ("exp1", "exp3", "exp6")
TEST = ("exp2", "exp4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace-dir", type=Path, default=default_trace_dir())
    parser.add_argument("--json", default="bench-predictor.json")
    args = parser.parse_args()
    if args.trace_dir is None:
        raise SystemExit("no trace folder: pass --trace-dir (laid out like ../shared/traces)")
    train = load_rows(args.trace_dir, lambda row: row["exp"] in TRAIN)
    test = load_rows(args.trace_dir, lambda row: row["exp"] in TEST)
    figures = evaluate(test, train)
    figures["split"] = {"train": TRAIN, "test": TEST, "train_rows": len(train)}
    title = f"MaLearn, trained on {'+'.join(TRAIN)}, tested on {'+'.join(TEST)} (prequential)"
    Console(width=140).print(evaluation_table(figures, title))
    with open(args.json, "w") as out:
        json.dump(figures, out, indent=2)


if __name__ == "__main__":
    main()
