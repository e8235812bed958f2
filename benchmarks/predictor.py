"""MaLearn against the published system's predictor and two per-tool baselines, under the
development protocol, with the ablations that justify each feature and constant.

The protocol (``maze_core.predict.evaluate``): train on experiments exp1, exp3 and exp6 of
../shared/traces, judge on exp2 and exp4 (the dev split; split by experiment, so no run
leaks into its own test; exp4's copy of exp1/Maze is dropped as a duplicate), replaying the
dev rows prequentially: a prediction at each task's start from what finished before it,
learning at its finish. Baselines on the same rows and the same protocol: the original
system's logged predictions, a per-tool EWMA (alpha 0.3) and the per-tool median of the last
16 durations. Then the run's remaining work (what daps orders by) per predictor, and
variants on the dev split (with in-flight features added, without any feature, with the
level's smoothing constant changed), and two other splits nothing was tuned on (dev as
training and train as test; the whole trace without warm-up).

    python benchmarks/predictor.py [--trace-dir ../shared/traces] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from maze_core.predict import model
from maze_core.predict.evaluate import DEV, TRAIN, evaluate, load_rows, load_split
from maze_core.predict.report import evaluation_table, remaining_table
from maze_core.sim.trace import default_trace_dir

VARIANTS = {
    "as shipped": {},
    "with in-flight features": {"inflight": True},
    "no features": {"drop": ("*",)},
    "level alpha 0.3": {"alpha": 0.3},
    "level alpha 0.01": {"alpha": 0.01},
}


def variant(folder: Path, *, drop=(), alpha=None, inflight=False) -> dict:
    train, dev = load_split(folder, inflight=inflight)
    shipped = model.ALPHA
    if alpha is not None:
        model.ALPHA = alpha
    try:
        figures = evaluate(dev, train, drop=drop)
    finally:
        model.ALPHA = shipped
    figures["split"] = {"train": TRAIN, "dev": DEV, "train_rows": len(train)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace-dir", type=Path, default=default_trace_dir())
    parser.add_argument("--json", default="bench-predictor.json")
    args = parser.parse_args()
    if args.trace_dir is None:
        raise SystemExit("no trace folder: pass --trace-dir (laid out like ../shared/traces)")
    console = Console(width=150)
    results = {name: variant(args.trace_dir, **options) for name, options in VARIANTS.items()}
    shipped = results["as shipped"]
    split = f"trained on {'+'.join(TRAIN)}, dev {'+'.join(DEV)} (prequential)"
    console.print(evaluation_table(shipped, f"MaLearn, {split}"))
    console.print(
        remaining_table(shipped, "Remaining work of a run, at each task's finish (MAE s)")
    )
    table = Table(title="Variants on the dev split: MAE s on the GPU rows the original modelled")
    for column in ("variant", "MaLearn", "EWMA", "median-16", "vs better baseline", "remaining"):
        table.add_column(column, justify="right")
    for name, figures in results.items():
        gpu = figures["gpu_model_rows"]
        better = min(gpu["ewma_baseline_mae_s"], gpu["median16_baseline_mae_s"])
        table.add_row(
            name,
            f"{gpu['mae_s']:.2f}",
            f"{gpu['ewma_baseline_mae_s']:.2f}",
            f"{gpu['median16_baseline_mae_s']:.2f}",
            f"{gpu['mae_s'] / better:.2f}x",
            f"{figures['remaining_work']['malearn_mae_s']:.2f}",
        )
    console.print(table)
    train_rows, dev_rows = load_split(args.trace_dir)
    trained_on_dev = evaluate(train_rows, dev_rows)  # test on train, warmed up on dev
    cold = evaluate(load_rows(args.trace_dir))
    for title, figures in (
        ("trained on dev, tested on train", trained_on_dev),
        ("the whole trace, no warm-up", cold),
    ):
        console.print(evaluation_table(figures, f"MaLearn, {title}"))
        results[title] = figures
    with open(args.json, "w") as out:
        json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
