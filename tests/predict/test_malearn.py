from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from maze_core import LocalRuntime, Workflow, tool
from maze_core.predict.malearn import MaLearn
from maze_core.predict.model import MIN_MODEL, Forest, ToolModel, import_river_now
from maze_core.predict.store import HistoryStore


def test_cold_start_goes_default_then_median_then_model():
    learner = MaLearn(background=False, defaults={"cpu": 0.08})
    first = learner.predict("t", "cpu", {})
    assert (float(first), first.source) == (0.08, "default")
    for seconds in (1.0, 3.0, 2.0):
        learner.learn("t", "cpu", {}, seconds)
    second = learner.predict("t", "cpu", {})
    assert second.source == "median"
    assert float(second) == pytest.approx(2.0)
    for _ in range(MIN_MODEL):
        learner.learn("t", "cpu", {}, 2.0)
    assert learner.predict("t", "cpu", {}).source.startswith("model:")


def test_predictions_are_never_negative_or_nan():
    learner = MaLearn(background=False)
    rng = random.Random(0)
    for _ in range(300):
        features = {"x": rng.uniform(-1e9, 1e9), "y": rng.choice([0.0, 1e300, -1e300])}
        learner.learn("wild", "gpu", features, rng.choice([0.0, 1e-9, 5.0, 1e6]))
        prediction = learner.predict("wild", "gpu", features)
        assert math.isfinite(prediction)
        assert prediction >= 0
        assert prediction.p90 >= prediction


def test_a_better_candidate_takes_over():
    import_river_now()
    model = ToolModel("t", "gpu")
    rng = random.Random(1)
    for _ in range(400):  # the duration is exactly 10 x the feature: a learner beats the level
        size = rng.uniform(1, 10)
        model.learn({"size": size}, 10 * size)
    assert model.champion() != "level"
    assert model.errors[model.champion()] < model.errors["level"]


def test_learning_never_waits_for_river_and_the_learner_joins_once_it_is_there():
    script = textwrap.dedent(
        """
        import sys
        from maze_core.predict.model import ToolModel, import_river_now
        model = ToolModel("t", "cpu")
        for i in range(20):
            model.learn({"size": float(i % 5)}, 0.1 * (1 + i % 5))
        print(model.online is None, model.champion() != "online")
        import_river_now()
        model.learn({"size": 1.0}, 0.2)
        print(model.online is not None, len(model.recent))
        """
    )
    lines = _python(script).split()
    assert lines == ["True", "True", "True", "21"]


def test_loading_saved_models_does_not_import_river(tmp_path):
    import_river_now()
    store = HistoryStore(tmp_path / "h.sqlite3")
    learner = MaLearn(store=store, background=False)
    for i in range(20):
        learner.learn("t", "cpu", {"size": float(i)}, 0.1 + i / 100)
    learner.close()
    script = f"""
import sys
from maze_core.predict.store import HistoryStore
models = HistoryStore({str(tmp_path / "h.sqlite3")!r}).load_models()
print("river" in sys.modules, models["t"].saved_online is not None, models["t"].count)
"""
    assert _python(script).split() == ["False", "True", "20"]


