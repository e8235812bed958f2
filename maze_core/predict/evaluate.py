"""Prequential evaluation of MaLearn on a trace folder laid out like ``../shared/traces``.

Rows are ``clean`` tasks of ``tasks.csv.gz`` (duplicates dropped). Each is a call of the
tool ``task_name|llm_backend`` with the features known before it ran: the predecessors'
exported features (``pred_input_features_json``; the task's own ``features_json`` is left
out, since some of its fields are outputs and would leak the answer). ``inflight=True``
adds the number of tasks of the same model (GPU) or kind in flight in that run when it
started: on the dev split they made MaLearn worse (8.98 against 8.65 s MAE on the modelled
GPU rows), so they are off by default. Training rows are learned in finish order; test rows
are then replayed in time order: a prediction at each task's start, learning at its
finish, so a prediction only uses tasks finished before it.

Baselines on the same rows and the same protocol: the original system's logged prediction
(``pred_exec_time_s``), a per-tool EWMA (alpha 0.3) of durations and the per-tool median of
the last 16 durations.

The development protocol (:data:`TRAIN`, :data:`DEV`): MaLearn is developed on the trace's
train experiments (exp1, exp3, exp6) and judged on its dev experiments (exp2, exp4); a
feature or constant stays only if it helps there. Everything else (another trace, a
held-out experiment) is a test that nothing was tuned on.

Daps orders by a run's predicted remaining work, not by single durations, so that is
evaluated too (:func:`remaining_work`): at each task's finish, the predicted seconds of the
run's tasks not yet finished against their actual seconds.
"""

from __future__ import annotations

import csv
import gzip
import json
import statistics
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from maze_core.predict.features import clean
from maze_core.predict.malearn import DEFAULT_SECONDS, MaLearn

__all__ = ["DEV", "TRAIN", "Row", "evaluate", "load_rows", "load_split"]

TRAIN = ("exp1", "exp3", "exp6")
DEV = ("exp2", "exp4")


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
    run: str = ""


def load_split(folder: Path, *, inflight: bool = False) -> tuple[list[Row], list[Row]]:
    """The development protocol's (train, dev) rows of a trace folder."""
    train = load_rows(folder, lambda row: row["exp"] in TRAIN, inflight=inflight)
    return train, load_rows(folder, lambda row: row["exp"] in DEV, inflight=inflight)


def load_rows(
    folder: Path,
    keep: Callable[[dict[str, str]], bool] | None = None,
    *,
    inflight: bool = False,
) -> list[Row]:
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
        rows.extend(_rows_of_run(run, inflight))
    return sorted(rows, key=lambda r: r.start)


def _by_run(raw: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    runs: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in raw:
        runs[row["source_dir"]].append(row)
    return runs


def _rows_of_run(run: list[dict[str, str]], inflight: bool) -> Iterable[Row]:
    t0 = float(run[0]["run_t0_epoch"] or 0)
    spans = [
        (float(r["start_s"]), float(r["finish_s"]), r["model_name"] or r["task_type"]) for r in run
    ]
    for row, (start, _, group) in zip(run, spans, strict=True):
        features = clean(json.loads(row["pred_input_features_json"] or "{}"))
        if inflight:
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
            run=f"{row['source_dir']}/{row.get('run_id', '')}",
        )


class Baselines:
    """The simple predictors MaLearn must beat: per tool, an EWMA (alpha 0.3) of durations
    and the median of the last 16; before a tool's first call, the kind's default."""

    def __init__(self) -> None:
        self.ewma: dict[str, float] = {}
        self.last: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=16))

    def learn(self, row: Row, alpha: float = 0.3) -> None:
        previous = self.ewma.get(row.tool)
        self.ewma[row.tool] = (
            row.seconds if previous is None else previous + alpha * (row.seconds - previous)
        )
        self.last[row.tool].append(row.seconds)

    def predict(self, row: Row) -> tuple[float, float]:
        """(EWMA, median of the last 16) seconds for ``row``'s tool."""
        default = DEFAULT_SECONDS[row.kind]
        last = self.last.get(row.tool)
        return self.ewma.get(row.tool, default), statistics.median(last) if last else default


