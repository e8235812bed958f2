"""One tool's duration model: an adaptive level, two learners on top, the best one serves.

Durations span milliseconds to minutes and drift with cluster load, so everything works on
``log(seconds)``:

* ``level`` is an exponentially weighted mean of log durations (alpha 0.05): smooth, since
  durations are noisy; ``fast`` is the same with alpha 0.3, which follows drift (a cluster
  getting busier) within a few calls;
* ``recent`` is the median of the last 16 log durations (robust to one-off outliers);
* ``online`` is a river linear model that learns, from the call's features, how far this
  call sits from the level (trained on every finished call, predicts at once). river (with
  NumPy and SciPy, ~1.7 CPU-s) is imported on a background thread once a tool has had
  ``IMPORT_AFTER`` calls and the process ``IMPORT_AFTER_WORK_S`` seconds of work; until it
  is there the other candidates serve (the learner starts
  with the calls that end after it), so no task's end ever waits for the import;
* ``batch`` is an XGBoost model with the same target, retrained off the hot path on a
  sliding window of recent calls (see :class:`maze_core.predict.malearn.MaLearn`).

Each candidate's absolute error is tracked prequentially (predict, then learn), and the one
with the lowest recent error serves (champion / challenger). Before ``MIN_MODEL`` samples
the tool's running median serves; before any, the kind's default.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import pickle
import statistics
import struct
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

__all__ = ["MIN_MODEL", "Prediction", "ToolModel", "import_river_now", "river_ready"]

log = logging.getLogger("maze")

MIN_MODEL = 5
IMPORT_AFTER = 32
IMPORT_AFTER_WORK_S = 20.0
"""River is imported for a tool's online learner (1-2 CPU-s on a background thread, which
contends for the interpreter lock meanwhile: a caller's thread then waits up to 5 ms each
time it lets go of it) once the tool has had ``IMPORT_AFTER`` calls and the process has
seen ``IMPORT_AFTER_WORK_S`` seconds of task time: below that the level and the recent
median serve about as well, the import would cost more than a tenth of the work it is for,
and a short-lived process (a script, a test file, many tiny calls) never pays it. Where
river is already there (imported for another tool, or up front: ``import_river_now``)
the learner starts at once."""
TINY_S = 0.01  # calls shorter than this teach the learners one time in SUBSAMPLE
SUBSAMPLE = 16
WINDOW = 512
ALPHA = 0.05  # the level: smooth (durations are noisy; measured best on the Maze trace)
FAST_ALPHA = 0.3  # the fast level: follows drift (a cluster getting busier) within a few calls
Z90 = 1.2816  # standard normal quantile of 0.9
_FLOOR = 1e-4  # seconds: log of anything shorter is clamped
_FLOAT32 = struct.Struct("f")


class Prediction(float):
    """Predicted seconds (the float itself), plus ``p90`` seconds and its ``source``:
    ``default``, ``median``, or ``model:<level|fast|recent|online|batch>``."""

    p90: float
    source: str

    def __new__(cls, seconds: float, p90: float, source: str) -> Prediction:
        value = super().__new__(cls, seconds)
        value.p90 = p90
        value.source = source
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (Prediction, (float(self), self.p90, self.source))

    def __repr__(self) -> str:
        return f"Prediction({float(self):.4g}s, p90={self.p90:.4g}s, {self.source})"


class ToolModel:
    """Everything learned about one tool. Not thread-safe: MaLearn serialises access."""

    VERSION = 3  # bump when the saved state changes; older saved models are relearned

    def __init__(self, name: str, kind: str) -> None:
        self.version = self.VERSION
        self.name = name
        self.kind = kind
        self.count = 0
        self.level: float | None = None
        self.fast: float | None = None
        self.logs: deque[float] = deque(maxlen=64)
        self.recent: deque[tuple[dict[str, float], float, float]] = deque(maxlen=WINDOW)
        self.errors: dict[str, float] = {}
        self.online: Any = None
        self.saved_online: bytes | None = None  # a loaded online model, unpickled once river is
        self.batch: Any = None  # (booster, feature names) once trained
        self.since_training = 0
        self.work_since_training = 0.0

    # -- predicting -------------------------------------------------------------------------

    def predict(self, features: Mapping[str, float], default: float) -> Prediction:
        if self.count == 0:
            return Prediction(default, default * 3, "default")
        if self.count < MIN_MODEL or self.level is None:
            median = math.exp(statistics.median(self.logs))
            spread = max(self.logs) - statistics.median(self.logs)
            return Prediction(median, median * math.exp(spread), "median")
        name = self.champion()
        estimate = self._candidate(name, features)
        error = self.errors.get(name, 0.5)
        return Prediction(
            math.exp(estimate), math.exp(estimate + Z90 * 1.25 * error), f"model:{name}"
        )

    def champion(self) -> str:
        """The candidate with the lowest recent error (``level`` when none beats it)."""
        best = "level"
        for name, error in self.errors.items():
            if error < self.errors.get(best, math.inf) - 1e-12 and self._available(name):
                best = name
        return best

    def _available(self, name: str) -> bool:
        """Whether candidate ``name`` can answer now (a learner may still be loading)."""
        if name == "online":
            return self._online_model() is not None
        return name != "batch" or self.batch is not None

    def _online_model(self) -> Any:
        """The online learner: a saved one unpickled, or a new one, once river is imported
        (None until then). River's import is started only for a tool with ``IMPORT_AFTER``
        calls in a process that has seen ``IMPORT_AFTER_WORK_S`` of work (see there)."""
        start = self.count >= IMPORT_AFTER and _work_seen[0] >= IMPORT_AFTER_WORK_S
        if self.online is None and river_ready(start=start):
            if self.saved_online is not None:
                self.online, self.saved_online = pickle.loads(self.saved_online), None
            else:  # it learns from here on: learning never costs more than one call's step
                self.online = _new_online_model()
        return self.online

    def _candidate(self, name: str, features: Mapping[str, float]) -> float:
        level = self.level if self.level is not None else 0.0
        if name == "online" and self.online is not None:
            return level + _clip(self.online.predict_one(dict(features)))
        if name == "batch" and self.batch is not None:
            return level + _clip(_predict_batch(self.batch, features))
        if name == "fast":
            return self.fast if self.fast is not None else level
        if name == "recent":
            return statistics.median(itertools.islice(self.logs, max(0, len(self.logs) - 16), None))
        return level

    # -- learning ---------------------------------------------------------------------------

    def learn(self, features: Mapping[str, float], seconds: float) -> bool:
        """Learn one finished call; each candidate is scored on it before it learns.
        Returns whether the learners saw it (False: only the level and median did).

        The level and the running median learn from every call. The learners (10-30 µs a
        call, on the path from a task's end to its run's result) learn from every call that
        ran at least ``TINY_S``, and from one in ``SUBSAMPLE`` of shorter ones once the tool
        has ``MIN_MODEL`` calls, so learning never costs more than a small fraction of the
        work it learns from (a tiny task's duration matters little to its schedule)."""
        target = math.log(max(seconds, _FLOOR))
        self.work_since_training += seconds
        _work_seen[0] += seconds
        if self.count >= MIN_MODEL and seconds < TINY_S and self.count % SUBSAMPLE:
            level = self.level if self.level is not None else target
            self.level = level + ALPHA * (target - level)
            fast = self.fast if self.fast is not None else target
            self.fast = fast + FAST_ALPHA * (target - fast)
            self.logs.append(target)
            self.count += 1
            return False
        x = dict(features)
        if self.level is not None and self.count >= MIN_MODEL - 1:
            for name in ("level", "fast", "recent", "online", "batch"):
                if name in ("level", "fast", "recent") or getattr(self, name) is not None:
                    error = abs(self._candidate(name, x) - target)
                    previous = self.errors.get(name)
                    self.errors[name] = (
                        error if previous is None else previous + 0.1 * (error - previous)
                    )
        level = self.level if self.level is not None else target
        online = self._online_model()
        if online is not None:
            online.learn_one(x, target - level)
        self.recent.append((x, level, target))
        self.level = level + ALPHA * (target - level) if self.level is not None else target
        fast = self.fast if self.fast is not None else target
        self.fast = fast + FAST_ALPHA * (target - fast)
        self.logs.append(target)
        self.count += 1
        self.since_training += 1
        return True

    def adopt_batch(self, batch: Any, validation_error: float) -> None:
        """Install a newly trained batch model; it competes from its validation error."""
        self.batch = batch
        self.errors["batch"] = validation_error
        self.since_training = 0
        self.work_since_training = 0.0

    def __getstate__(self) -> dict[str, Any]:
        """Saved with the online learner as bytes, so loading saved models (at a runtime's
        start) does not import river: it is unpickled when river is there."""
        state = dict(self.__dict__)
        if self.online is not None:
            state["online"], state["saved_online"] = None, pickle.dumps(self.online)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.setdefault("saved_online", None)
        self.__dict__.update(state)


def _clip(value: float) -> float:
    """Residuals in log space stay within x20 either way; NaN becomes 0."""
    if not math.isfinite(value):
        return 0.0
    return max(-3.0, min(3.0, value))


_work_seen = [0.0]  # seconds of calls every tool model of this process has learned from
_river_imported = threading.Event()
_river_import_started = threading.Event()
_river_lock = threading.Lock()


def river_ready(start: bool = True) -> bool:
    """Whether river is imported; the first call that finds it missing (with ``start``)
    starts importing it on a daemon thread and returns False (callers use what they have
    meanwhile)."""
    if _river_imported.is_set():
        return True
    if not start:
        return False
    with _river_lock:  # (sys.modules is no sign: it holds modules still being imported)
        if not _river_import_started.is_set():
            _river_import_started.set()
            threading.Thread(target=_import_river, name="maze-import-river", daemon=True).start()
    return False


def import_river_now() -> None:
    """Import river in this thread: for runs that must be deterministic (the simulator,
    the predictor's evaluation, ``MaLearn(background=False)``), where the online learner
    has to be there from the first call on, whatever the machine's speed."""
    if not _river_imported.is_set():
        _import_river()


def _import_river() -> None:
    try:
        import river.linear_model
        import river.optim
        import river.preprocessing  # noqa: F401
    except Exception:  # a broken install: the other candidates keep serving
        log.exception("maze: river could not be imported; MaLearn goes on without it")
        return
    _river_imported.set()


def _new_online_model() -> Any:
    from river import linear_model, optim, preprocessing

    return preprocessing.StandardScaler() | linear_model.LinearRegression(
        optimizer=optim.SGD(0.01), intercept_lr=0.05, l2=0.001
    )


class Forest:
    """A trained XGBoost model compiled to plain Python: XGBoost needs ~150 µs for one row,
    a walk down these arrays a few µs, which keeps prediction off the scheduler's budget.

    Each tree is a flat tuple of nodes ``(feature, threshold, yes, no, missing, leaf)``;
    a node with ``feature < 0`` is a leaf. Splits follow XGBoost: ``x < threshold`` goes
    ``yes``, a missing feature goes ``missing``.
    """

    __slots__ = ("base", "names", "trees")

    def __init__(self, booster: Any, names: list[str]) -> None:
        params = json.loads(booster.save_config())["learner"]["learner_model_param"]
        self.base = float(params["base_score"].strip("[]"))
        self.names = names
        self.trees = [_flatten(json.loads(dump)) for dump in booster.get_dump(dump_format="json")]

    def predict(self, features: Mapping[str, float]) -> float:
        row = [_f32(features[name]) if name in features else None for name in self.names]
        total = self.base
        for tree in self.trees:
            node = tree[0]
            while node[0] >= 0:
                value = row[node[0]]
                node = tree[node[4] if value is None else node[2] if value < node[1] else node[3]]
            total += node[5]
        return total


def _f32(value: float) -> float:
    """``value`` rounded to float32, as XGBoost compares features with thresholds."""
    return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])


