"""MaLearn: per-tool duration models, learning from every finished task.

The built-in predictor plugin. ``predict`` answers at once from the tool's current champion
(see :mod:`maze_core.predict.model`); ``learn`` updates the online candidates in the
caller's thread (microseconds) and, every ``retrain_every`` samples of a tool that together
ran at least ``train_after_work`` seconds, retrains that tool's XGBoost model on a background
thread, which swaps it in when done. Training (tens of ms) is only worth it for tools whose
calls add up to real work; a tool of microsecond calls keeps its online models. With a history
store, every observation the learners saw is appended (by the store's own writer thread:
tiny calls are kept one in ``SUBSAMPLE``, as the learners keep them) and models are saved on
``close`` and reloaded at start. With ``background=False`` (the simulator, the
evaluation) training and river's import happen in the caller's thread, so predictions do not
depend on the machine's speed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from maze_core.hookspecs import hookimpl
from maze_core.predict.kinds import KindLearner
from maze_core.predict.model import Prediction, ToolModel, import_river_now, train_batch
from maze_core.tools import DEFAULT_SECONDS

if TYPE_CHECKING:
    from maze_core.graph import Task
    from maze_core.predict.store import HistoryStore

__all__ = ["DEFAULT_SECONDS", "MaLearn"]

log = logging.getLogger("maze")


class MaLearn:
    """Duration predictor for all tools of one runtime (thread-safe)."""

    def __init__(
        self,
        store: HistoryStore | None = None,
        *,
        defaults: Mapping[str, float] = DEFAULT_SECONDS,
        retrain_every: int = 100,
        train_after_work: float = 5.0,
        background: bool = True,
    ) -> None:
        self.defaults = dict(defaults)
        self.retrain_every = retrain_every
        self.train_after_work = train_after_work
        self.store = store
        self.kinds = KindLearner()  # where calls run best, learned beside their durations
        self._models: dict[str, ToolModel] = {}
        self._lock = threading.Lock()
        self._trainer = ThreadPoolExecutor(1, "maze-malearn") if background else None
        self._training: set[str] = set()
        if not background:  # deterministic: every learner there from the first call on
            import_river_now()
        if store is not None:
            self._models.update(store.load_models())
            self.kinds.restore(store.load_kinds())

    # -- the predictor ----------------------------------------------------------------------

    def predict(self, tool: str, kind: str, features: Mapping[str, float]) -> Prediction:
        """Seconds one call of ``tool`` is expected to take; never negative, never NaN."""
        default = self.defaults.get(kind, 1.0)
        with self._lock:
            model = self._models.get(tool)
            if model is None:
                return Prediction(default, default * 3, "default")
            try:
                prediction = model.predict(features, default)
            except Exception:  # a model bug must not stop scheduling
                log.exception("maze: MaLearn could not predict %s", tool)
                return Prediction(default, default * 3, "default")
        if not math.isfinite(prediction) or prediction < 0:
            return Prediction(default, default * 3, "default")
        return prediction

    def learn(
        self,
        tool: str,
        kind: str,
        features: Mapping[str, float],
        seconds: float,
        node: str | None = None,
        when: float | None = None,
    ) -> None:
        """Learn that one call of ``tool`` with ``features`` took ``seconds``."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        with self._lock:
            model = self._models.get(tool)
            if model is None:
                model = self._models[tool] = ToolModel(tool, kind)
            kept = model.learn(features, seconds)
            due = (
                model.since_training >= self.retrain_every
                and model.work_since_training >= self.train_after_work
                and tool not in self._training
            )
            if due:
                self._training.add(tool)
                samples = list(model.recent)
        if self.store is not None and kept:  # the history keeps what the learners saw
            self.store.record(tool, kind, features, seconds, node, when)
        if due:
            if self._trainer is None:
                self._train(tool, samples)
            else:
                self._trainer.submit(self._train, tool, samples)

    def _train(self, tool: str, samples: list[tuple[dict[str, float], float, float]]) -> None:
        try:
            trained = train_batch(samples)
        except Exception:
            log.exception("maze: MaLearn could not retrain %s", tool)
            trained = None
        with self._lock:
            self._training.discard(tool)
            model = self._models[tool]
            if trained is None:
                model.since_training = 0
                model.work_since_training = 0.0
            else:
                model.adopt_batch(*trained)

    def _replay(self, tool: str, kind: str, features: dict[str, float], seconds: float) -> None:
        """Learn an observation another process recorded (lock held; not recorded again)."""
        model = self._models.get(tool)
        if model is None:
            model = self._models[tool] = ToolModel(tool, kind)
        model.learn(features, seconds)

    def summary(self) -> list[dict[str, Any]]:
        """Per tool: samples, the candidate serving now, and the recent errors."""
        with self._lock:
            return [
                {
                    "tool": name,
                    "kind": m.kind,
                    "samples": m.count,
                    "serving": m.champion()
                    if m.count >= 5
                    else ("median" if m.count else "default"),
                    "errors": dict(m.errors),
                }
                for name, m in sorted(self._models.items())
            ]

    def close(self) -> None:
        """Finish background training and save the models (when there is a store)."""
        if self._trainer is not None:
            self._trainer.shutdown(wait=True)
        if self.store is not None:
            with self._lock:
                self.store.save_models(self._models, learn=self._replay)
            self.store.save_kinds(self.kinds.calls())
            self.store.close()

    # -- hooks ------------------------------------------------------------------------------

    @hookimpl
    def maze_predict_duration(
        self, task: Task, kind: str, features: Mapping[str, float]
    ) -> Prediction:
        return self.predict(task.spec.name, kind, features)

    @hookimpl
    def maze_task_observed(
        self,
        task: Task,
        features: Mapping[str, float],
        seconds: float,
        node: str | None,
        time: float,
    ) -> None:
        self.learn(task.spec.name, task.spec.kind, features, seconds, node, time)
