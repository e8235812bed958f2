from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from maze_core.timeline import read_trace

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str, tmp_path: Path, *args: str, timeout: int = 180) -> str:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "MAZE_HOME": str(tmp_path / "home")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=timeout,
        env=env,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


def test_quickstart_runs_as_a_script(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "RunResult('quickstart', done" in out.stdout
    assert "report:" in out.stdout


def test_the_readme_example_runs():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## The native API")[1].split("```python")[1].split("```")[0]
    out = subprocess.run(
        [sys.executable, "-c", block], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split()[0] == "3"


def test_the_langgraph_research_agent_runs_distributed_and_asks_for_approval(tmp_path):
    pytest.importorskip("langgraph", reason="langgraph is not installed")
    trace = tmp_path / "research.json"
    out = run_example("langgraph_research.py", tmp_path, "--timeline", str(trace))
    assert "Publish this report?" in out
    assert "_Approved: approve (by the script)" in out
    assert "summarised in parallel: dask, ray, heft, agents" in out
    assert sum(s.tool.endswith(".summarise") for s in read_trace(trace)) == 4


def test_the_langchain_agent_runs_its_tool_calls_as_maze_tasks(tmp_path):
    pytest.importorskip("langchain", reason="langchain is not installed")
    trace = tmp_path / "agent.json"
    out = run_example("langchain_agent.py", tmp_path, "--timeline", str(trace))
    assert "664579 primes below 10000000" in out
    assert "tool calls as Maze tasks:" in out
    assert {s.tool for s in read_trace(trace)} == {"lookup", "primes_below"}


@pytest.mark.slow
def test_the_cluster_example_places_tasks_by_resources(tmp_path):
    pytest.importorskip("ray", reason="ray is not installed")
    out = run_example("cluster.py", tmp_path, timeout=300)
    placed = dict(line.split()[0:4:3] for line in out.splitlines() if " on " in line)
    assert all(placed[f"embed{suffix}"] == "gpu" for suffix in ("", "-1", "-5"))
    assert placed["read_index"] == placed["read_index-1"] == "disk"
    assert "ranking: [" in out