def _python(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def test_xgboost_is_retrained_in_the_background_and_compiled():
    learner = MaLearn(background=True, retrain_every=50)
    rng = random.Random(2)
    for _ in range(120):
        size = rng.uniform(1, 10)
        learner.learn("t", "cpu", {"size": size}, 0.05 * size)
    learner.close()
    assert isinstance(learner._models["t"].batch, Forest)
    assert "batch" in learner._models["t"].errors


def test_the_compiled_forest_matches_xgboost():
    np = pytest.importorskip("numpy")
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    matrix = rng.random((400, 3)).astype(np.float32)
    matrix[::5, 1] = np.nan  # missing features take XGBoost's default branch
    target = matrix[:, 0] * 3 + np.nan_to_num(matrix[:, 1])
    params = {"max_depth": 4, "eta": 0.1, "nthread": 1, "verbosity": 0}
    booster = xgboost.train(params, xgboost.DMatrix(matrix, target), num_boost_round=40)
    forest = Forest(booster, ["a", "b", "c"])
    for row in matrix[:100]:
        features = {n: float(v) for n, v in zip("abc", row, strict=True) if not np.isnan(v)}
        expected = float(booster.inplace_predict(row[None, :])[0])
        assert forest.predict(features) == pytest.approx(expected, abs=1e-4)


def test_history_and_models_survive_a_restart(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    learner = MaLearn(store=store, background=False)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        learner.learn("tool", "cpu", {"n": seconds}, seconds)
    before = learner.predict("tool", "cpu", {"n": 3.0})
    learner.close()
    again = MaLearn(store=HistoryStore(tmp_path / "h.sqlite3"), background=False)
    assert float(again.predict("tool", "cpu", {"n": 3.0})) == pytest.approx(float(before))
    assert len(again.store.observations("tool")) == 6
    again.close()


def test_a_corrupt_database_is_moved_aside_and_replaced(tmp_path, caplog):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = HistoryStore(path)
    store.record("t", "cpu", {}, 1.0)
    store.flush()
    assert len(store.observations()) == 1
    store.close()
    assert "unreadable" in caplog.text
    assert list(tmp_path.glob("h.sqlite3.corrupt-*"))


def test_a_process_killed_mid_write_leaves_a_consistent_database(tmp_path):
    path = tmp_path / "h.sqlite3"
    writer = textwrap.dedent(f"""
        from maze_core.predict.store import HistoryStore
        store = HistoryStore({str(path)!r})
        print("ready", flush=True)
        i = 0
        while True:
            store.record("t", "cpu", {{"i": float(i)}}, 1.0)
            i += 1
            if i % 50 == 0:
                store.flush()  # as a live runtime does, the writer keeps committing
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = db.execute("SELECT features FROM observations ORDER BY id").fetchall()
    db.close()
    assert rows  # whole batches were committed before the kill, and nothing is half-written
    import json

    assert [json.loads(f)["i"] for (f,) in rows] == [float(i) for i in range(len(rows))]


def test_concurrent_learners_lose_nothing(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    learner = MaLearn(store=store, background=True, retrain_every=100)

    def work(worker):
        for i in range(250):
            learner.learn(f"tool{worker % 3}", "cpu", {"i": i}, 0.01 + i / 1000)
            learner.predict(f"tool{worker % 3}", "cpu", {"i": i})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    learner.close()
    counts = {row["tool"]: row["samples"] for row in learner.summary()}
    assert counts == {"tool0": 750, "tool1": 750, "tool2": 500}
    check = HistoryStore(tmp_path / "h.sqlite3")
    assert len(check.observations()) == 2000
    check.close()


@tool
def sized(text: str) -> int:
    time.sleep(0.001 * len(text))
    return len(text)


def test_the_runtime_feeds_malearn_and_uses_its_predictions(tmp_path):
    learner = MaLearn(store=HistoryStore(tmp_path / "h.sqlite3"), background=False)
    with LocalRuntime("threads", cpus=2, predictor=learner, autoload_plugins=False) as runtime:
        for _ in range(3):
            wf = Workflow("learn")
            for n in (5, 10, 20, 5, 10, 20):
                wf.add(sized, "x" * n)
            runtime.submit(wf).result(timeout=60)
        wf = Workflow("predict")
        ref = wf.add(sized, "x" * 10)
        record = runtime.submit(wf).result(timeout=60).tasks[ref.task_id]
    assert learner.summary()[0]["samples"] == 19
    assert 0.002 < record.predicted_seconds < 0.1  # learned, not the 0.1 s cpu default
    learner.store.flush()
    first = learner.store.observations("sized")[0][1]
    assert first["text.len"] == 5.0
    assert first["text.tokens"] == 1.25
    assert first["inflight_same"] in (0.0, 1.0)  # at most the other CPU slot was busy
    learner.close()


@tool
def plan(topic: str) -> str:
    from maze_core import export_features

    prompt = f"write about {topic} " * 40
    export_features(prompt_tokens=len(prompt) / 4)
    return prompt


@tool
def write(prompt: str) -> int:
    return len(prompt)


@pytest.mark.parametrize("executor", ["inline", "threads", "processes"])
def test_features_exported_by_a_task_reach_its_successors_predictor(tmp_path, executor):
    learner = MaLearn(store=HistoryStore(tmp_path / "h.sqlite3"), background=False)
    with LocalRuntime(executor, cpus=2, predictor=learner, autoload_plugins=False) as runtime:
        wf = Workflow("export")
        wf.add(write, wf.add(plan, "maze"))
        runtime.submit(wf).result(timeout=60)
    learner.store.flush()
    (observation,) = learner.store.observations("write")
    assert observation[1]["prompt_tokens"] == pytest.approx(len("write about maze " * 40) / 4)
    assert "prompt_tokens" not in learner.store.observations("plan")[0][1]
    learner.close()


def test_a_model_saved_by_another_version_is_relearned(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3")
    old = ToolModel("t", "cpu")
    old.learn({}, 1.0)
    old.version = 1
    store.save_models({"t": old})
    assert store.load_models() == {}
    store.close()


def test_the_history_is_private_to_its_user(tmp_path):
    home = tmp_path / "home"
    store = HistoryStore(home / "history.sqlite3")
    store.record("t", "cpu", {}, 1.0)
    store.flush()
    store.close()
    assert (home.stat().st_mode & 0o777) == 0o700
    assert ((home / "history.sqlite3").stat().st_mode & 0o777) == 0o600
    for suffix in ("-wal", "-shm"):
        side = home / f"history.sqlite3{suffix}"
        assert not side.exists() or (side.stat().st_mode & 0o077) == 0


def test_the_history_keeps_tiny_calls_as_the_learners_do(tmp_path):
    learner = MaLearn(store=HistoryStore(tmp_path / "h.sqlite3"), background=False)
    for i in range(5 + 16 * 4):
        learner.learn("tiny", "cpu", {"i": float(i)}, 0.0001)
    learner.learn("slow", "cpu", {}, 1.0)
    learner.store.flush()
    assert len(learner.store.observations("tiny")) == 5 + 4  # the first ones, then 1 in 16
    assert len(learner.store.observations("slow")) == 1
    learner.close()


def test_a_short_lived_process_never_imports_river():
    """River (1-2 CPU-s, contending for the interpreter lock while it loads) is imported for
    a tool's online learner only once it has had IMPORT_AFTER calls and the process has
    seen IMPORT_AFTER_WORK_S of work: a script or test file of tiny calls never pays it."""
    code = textwrap.dedent("""
        import sys, time
        from maze_core.predict import model
        from maze_core.predict.malearn import MaLearn

        learner = MaLearn()
        for i in range(model.IMPORT_AFTER - 1):
            learner.learn("tool", "cpu", {"n": float(i)}, 0.05)
            learner.predict("tool", "cpu", {"n": float(i)})
        for i in range(200):  # many calls, little work
            learner.learn("tiny", "cpu", {"n": float(i)}, 0.001)
        time.sleep(0.2)
        before = "river" in sys.modules or model._river_import_started.is_set()
        learner.learn("tool", "cpu", {"n": 1.0}, model.IMPORT_AFTER_WORK_S)
        learner.learn("tool", "cpu", {"n": 1.0}, 0.05)
        print(before, model._river_import_started.is_set())
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False", "True"]


def test_a_tool_name_that_is_not_utf8_is_recorded_and_saved(tmp_path):
    from maze_core.tools import make_spec

    def body(x: int) -> int:
        time.sleep(0.02)  # not tiny: every call is recorded
        return x

    spec = make_spec(body, name=os.fsdecode(b"data\xff"))  # a file name's lone surrogate
    store = HistoryStore(tmp_path / "history.sqlite3")
    learner = MaLearn(store=store)
    runtime = LocalRuntime("threads", cpus=2, predictor=learner, autoload_plugins=False)
    for i in range(3):
        wf = Workflow("odd")
        wf.add(spec, i)
        assert runtime.submit(wf).result(timeout=30).ok
    flushed = threading.Thread(target=store.flush, daemon=True)
    flushed.start()
    flushed.join(timeout=30)
    assert not flushed.is_alive(), "the history writer died"
    runtime.close()
    learner.close()  # saves the models: never raises
    again = HistoryStore(tmp_path / "history.sqlite3")
    assert [tool for tool, _, _ in again.observations()] == ["data\\udcff"] * 3
    assert "data\\udcff" in again.load_models()
    again.close()


def test_a_database_locked_at_start_up_is_waited_for_not_moved_aside(tmp_path):
    path = tmp_path / "h.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process writing: longer than SQLite's 5 s
    holder.execute("CREATE TABLE theirs (x)")
    holder.execute("INSERT INTO theirs VALUES (1)")

    def release() -> None:
        time.sleep(5.5)
        holder.execute("COMMIT")

    releasing = threading.Thread(target=release)
    releasing.start()
    store = HistoryStore(path)  # waits for the lock, never calls the file corrupt
    releasing.join()
    store.close()
    holder.close()
    assert not list(tmp_path.glob("h.sqlite3.corrupt-*"))
    with sqlite3.connect(path) as db:  # the other writer's commit is not lost
        assert db.execute("SELECT x FROM theirs").fetchall() == [(1,)]


def test_an_unreadable_models_table_is_relearned_not_fatal(tmp_path, caplog):
    path = tmp_path / "h.sqlite3"
    HistoryStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE models")
        db.execute("CREATE TABLE models (something_else TEXT)")  # an older or damaged schema
    learner = MaLearn(store=HistoryStore(path), background=False)
    assert "relearning" in caplog.text
    learner.learn("t", "cpu", {}, 1.0)
    assert float(learner.predict("t", "cpu", {})) == pytest.approx(1.0)
    learner.close()