def evaluate(
    test: list[Row],
    train: Iterable[Row] = (),
    retrain_every: int = 50,
    *,
    drop: Iterable[str] = (),
) -> dict[str, Any]:
    """Warm up on ``train``, replay ``test`` prequentially; the figures as a dict. Features
    named in ``drop`` are removed from every row first ("*": all of them)."""
    test, train = _without(test, drop), _without(train, drop)
    learner = MaLearn(retrain_every=retrain_every, background=False)
    baselines = Baselines()
    for row in sorted(train, key=lambda r: r.finish):
        learner.learn(row.tool, row.kind, row.features, row.seconds)
        baselines.learn(row)
    events = [(r.start, 1, i) for i, r in enumerate(test)] + [
        (r.finish, 0, i) for i, r in enumerate(test)
    ]
    predictions: dict[int, tuple[float, float, float]] = {}
    predict_ns, learn_ns = [], []
    remaining = _Remaining(test)
    for _, is_start, index in sorted(events):
        row = test[index]
        if is_start:
            began = time.perf_counter_ns()
            guess = learner.predict(row.tool, row.kind, row.features)
            predict_ns.append(time.perf_counter_ns() - began)
            predictions[index] = (float(guess), *baselines.predict(row))
        else:
            began = time.perf_counter_ns()
            learner.learn(row.tool, row.kind, row.features, row.seconds)
            learn_ns.append(time.perf_counter_ns() - began)
            baselines.learn(row)
            remaining.finished(index, predictions, learner, baselines)
    learner.close()
    figures = _figures(test, predictions, predict_ns, learn_ns)
    figures["remaining_work"] = remaining.figures()
    return figures


def _without(rows: Iterable[Row], drop: Iterable[str]) -> list[Row]:
    names = set(drop)
    if not names:
        return list(rows)
    return [
        replace(
            r,
            features={}
            if "*" in names
            else {k: v for k, v in r.features.items() if k not in names},
        )
        for r in rows
    ]


class _Remaining:
    """Predicted against actual seconds of each run's unfinished tasks, at every finish."""

    PREDICTORS = ("malearn", "ewma", "median16", "kind_default")

    def __init__(self, test: list[Row]) -> None:
        self.test = test
        self.open: dict[str, set[int]] = defaultdict(set)
        for index, row in enumerate(test):
            self.open[row.run].add(index)
        self.errors: dict[str, list[float]] = {name: [] for name in self.PREDICTORS}
        self.actual: list[float] = []

    def finished(
        self,
        index: int,
        predictions: dict[int, tuple[float, float, float]],
        learner: MaLearn,
        baselines: Baselines,
    ) -> None:
        left = self.open[self.test[index].run]
        left.discard(index)
        if not left:
            return
        totals = dict.fromkeys(self.PREDICTORS, 0.0)
        actual = 0.0
        for other in left:
            row = self.test[other]
            actual += row.seconds
            if other in predictions:  # started: the guesses made at its start
                ours, ewma, median = predictions[other]
            else:  # not started: what is known now, without its inputs' features
                ours = float(learner.predict(row.tool, row.kind, {}))
                ewma, median = baselines.predict(row)
            totals["malearn"] += ours
            totals["ewma"] += ewma
            totals["median16"] += median
            totals["kind_default"] += DEFAULT_SECONDS[row.kind]
        self.actual.append(actual)
        for name, total in totals.items():
            self.errors[name].append(abs(total - actual))

    def figures(self) -> dict[str, Any]:
        return {
            "points": len(self.actual),
            "mean_actual_s": statistics.fmean(self.actual) if self.actual else None,
            **{
                f"{name}_mae_s": statistics.fmean(errors) if errors else None
                for name, errors in self.errors.items()
            },
        }


def _mae(pairs: list[tuple[float, float]]) -> float:
    return statistics.fmean(abs(p - a) for p, a in pairs) if pairs else float("nan")


def _figures(
    test: list[Row],
    predictions: dict[int, tuple[float, float, float]],
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
    indexes: list[int], test: list[Row], predictions: dict[int, tuple[float, float, float]]
) -> dict[str, Any]:
    actual = [test[i].seconds for i in indexes]
    return {
        "rows": len(indexes),
        "mean_actual_s": statistics.fmean(actual) if actual else None,
        "mae_s": _mae([(predictions[i][0], test[i].seconds) for i in indexes]),
        "original_mae_s": _mae([(test[i].original or 0.0, test[i].seconds) for i in indexes]),
        "ewma_baseline_mae_s": _mae([(predictions[i][1], test[i].seconds) for i in indexes]),
        "median16_baseline_mae_s": _mae([(predictions[i][2], test[i].seconds) for i in indexes]),
    }
