"""`maze predictor eval` and `maze predictor show`."""

from __future__ import annotations

import csv
import gzip
import json

import pytest
from typer.testing import CliRunner

from maze_core.cli import app
from maze_core.predict.malearn import MaLearn
from maze_core.predict.store import HistoryStore
from maze_core.sim.trace import default_trace_dir

COLUMNS = [
    "exp",
    "source_dir",
    "dup_of",
    "clean",
    "exec_time_s",
    "start_s",
    "finish_s",
    "run_t0_epoch",
    "task_name",
    "llm_backend",
    "task_type",
    "model_name",
    "pred_exec_time_s",
    "pred_kind",
    "pred_input_features_json",
]


def write_trace(folder, rows):
    folder.mkdir()
    with gzip.open(folder / "tasks.csv.gz", "wt", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def synthetic_rows(n):
    rows = []
    for i in range(n):
        tokens = 100 + 50 * (i % 7)
        rows.append(
            {
                "exp": "x",
                "source_dir": "x/run",
                "dup_of": "",
                "clean": "True",
                "exec_time_s": str(tokens / 10),
                "start_s": str(i * 30.0),
                "finish_s": str(i * 30.0 + tokens / 10),
                "run_t0_epoch": "1000",
                "task_name": "llm",
                "llm_backend": "vllm",
                "task_type": "gpu",
                "model_name": "m",
                "pred_exec_time_s": "15",
                "pred_kind": "model",
                "pred_input_features_json": json.dumps({"token_count": tokens}),
            }
        )
    return rows


def test_eval_writes_the_documented_keys(tmp_path):
    write_trace(tmp_path / "trace", synthetic_rows(120))
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app, ["predictor", "eval", "--test", str(tmp_path / "trace"), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    for key in ("mae_s", "mape_ge_1s"):
        assert key in figures["overall"]
    for key in ("mae_s", "original_mae_s", "ewma_baseline_mae_s", "median16_baseline_mae_s"):
        assert key in figures["gpu_model_rows"]
    assert figures["remaining_work"]["points"] > 0
    assert {"mae_s", "median_ape"} <= figures["by_type"]["gpu"].keys()
    assert figures["predict_us_median"] > 0
    assert figures["learn_us_median"] > 0
    # the duration is a function of the tokens: MaLearn beats the constant 15 s guess
    assert figures["gpu_model_rows"]["mae_s"] < figures["gpu_model_rows"]["original_mae_s"] / 2


def test_eval_on_the_dev_split_warms_up_on_train_experiments_only(tmp_path):
    rows = synthetic_rows(120)
    for i, row in enumerate(rows):
        row["exp"] = ("exp1", "exp2", "exp5")[i % 3]  # exp5: in neither split
    write_trace(tmp_path / "trace", rows)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app, ["predictor", "eval", "--test", str(tmp_path / "trace"), "--dev", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["overall"]["rows"] == 40  # the exp2 rows


def test_eval_refuses_a_folder_without_a_trace(tmp_path):
    result = CliRunner().invoke(app, ["predictor", "eval", "--test", str(tmp_path)])
    assert result.exit_code == 2
    assert "tasks.csv.gz" in result.output


def test_show_lists_what_was_learned(tmp_path, monkeypatch):
    monkeypatch.setenv("MAZE_HOME", str(tmp_path))
    learner = MaLearn(store=HistoryStore(), background=False)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):
        learner.learn("summarise", "gpu", {}, seconds)
    learner.close()
    result = CliRunner().invoke(app, ["predictor", "show"])
    assert result.exit_code == 0, result.output
    assert "summarise" in result.output


@pytest.mark.skipif(
    default_trace_dir() is None,
    reason="../shared/traces is not here (a user's clone has no shared folder)",
)
def test_eval_runs_on_the_published_trace(tmp_path):
    trace = default_trace_dir()
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        app, ["predictor", "eval", "--test", str(trace), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(out.read_text())
    assert figures["gpu_model_rows"]["rows"] > 500
    assert figures["gpu_model_rows"]["mae_s"] < figures["gpu_model_rows"]["original_mae_s"]


def test_predictor_show_lists_learned_kinds(tmp_path, monkeypatch):
    from maze_core import LocalRuntime

    monkeypatch.setenv("MAZE_HOME", str(tmp_path))
    with LocalRuntime("threads", cpus=1, autoload_plugins=False) as runtime:
        for _ in range(2):
            runtime.kinds.observe("graph.crunch", wall=0.1, cpu=0.1)
            runtime.kinds.observe("graph.fetch", wall=0.5, cpu=0.001)
    shown = CliRunner().invoke(app, ["predictor", "show"]).output
    assert "graph.crunch" in shown
    assert "workers" in shown
    assert "the caller" in shown
