"""The reference docs keep up with the code: every hook and every public name is described."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from maze_core import hookspecs

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_hook_is_in_the_hook_reference():
    text = (DOCS / "hooks.md").read_text()
    hooks = [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)]
    hooks = [name for name in hooks if name.startswith("maze_")]
    assert len(hooks) >= 9
    assert [name for name in hooks if f"`{name}" not in text] == []


@pytest.mark.parametrize("package", ["maze_core", "maze_langgraph", "maze_langchain", "maze_otel"])
def test_every_public_name_is_in_the_api_reference(package):
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        pytest.skip(f"{package} needs an extra that is not installed: {exc}")
    text = (DOCS / "api.md").read_text()
    assert f"## {package}" in text
    assert [name for name in module.__all__ if f"`{name}" not in text] == []
