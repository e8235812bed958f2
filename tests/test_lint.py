"""The house rules hold: ruff (lint + format) and mypy --strict are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(
    shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
    reason="ruff is not installed (pip install -e '.[dev]')",
)
def test_ruff_is_clean():
    ruff = str(Path(sys.executable).parent / "ruff")
    lint = run(ruff, "check", ".")
    assert lint.returncode == 0, lint.stdout
    fmt = run(ruff, "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy_is_clean():
    pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[dev]')")
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout
