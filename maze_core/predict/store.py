"""MaLearn's history: every observation and the latest model of each tool, in SQLite.

The database lives at ``$MAZE_HOME/history.sqlite3`` (``MAZE_HOME`` defaults to ``~/.maze``)
in WAL mode. Observations are appended by one writer thread in batched transactions, so
``record`` costs the caller a queue put, and a process killed at any moment leaves every
committed batch intact and nothing half-written (SQLite's atomic commit). A database that
cannot be read is moved aside with a warning and a fresh one is started: the predictor
relearns; it never stops a run.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maze_core.predict.model import ToolModel

__all__ = ["HistoryStore", "default_home"]

log = logging.getLogger("maze")

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY, tool TEXT NOT NULL, kind TEXT NOT NULL, features TEXT NOT NULL,
    seconds REAL NOT NULL, node TEXT, time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS observations_by_tool ON observations (tool, id);
CREATE TABLE IF NOT EXISTS models (
    tool TEXT PRIMARY KEY, kind TEXT NOT NULL, model BLOB NOT NULL, saved REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS kinds (
    name TEXT PRIMARY KEY, calls TEXT NOT NULL, saved REAL NOT NULL
);
"""
MIGRATIONS = (  # version n + 1 is reached by the script at index n (PRAGMA user_version)
    SCHEMA_V1,  # a database made before versions were counted has these tables already
    "ALTER TABLE observations ADD COLUMN session TEXT;",  # who recorded it: models merge
)
_STOP = object()
MAX_PENDING = 100_000
BUSY_S = 30.0  # how long a connection waits for another process's lock before giving up
GROUP_S = 0.2  # how long the writer lets observations gather before one commit


def default_home() -> Path:
    return Path(os.environ.get("MAZE_HOME") or "~/.maze").expanduser()


def private_folder(folder: Path) -> Path:
    """``folder``, created readable by this user only when it does not exist (the history
    holds pickled models: whoever can write it can run code in your next runtime)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def private_file(path: Path) -> Path:
    """``path``, created (if needed) and kept readable and writable by this user only.

    An existing file is never opened here: closing any descriptor of a file drops every
    POSIX lock this process holds on it, which would let SQLite connections of this
    process to the same database write without their locks."""
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        path.chmod(0o600)
    return path


class HistoryStore:
    """Append-only observations plus one saved model per tool (see the module docstring)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_home() / "history.sqlite3"
        private_folder(self.path.parent)
        self._db = self._open()
        self.session = os.urandom(8).hex()  # this store's observations, told from others'
        self.opened_at = self._last_id()  # what models loaded now may have learned
        self._lock = threading.Lock()  # the connection is shared by the writer and readers
        self._failing = False  # a write failed (disk full, read-only): memory only now
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._hurry = threading.Event()  # a flush or close is waiting: commit now
        self._dropping = False
        self._writer = threading.Thread(target=self._write_loop, name="maze-history", daemon=True)
        self._writer.start()

    def _open(self) -> sqlite3.Connection:
        """Connect; only a database that is really corrupt is moved aside (a locked one was
        waited for, up to ``BUSY_S``; a full disk or a read-only file raises, and the
        runtime then learns in memory, keeping the file)."""
        try:
            return _connect(self.path)
        except sqlite3.OperationalError:
            raise  # locked past BUSY_S, disk I/O, read-only, full: the file may be fine
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.warning(
                "maze: history database %s is unreadable (%s); moved it to %s and "
                "started a new one",
                self.path,
                exc,
                aside,
            )
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return _connect(self.path)

    # -- observations ---------------------------------------------------------------------

    def record(
        self,
        tool: str,
        kind: str,
        features: Mapping[str, float],
        seconds: float,
        node: str | None = None,
        when: float | None = None,
    ) -> None:
        """Queue one observation for the writer thread, which also serialises it. While the
        writer is more than ``MAX_PENDING`` behind, observations are dropped (with one
        warning): history must never hold the caller."""
        if self._failing:
            return
        if self._queue.qsize() > MAX_PENDING:
            if not self._dropping:
                log.warning("maze: history writer is behind; dropping observations for now")
            self._dropping = True
            return
        self._dropping = False
        self._queue.put(
            (_text(tool), kind, features, seconds, node, time.time() if when is None else when)
        )

    def _last_id(self) -> int:
        row = self._db.execute("SELECT max(id) FROM observations").fetchone()
        return int(row[0] or 0)

    def flush(self) -> None:
        """Wait until everything recorded so far is committed."""
        done = threading.Event()
        self._queue.put(done)
        self._hurry.set()
        done.wait()

    def observations(self, tool: str | None = None) -> list[tuple[str, dict[str, float], float]]:
        """(tool, features, seconds) in the order recorded (after a ``flush``)."""
        query = "SELECT tool, features, seconds FROM observations"
        params: tuple[Any, ...] = ()
        if tool is not None:
            query += " WHERE tool = ?"
            params = (tool,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [(t, json.loads(f), s) for t, f, s in rows]

    def _write_loop(self) -> None:
        """Commit what was recorded, in groups: a writer that woke and committed for every
        observation would take the GIL from the runtime thousands of times a second."""
        behind = False
        while True:
            item = self._queue.get()
            if not behind:
                self._hurry.wait(GROUP_S)
                self._hurry.clear()
            batch: list[tuple[Any, ...]] = []
            markers: list[threading.Event] = []
            while True:
                if item is _STOP:
                    self._commit(batch)
                    for marker in markers:
                        marker.set()
                    return
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    batch.append(item)
                behind = len(batch) >= 1000
                if behind:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._commit(batch)
            for marker in markers:
                marker.set()

    def _commit(self, batch: list[tuple[Any, ...]]) -> None:
        if not batch:
            return
        try:
            me = self.session
            rows = [(t, k, json.dumps(f), s, n, w, me) for t, k, f, s, n, w in batch]
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT INTO observations (tool, kind, features, seconds, node, time,"
                    " session) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        except sqlite3.OperationalError as exc:  # full, read-only, locked past BUSY_S
            self._failing = True
            log.warning(
                "maze: cannot write MaLearn's history to %s (%s); learning in memory from"
                " now on, the file is kept as it is",
                self.path,
                exc,
            )
        except Exception:  # the writer never dies: later observations still get written
            log.exception("maze: could not write %d observations to %s", len(batch), self.path)

    # -- models -----------------------------------------------------------------------------

    def save_models(
        self,
        models: Mapping[str, ToolModel],
        learn: Callable[[str, str, dict[str, float], float], None] | None = None,
    ) -> None:
        """Save each tool's model (``models``, read once ``learn`` has run), after
        ``learn`` gave them what other processes sharing the file recorded since the models
        were loaded: several drivers' models merge (the last to close saves what all of
        them learned, not only its own). One transaction, so two drivers closing at once
        each include the other's. Failures are logged, never raised (this runs as a
        runtime closes, which must stop its workers)."""
        if self._failing:
            return
        saved = 0
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN IMMEDIATE")
                if learn is not None:
                    for tool, kind, features, seconds in self._db.execute(
                        "SELECT tool, kind, features, seconds FROM observations"
                        " WHERE id > ? AND session IS NOT ? ORDER BY id",
                        (self.opened_at, self.session),
                    ).fetchall():
                        learn(tool, kind, json.loads(features), seconds)
                rows = [(_text(n), m.kind, pickle.dumps(m), time.time()) for n, m in models.items()]
                saved = len(rows)
                self._db.executemany(
                    "INSERT OR REPLACE INTO models (tool, kind, model, saved) VALUES (?, ?, ?, ?)",
                    rows,
                )
        except (sqlite3.Error, ValueError):
            log.exception("maze: could not save %d models to %s", saved, self.path)

    def load_models(self) -> dict[str, ToolModel]:
        """The saved models; one that cannot be unpickled is skipped with a warning."""
        try:
            with self._lock:
                self.opened_at = self._last_id()  # what they may have learned: saved after
                rows = self._db.execute("SELECT tool, model FROM models").fetchall()
        except sqlite3.Error as exc:  # a damaged or older table: learn again from scratch
            log.warning(
                "maze: the saved models in %s cannot be read (%s); relearning", self.path, exc
            )
            return {}
        from maze_core.predict.model import ToolModel

        models = {}
        for tool, blob in rows:
            try:
                model = pickle.loads(blob)
            except Exception as exc:
                log.warning(
                    "maze: the saved model of %s cannot be loaded (%s); relearning it", tool, exc
                )
                continue
            if getattr(model, "version", None) == ToolModel.VERSION:
                models[tool] = model
            else:
                log.info("maze: the saved model of %s is from another version; relearning", tool)
        return models

    # -- learned kinds (see maze_core.predict.kinds) ----------------------------------------

    def save_kinds(self, calls: Mapping[str, list[tuple[float, float]]]) -> None:
        rows = [(_text(name), json.dumps(seen), time.time()) for name, seen in calls.items()]
        try:
            with self._lock, self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO kinds (name, calls, saved) VALUES (?, ?, ?)", rows
                )
        except (sqlite3.Error, ValueError):
            log.exception("maze: could not save %d learned kinds to %s", len(rows), self.path)

    def load_kinds(self) -> dict[str, list[tuple[float, float]]]:
        """The calls each kind was judged on, as saved; unreadable rows are skipped."""
        try:
            with self._lock:
                rows = self._db.execute("SELECT name, calls FROM kinds").fetchall()
        except sqlite3.Error as exc:
            log.warning(
                "maze: the saved kinds in %s cannot be read (%s); relearning", self.path, exc
            )
            return {}
        kinds = {}
        for name, calls in rows:
            try:
                kinds[name] = [(float(cpu), float(busy)) for cpu, busy in json.loads(calls)]
            except (ValueError, TypeError):
                log.warning("maze: the saved kind of %s cannot be read; relearning it", name)
        return kinds

    def close(self) -> None:
        if self._writer.is_alive():
            self._queue.put(_STOP)
            self._hurry.set()
            self._writer.join()
        with self._lock:
            self._db.close()


def _text(name: str) -> str:
    """``name`` as SQLite can store it: a name that is not valid UTF-8 (a lone surrogate,
    from ``os.fsdecode`` of a file name) gets its surrogates written as escapes."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _connect(path: Path) -> sqlite3.Connection:
    # SQLite gives its -wal and -shm files the database file's permissions
    db = sqlite3.connect(
        private_file(path), check_same_thread=False, isolation_level="DEFERRED", timeout=BUSY_S
    )
    _while_busy(lambda: _wal(db))
    db.execute("PRAGMA synchronous=NORMAL")
    _while_busy(lambda: _migrate(db, path))
    db.execute("SELECT count(*) FROM observations").fetchone()  # fails now if corrupt
    return db


def _wal(db: sqlite3.Connection) -> None:
    """WAL mode, a setting of the file: switched once, by whoever opens it first."""
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")


def _while_busy(step: Callable[[], None]) -> None:
    """Run ``step``, again while SQLite says the file is locked, for up to ``BUSY_S``: a
    journal-mode switch or a schema change among processes opening a new file at once
    can be refused at once, without SQLite's own busy wait (1 of 12 processes, here)."""
    deadline = time.monotonic() + BUSY_S
    pause = 0.01
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(pause * (0.5 + random.random()))
        pause = min(pause * 2, 0.5)


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to the newest version, one migration per transaction (a process
    killed midway leaves a version that the next one continues from). A database written
    by a newer Maze is left alone: the runtime learns in memory."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version > len(MIGRATIONS):
        db.close()
        raise sqlite3.OperationalError(
            f"{path} was written by a newer Maze (schema {version}, this one knows"
            f" {len(MIGRATIONS)}); upgrade Maze or point MAZE_HOME elsewhere"
        )
    for number in range(version, len(MIGRATIONS)):
        with db:
            db.execute("BEGIN IMMEDIATE")
            (now,) = db.execute("PRAGMA user_version").fetchone()
            if now > number:  # another process migrated it meanwhile
                continue
            for statement in filter(str.strip, MIGRATIONS[number].split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")
