"""The history database shared by every driver on a machine: models merge, the schema
moves forward by migrations, and a disk that refuses writes costs the history, never a run."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from maze_core import LocalRuntime, Workflow, tool
from maze_core.predict.malearn import MaLearn
from maze_core.predict.store import MIGRATIONS, SCHEMA_V1, HistoryStore


def driver(path) -> MaLearn:
    return MaLearn(store=HistoryStore(path), background=False)


def teach(learner: MaLearn, tool_name: str, calls: int) -> None:
    for index in range(calls):
        learner.learn(tool_name, "cpu", {"n": float(index)}, 0.05 + index / 1000)


def samples(path, tool_name: str) -> int:
    models = HistoryStore(path).load_models()
    return models[tool_name].count if tool_name in models else 0


def test_models_of_drivers_sharing_a_history_merge(tmp_path):
    path = tmp_path / "h.sqlite3"
    first, second = driver(path), driver(path)  # both open before either learns
    teach(first, "shared", 20)
    teach(first, "only-first", 7)
    teach(second, "shared", 30)
    first.close()
    second.close()  # last writer: it used to replace the first's models with its own
    assert samples(path, "shared") == 50
    assert samples(path, "only-first") == 7


def test_what_a_driver_that_died_recorded_reaches_the_next_saved_models(tmp_path):
    path = tmp_path / "h.sqlite3"
    died, survivor = driver(path), driver(path)
    teach(died, "shared", 20)
    died.store.flush()  # its observations are committed; it never saves its models
    teach(survivor, "shared", 30)
    survivor.close()
    assert samples(path, "shared") == 50


def test_a_database_from_before_schema_versions_is_migrated_keeping_its_rows(tmp_path):
    path = tmp_path / "h.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA_V1)
    old.execute(
        "INSERT INTO observations (tool, kind, features, seconds, node, time)"
        " VALUES ('t', 'cpu', '{}', 1.5, NULL, 0)"
    )
    old.commit()
    old.close()
    store = HistoryStore(path)
    assert store.observations() == [("t", {}, 1.5)]
    (version,) = store._db.execute("PRAGMA user_version").fetchone()
    assert version == len(MIGRATIONS)
    store.record("t", "cpu", {}, 2.0)
    store.close()  # the new column takes the new row
    assert len(HistoryStore(path).observations("t")) == 2


def test_a_database_from_a_newer_maze_is_left_alone_and_the_runtime_learns_in_memory(
    tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("MAZE_HOME", str(tmp_path))
    path = tmp_path / "history.sqlite3"
    HistoryStore(path).close()
    newer = sqlite3.connect(path)
    newer.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    newer.commit()
    newer.close()
    with pytest.raises(sqlite3.OperationalError, match="newer Maze"):
        HistoryStore(path)
    with caplog.at_level(logging.WARNING), LocalRuntime("threads", cpus=1) as runtime:
        wf = Workflow("runs")
        ref = wf.add(double, 2)
        assert wf.run(runtime)[ref] == 4
    assert "newer Maze" in caplog.text
    assert "learning in memory" in caplog.text
    (version,) = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()
    assert version == len(MIGRATIONS) + 1


@tool
def double(x: int) -> int:
    return 2 * x


class RefusingWrites:
    """A connection whose writes fail as on a full disk (reads still work)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def executemany(self, *args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name):
        return getattr(self._db, name)

    def __enter__(self):
        return self._db.__enter__()

    def __exit__(self, *exc):
        return self._db.__exit__(*exc)


def test_a_disk_that_refuses_writes_costs_the_history_with_one_warning(tmp_path, caplog):
    store = HistoryStore(tmp_path / "h.sqlite3")
    store._db = RefusingWrites(store._db)
    with caplog.at_level(logging.WARNING):
        for _batch in range(3):
            store.record("t", "cpu", {}, 1.0)
            store.flush()  # never blocks
    assert caplog.text.count("learning in memory from now on") == 1
    assert "Traceback" not in caplog.text
    store.save_models({})  # nothing more is attempted, nothing raised
    store.close()
    assert (tmp_path / "h.sqlite3").exists()  # kept as it is


OPENER = """
import sys, time
from maze_core.predict.store import HistoryStore
start = float(sys.argv[2])
while time.time() < start:
    pass
store = HistoryStore(sys.argv[1])
store.record("t", "cpu", {}, 1.0)
store.close()
"""


def test_twelve_processes_opening_a_new_history_at_once_all_keep_their_rows(tmp_path):
    """A journal-mode switch or a migration among them can be refused at once as locked,
    without SQLite's busy wait: 1 of 12 lost its history in 2 rounds of 3, before."""
    import subprocess
    import sys
    import time

    path = tmp_path / "h.sqlite3"
    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    start = str(time.time() + 2.0)  # all importing done: they open together
    openers = [
        subprocess.Popen(
            [sys.executable, str(script), str(path), start],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(12)
    ]
    errors = [p.communicate(timeout=90)[1] for p in openers]
    assert [p.returncode for p in openers] == [0] * 12, next(e for e in errors if e)
    assert len(HistoryStore(path).observations("t")) == 12
    assert not list(tmp_path.glob("*.corrupt-*"))
