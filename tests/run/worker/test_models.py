"""Resident models: a tool's model is built once per worker process and served many calls."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from maze_core import (
    LocalRuntime,
    TaskFailedError,
    ValidationError,
    Workflow,
    current_model,
    tool,
)
from maze_core.run.worker.models import ModelCache, ModelUse


def load_counter() -> dict:
    """A 'model' that is slow to build and records each build as a file (processes count)."""
    time.sleep(0.2)
    marks = Path(os.environ["MAZE_TEST_MARKS"])
    (marks / f"load-{os.getpid()}-{time.monotonic_ns()}").touch()
    return {"weights": 2}


@tool(model="counter", load=load_counter)
def scaled(x: int) -> int:
    return x * current_model()["weights"]


@pytest.fixture
def marks(tmp_path, monkeypatch):
    monkeypatch.setenv("MAZE_TEST_MARKS", str(tmp_path))
    from maze_core.run.worker.models import CACHE

    CACHE.clear()
    yield tmp_path
    CACHE.clear()


def loads(marks: Path) -> list[Path]:
    return list(marks.glob("load-*"))


def test_the_model_is_loaded_once_per_process_across_many_calls(runtime, marks):
    wf = Workflow("served")
    refs = [wf.add(scaled, i) for i in range(12)]
    result = runtime.submit(wf).result(timeout=60)
    assert [result[ref] for ref in refs] == [2 * i for i in range(12)]
    processes = {path.name.split("-")[1] for path in loads(marks)}
    assert len(loads(marks)) == len(processes)  # never twice in one process
    if runtime.executor_name != "processes":
        assert len(loads(marks)) == 1


def test_an_idle_model_is_dropped_and_loaded_again(marks):
    with LocalRuntime("threads", cpus=2, autoload_plugins=False, model_idle_s=0.2) as rt:
        wf = Workflow("idle")
        wf.add(scaled, 1)
        rt.submit(wf).result(timeout=30)
        time.sleep(0.4)
        rt.submit(wf).result(timeout=30)
    assert len(loads(marks)) == 2


def test_a_failing_loader_fails_the_task_naming_the_model(threads):
    def broken() -> None:
        raise OSError("weights file missing")

    @tool(model="broken", load=broken)
    def uses() -> None:
        current_model()

    wf = Workflow("broken-model")
    ref = wf.add(uses)
    error = threads.submit(wf).result(timeout=30).tasks[ref.task_id].error
    assert isinstance(error, TaskFailedError)
    assert "loading model 'broken'" in str(error)
    assert "weights file missing" in str(error)


def test_load_needs_a_model_name_and_a_callable():
    with pytest.raises(ValidationError, match="no model="):
        tool(load=dict)(lambda: None)
    with pytest.raises(ValidationError, match="load="):
        tool(model="m", load="weights.bin")(lambda: None)


def test_current_model_outside_a_served_tool_says_how_to_declare_one():
    with pytest.raises(ValidationError, match="load=build_fn"):
        current_model()


def test_concurrent_first_calls_load_once_and_a_used_model_is_never_evicted():
    cache = ModelCache()
    built = []

    def build() -> object:
        time.sleep(0.1)
        built.append(1)
        return object()

    use = ModelUse("m", build, idle_s=0.0)
    seen = []

    def call() -> None:
        with cache.using(use) as model:
            seen.append(model)
            time.sleep(0.05)
            assert cache.evict_idle(0.0) == []  # in use

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1
    assert len({id(model) for model in seen}) == 1
    assert cache.evict_idle(0.0) == ["m"]
    assert "m" not in cache
