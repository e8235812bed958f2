"""Which tool modules must be shipped by value to workers that lack the user's files."""

from __future__ import annotations

import sys

from maze_core.run import shipping


def test_a_module_is_importable_everywhere_only_from_a_folder_the_environment_puts_on_the_path(
    tmp_path, monkeypatch
):
    (tmp_path / "env_module.py").write_text("X = 1\n")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "script_module.py").write_text("X = 2\n")
    (tmp_path / "env_package").mkdir()
    (tmp_path / "env_package" / "__init__.py").write_text("X = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "scripts"))
    monkeypatch.setattr(shipping, "_environment_paths", lambda: (str(tmp_path.resolve()),))
    for name in ("env_module", "script_module", "env_package"):
        monkeypatch.delitem(sys.modules, name, raising=False)
        __import__(name)
    assert shipping._importable_everywhere("env_module")
    assert shipping._importable_everywhere("env_package")
    # beside a script, importable only because the script's folder is on *this* path
    assert not shipping._importable_everywhere("script_module")
    assert shipping._importable_everywhere("json")  # the standard library


def test_a_module_never_imported_here_is_not_assumed_importable():
    assert not shipping._importable_everywhere("no_such_module_anywhere")
