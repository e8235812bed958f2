from __future__ import annotations

import textwrap

from typer.testing import CliRunner

import maze_core
from maze_core.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert maze_core.__version__ in result.output


def test_demo_runs_the_quickstart_and_writes_the_report(tmp_path):
    out = tmp_path / "report.md"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "quickstart: done" in result.output
    assert "write_report" in result.output
    assert "What Maze's documentation talks about" in result.output
    report = out.read_text()
    assert report.startswith("# What Maze's documentation talks about")
    assert "## `maze_core/graph.py`" in report


def test_run_loads_a_workflow_from_a_file_with_inputs(tmp_path):
    script = tmp_path / "flow.py"
    script.write_text(
        textwrap.dedent("""
        from maze_core import Workflow, tool

        @tool
        def greet(name: str) -> str:
            return f"hello {name}"

        def build():
            wf = Workflow("greeting")
            wf.add(greet, wf.input("who"))
            return wf
    """)
    )
    result = runner.invoke(app, ["run", f"{script}:build", "--input", "who=maze"])
    assert result.exit_code == 0, result.output
    assert "greet = 'hello maze'" in result.output


def test_run_reports_a_failed_workflow_with_exit_code_1(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text(
        textwrap.dedent("""
        from maze_core import Workflow

        def explode():
            raise RuntimeError("kaboom")

        wf = Workflow("broken")
        wf.add(explode)
    """)
    )
    result = runner.invoke(app, ["run", f"{script}:wf"])
    assert result.exit_code == 1
    assert "kaboom" in result.output


def test_run_explains_a_bad_target():
    result = runner.invoke(app, ["run", "no_such_module_xyz:wf"])
    assert result.exit_code == 2
    assert "cannot import 'no_such_module_xyz'" in result.output
    result = runner.invoke(app, ["run", "nothing-here"])
    assert result.exit_code == 2
    assert "FILE.py:NAME" in result.output