def _flatten(root: dict[str, Any]) -> tuple[tuple[int, float, int, int, int, float], ...]:
    nodes: dict[int, tuple[int, float, int, int, int, float]] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if "leaf" in node:
            nodes[node["nodeid"]] = (-1, 0.0, 0, 0, 0, float(node["leaf"]))
            continue
        feature = int(node["split"].lstrip("f"))
        nodes[node["nodeid"]] = (
            feature,
            _f32(node["split_condition"]),
            node["yes"],
            node["no"],
            node["missing"],
            0.0,
        )
        stack.extend(node["children"])
    return tuple(nodes[i] for i in range(max(nodes) + 1))


def _predict_batch(batch: Forest, features: Mapping[str, float]) -> float:
    return batch.predict(features)


def train_batch(
    samples: list[tuple[dict[str, float], float, float]],
) -> tuple[Forest, float] | None:
    """Train an XGBoost model on the residuals of ``samples`` (oldest first), holding out
    the newest 20% for validation; returns the model and its mean absolute validation error
    in log space, or None when there is too little to learn from."""
    import numpy as np
    import xgboost

    names = sorted({name for features, _, _ in samples for name in features})
    if not names or len(samples) < 30:
        return None
    with np.errstate(over="ignore"):  # a huge feature becomes inf in float32, as XGBoost sees it
        matrix = np.array(
            [[f.get(n, np.nan) for n in names] for f, _, _ in samples], dtype=np.float32
        )
    residual = np.array([target - level for _, level, target in samples], dtype=np.float32)
    split = int(len(samples) * 0.8)
    params = {"max_depth": 4, "eta": 0.1, "subsample": 0.9, "nthread": 1, "verbosity": 0}
    booster = xgboost.train(
        params, xgboost.DMatrix(matrix[:split], residual[:split]), num_boost_round=60
    )
    predicted = booster.inplace_predict(matrix[split:])
    error = float(np.mean(np.abs(np.clip(predicted, -3, 3) - residual[split:])))
    return Forest(booster, names), error
