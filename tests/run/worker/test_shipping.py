"""Which tool modules must be shipped by value to workers that lack the user's files."""

from __future__ import annotations

import sys

from maze_core.run.worker import shipping


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


def test_maze_itself_never_travels_by_value_wherever_it_was_imported_from(monkeypatch):
    import maze_langgraph.remote

    monkeypatch.setattr(shipping, "_environment_paths", lambda: ())  # from a checkout, say
    monkeypatch.setattr(shipping, "_installed_packages", lambda: frozenset())
    for package in ("maze_core", "maze_langgraph", "maze_langchain"):
        assert shipping._importable_everywhere(package)
    assert shipping.ship_by_value(maze_langgraph.remote.run_node, pickler=None) is None


def test_a_module_never_imported_here_is_not_assumed_importable():
    assert not shipping._importable_everywhere("no_such_module_anywhere")


def test_a_function_travelling_by_value_is_pickled_once_and_unpickled_once_per_process(
    monkeypatch,
):
    import pickle

    import cloudpickle

    factor = 3
    scale = lambda x: x * factor  # noqa: E731 - a closure: only cloudpickle carries it
    shipped = shipping.shipped_once(scale, cloudpickle)
    assert isinstance(shipped, shipping.Shipped)
    assert shipped(2) == 6  # here it calls through
    monkeypatch.setattr(shipping, "_cache", type(shipping._cache)())
    arrivals = [pickle.loads(pickle.dumps(shipped)) for _ in range(3)]  # three calls' worth
    assert arrivals[0] is not scale  # rebuilt from its bytes...
    assert arrivals[0](2) == 6
    assert all(arrival is arrivals[0] for arrival in arrivals)  # ...once, then reused
    assert list(shipping._cache) == [shipped.key]


def test_objects_and_functions_pickled_by_reference_travel_as_they_are():
    import cloudpickle

    class Tool:
        pass

    tool = Tool()
    assert shipping.shipped_once(tool, cloudpickle) is tool  # keeps its state per call
    assert shipping.shipped_once(shipping.pickled, cloudpickle) is shipping.pickled


def test_a_script_function_shipped_to_local_processes_lets_calls_use_the_c_pickler():
    import pickle

    from maze_core import LocalRuntime
    from maze_core.run.worker.wire import dumps

    namespace: dict = {"__name__": "__main__"}
    exec("def node(state):\n    return {'n': state['n'] + 1}\n", namespace)  # as in a script
    node = namespace["node"]
    call = {"input": {"n": 1}}
    assert b"__main__" in dumps((node, call))  # as it is, only cloudpickle can carry it
    with LocalRuntime("processes", cpus=1) as processes, LocalRuntime("threads") as threads:
        shipped = processes.ship(node, "node")
        assert isinstance(shipped, shipping.Shipped)
        assert threads.ship(node, "node") is node  # nothing to pickle on threads
    # the C pickler's output, not cloudpickle's: the script's function is inside, in base64
    assert dumps((shipped, call)) == pickle.dumps((shipped, call), protocol=pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(dumps((shipped, call)))[0]({"n": 1}) == {"n": 2}
