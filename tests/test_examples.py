from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
