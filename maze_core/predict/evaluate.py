"""Prequential evaluation of MaLearn on a trace folder laid out like ``../shared/traces``.

Rows are ``clean`` tasks of ``tasks.csv.gz`` (duplicates dropped). Each is a call of the
tool ``task_name|llm_backend`` with the features known before it ran: the predecessors'
exported features (``pred_input_features_json``; the task's own ``features_json`` is left
out, since some of its fields are outputs and would leak the answer) plus the number of
tasks of the same model (GPU) or kind in flight in that run when it started. Training rows
are learned in finish order; test rows are then replayed in time order: a prediction at each
task's start, learning at its finish, so a prediction only uses tasks finished before it.

Baselines on the same rows and the same protocol: the original system's logged prediction
(``pred_exec_time_s``) and a per-tool EWMA (alpha 0.3) of durations.
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maze_core.predict.features import clean
from maze_core.predict.malearn import DEFAULT_SECONDS, MaLearn

__all__ = ["Row", "evaluate", "load_rows"]


@dataclass(slots=True)
class Row:
    tool: str
    kind: str
    start: float
    finish: float
    seconds: float
    original: float | None
    pred_kind: str
    features: dict[str, float] = field(default_factory=dict)


def load_rows(folder: Path, keep: Callable[[dict[str, str]], bool] | None = None) -> list[Row]:
    """The clean rows of a trace folder (optionally filtered on the raw csv row)."""
    raw = []
    with gzip.open(folder / "tasks.csv.gz", "rt", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["clean"] != "True" or row["dup_of"] or not row["exec_time_s"]:
                continue
            if not row["start_s"] or not row["finish_s"] or (keep and not keep(row)):
                continue
            raw.append(row)
    rows: list[Row] = []
    for run in _by_run(raw).values():
        rows.extend(_rows_of_run(run))
    return sorted(rows, key=lambda r: r.start)


def _by_run(raw: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    runs: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in raw:
        runs[row["source_dir"]].append(row)
    return runs


def _rows_of_run(run: list[dict[str, str]]) -> Iterable[Row]:
    t0 = float(run[0]["run_t0_epoch"] or 0)
    spans = [
        (float(r["start_s"]), float(r["finish_s"]), r["model_name"] or r["task_type"]) for r in run
    ]
    for row, (start, _, group) in zip(run, spans, strict=True):
        features = clean(json.loads(row["pred_input_features_json"] or "{}"))
        features["inflight_same"] = float(
            sum(1 for s, f, g in spans if g == group and s <= start < f) - 1
        )
        features["inflight_all"] = float(sum(1 for s, f, _ in spans if s <= start < f) - 1)
        original = row["pred_exec_time_s"]
        yield Row(
            tool=f"{row['task_name']}|{row['llm_backend']}",
            kind=row["task_type"],
            start=t0 + start,
            finish=t0 + float(row["finish_s"]),
            seconds=float(row["exec_time_s"]),
            original=float(original) if original and row["pred_kind"] else None,
            pred_kind=row["pred_kind"],
            features=features,
        )


def evaluate(
    test: list[Row],
    train: Iterable[Row] = (),
    retrain_every: int = 50,
) -> dict[str, Any]:
    """Warm up on ``train``, replay ``test`` prequentially; the figures as a dict."""
    learner = MaLearn(retrain_every=retrain_every, background=False)
    ewma: dict[str, float] = {}
    for row in sorted(train, key=lambda r: r.finish):
        learner.learn(row.tool, row.kind, row.features, row.seconds)
        _ewma_learn(ewma, row)
    events = [(r.start, 1, i) for i, r in enumerate(test)] + [
        (r.finish, 0, i) for i, r in enumerate(test)
    ]
    predictions: dict[int, tuple[float, float]] = {}
    predict_ns, learn_ns = [], []
    for _, is_start, index in sorted(events):
        row = test[index]
        if is_start:
            began = time.perf_counter_ns()
            guess = learner.predict(row.tool, row.kind, row.features)
            predict_ns.append(time.perf_counter_ns() - began)
            predictions[index] = (float(guess), ewma.get(row.tool, DEFAULT_SECONDS[row.kind]))
        else:
            began = time.perf_counter_ns()
            learner.learn(row.tool, row.kind, row.features, row.seconds)
            learn_ns.append(time.perf_counter_ns() - began)
            _ewma_learn(ewma, row)
    learner.close()
    return _figures(test, predictions, predict_ns, learn_ns)


def _ewma_learn(ewma: dict[str, float], row: Row, alpha: float = 0.3) -> None:
    previous = ewma.get(row.tool)
    ewma[row.tool] = (
        row.seconds if previous is None else previous + alpha * (row.seconds - previous)
    )


def _mae(pairs: list[tuple[float, float]]) -> float:
    return statistics.fmean(abs(p - a) for p, a in pairs) if pairs else float("nan")


def _figures(
    test: list[Row],
    predictions: dict[int, tuple[float, float]],
    predict_ns: list[int],
    learn_ns: list[int],
) -> dict[str, Any]:
    ours = [(predictions[i][0], r.seconds) for i, r in enumerate(test)]
    by_type: dict[str, Any] = {}
    for kind in ("cpu", "gpu", "io"):
        pairs = [(predictions[i][0], r.seconds) for i, r in enumerate(test) if r.kind == kind]
        ape = [abs(p - a) / a for p, a in pairs if a > 0]
        by_type[kind] = {
            "rows": len(pairs),
            "mae_s": _mae(pairs),
            "median_ape": statistics.median(ape) if ape else float("nan"),
        }
    model_rows = [
        i for i, r in enumerate(test) if r.pred_kind == "model" and r.original is not None
    ]
    predicted_rows = [i for i, r in enumerate(test) if r.original is not None]
    ge_1s = [(p, a) for p, a in ours if a >= 1.0]
    return {
        "overall": {
            "rows": len(test),
            "mae_s": _mae(ours),
            "mape_ge_1s": statistics.fmean(abs(p - a) / a for p, a in ge_1s) if ge_1s else None,
        },
        "by_type": by_type,
        "gpu_model_rows": _compare(
            [i for i in model_rows if test[i].kind == "gpu"], test, predictions
        ),
        "original_rows": _compare(predicted_rows, test, predictions),
        "predict_us_median": statistics.median(predict_ns) / 1000 if predict_ns else None,
        "learn_us_median": statistics.median(learn_ns) / 1000 if learn_ns else None,
    }


def _compare(
    indexes: list[int], test: list[Row], predictions: dict[int, tuple[float, float]]
) -> dict[str, Any]:
    actual = [test[i].seconds for i in indexes]
    return {
        "rows": len(indexes),
        "mean_actual_s": statistics.fmean(actual) if actual else None,
        "mae_s": _mae([(predictions[i][0], test[i].seconds) for i in indexes]),
        "original_mae_s": _mae([(test[i].original or 0.0, test[i].seconds) for i in indexes]),
        "ewma_baseline_mae_s": _mae([(predictions[i][1], test[i].seconds) for i in indexes]),
    }
