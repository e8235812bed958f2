"""Timelines: Chrome trace-event JSON of runs and simulations, and their Gantt charts."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict

import pytest
from typer.testing import CliRunner

from maze_core import Workflow, tool
from maze_core.cli import app
from maze_core.timeline import Slice, gantt, read_trace, slices_of, write_trace

runner = CliRunner()


@tool
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@tool(kind="io")
def total(values: list) -> float:
    return sum(values)


def fan_in_workflow() -> tuple[Workflow, list]:
    wf = Workflow("fan-in")
    naps = [wf.add(nap, 0.02) for _ in range(4)]
    return wf, [*naps, wf.add(total, naps)]


def test_a_run_becomes_a_trace_with_a_slice_per_task_and_an_arrow_per_dependency(threads, tmp_path):
    wf, _ = fan_in_workflow()
    result = threads.submit(wf).result(timeout=30)
    document = json.loads(result.timeline(tmp_path / "run.json").read_text())
    events = document["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert sorted(e["name"] for e in slices) == sorted(result.tasks)
    merge = next(e for e in slices if e["name"] == "total")
    assert merge["cat"] == "io"
    assert merge["args"]["tool"] == "total"
    assert merge["args"]["deps"] == ["nap", "nap-1", "nap-2", "nap-3"]
    assert merge["args"]["queue_wait_s"] >= 0
    assert merge["args"]["predicted"] > 0
    starts = [e for e in events if e["ph"] == "s"]
    ends = [e for e in events if e["ph"] == "f"]
    assert len(starts) == len(ends) == 4  # one arrow per data dependency
    assert all(f["ts"] == merge["ts"] and f["bp"] == "e" for f in ends)
    names = {e["args"]["name"] for e in events if e["ph"] == "M"}
    assert {"node local", "slot 1", "slot 2"} <= names


def test_slices_on_one_slot_never_overlap(threads):
    wf = Workflow("many")
    for _ in range(12):
        wf.add(nap, 0.01)
    document = trace_of(threads.submit(wf).result(timeout=30))
    per_slot = defaultdict(list)
    for event in document["traceEvents"]:
        if event["ph"] == "X":
            per_slot[event["pid"], event["tid"]].append((event["ts"], event["ts"] + event["dur"]))
    assert len(per_slot) == 2  # 2 CPUs: two slots
    for spans in per_slot.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def trace_of(result):
    from maze_core.timeline import trace_events

    return trace_events(slices_of(result))


def test_a_trace_reads_back_as_the_same_slices(tmp_path):
    slices = [
        Slice(1, "w", "a", "tool_a", "cpu", "n1", 100.0, 101.5, queued=99.0, predicted=1.2),
        Slice(1, "w", "b", "tool_b", "gpu", "n2", 101.5, 102.0, deps=("a",), attempts=2),
    ]
    again = read_trace(write_trace(tmp_path / "t.json", slices))
    assert [(s.task, s.kind, s.node, s.deps, s.attempts) for s in again] == [
        ("a", "cpu", "n1", (), 1),
        ("b", "gpu", "n2", ("a",), 2),
    ]
    assert again[0].start == pytest.approx(100.0)
    assert again[1].end == pytest.approx(102.0)


def test_the_gantt_chart_is_drawn_and_bad_files_are_named(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the plot extra)")
    slices = [Slice(0, "w", f"t{i}", "t", "cpu", "n", i * 0.5, i * 0.5 + 1) for i in range(5)]
    png = gantt(slices, tmp_path / "g.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    (tmp_path / "bad.json").write_text("{}")
    result = runner.invoke(app, ["timeline", str(tmp_path / "bad.json"), "--png", "x.png"])
    assert result.exit_code == 2
    assert "is not a Maze timeline" in result.output


def test_maze_run_writes_a_timeline_that_maze_timeline_draws(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (the plot extra)")
    script = tmp_path / "flow.py"
    script.write_text(
        "from maze_core import Workflow, tool\n"
        "@tool\ndef double(x: int) -> int:\n    return 2 * x\n"
        "wf = Workflow('cli')\nwf.add(double, wf.add(double, 3))\n"
    )
    trace = tmp_path / "flow.json"
    result = runner.invoke(app, ["run", f"{script}:wf", "--timeline", str(trace)])
    assert result.exit_code == 0, result.output
    assert [s.task for s in read_trace(trace)] == ["double", "double-1"]
    png = tmp_path / "flow.png"
    result = runner.invoke(app, ["timeline", str(trace), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "2 tasks on 1 node over" in result.output
    assert png.exists()
