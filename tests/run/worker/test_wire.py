"""Calls and results pickle for worker processes, whatever they carry."""

from __future__ import annotations

import pickle

import pytest

from maze_core.run.worker.wire import BY_VALUE, dumps

pydantic = pytest.importorskip("pydantic", reason="pydantic is not installed")


def a_model_made_beside(neighbour: object) -> type:
    """A pydantic model defined in a function, which keeps that function's locals
    (``neighbour`` among them) to resolve forward references."""

    class Order(pydantic.BaseModel):
        item: str

    assert "neighbour" in (Order.__pydantic_parent_namespace__ or {})
    return Order


class Connection(tuple):
    """Stands for what a function's locals may hold and should not travel (a live client,
    a checkpointer's storage; one pydantic cannot hold by weak reference, as it holds those
    it can)."""


def test_a_model_defined_in_a_function_travels_without_that_functions_locals():
    order_class = a_model_made_beside(Connection())
    data = dumps(order_class(item="tea"))
    assert b"Connection" not in data
    assert pickle.loads(data).item == "tea"


def test_a_function_shipped_by_value_takes_such_a_model_along_without_them():
    order_class = a_model_made_beside(Connection())

    def make(item: str) -> object:
        return order_class(item=item)

    data = BY_VALUE.dumps(make)
    assert b"Connection" not in data
    assert pickle.loads(data)("tea").item == "tea"


def make_local_class() -> type:
    class Local:
        pass

    return Local


@pytest.mark.parametrize("pickler", ["maze", "ray"])
def test_pickling_a_class_made_in_a_function_draws_nothing_from_the_apps_uuid4(
    pickler, monkeypatch
):
    """cloudpickle (and Ray's copy of it) names such a class with a uuid4; an application
    (LangGraph's own tests) may script uuid4, and a distributed graph shifted its ids (3
    suite tests, on Ray too)."""
    import uuid

    if pickler == "ray":
        pytest.importorskip("ray", reason="ray is not installed")
        from maze_core.run.ray.tasks import ray_module

        to_bytes = ray_module().cloudpickle.dumps
    else:
        to_bytes = dumps
    drawn: list[int] = []
    real = uuid.uuid4
    monkeypatch.setattr(uuid, "uuid4", lambda: drawn.append(1) or real())
    assert pickle.loads(to_bytes(make_local_class())).__name__ == "Local"
    assert drawn == []
