"""A client of the shared scheduler, against a stand-in for the service actor: runs named
by random keys, a graph sent once and again when the service lost it, refusals and a lost
service raised by result()."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from maze_core import MazeError, ValidationError, Workflow, tool
from maze_core.run.ray.client import SharedScheduler
from maze_core.run.ray.service import UnknownGraph

ray = pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[dev]')")


@tool
def one(i: int) -> int:
    return i


class Call:
    def __init__(self, answer: object) -> None:
        self.answer = answer

    def future(self) -> Future:
        future: Future = Future()
        if isinstance(self.answer, BaseException) and not isinstance(self.answer, MazeError):
            future.set_exception(self.answer)
        else:
            future.set_result(self.answer)
        return future


class Service:
    """Answers each run with the next scripted answer, noting what was sent."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.sent: list[object] = []
        self.run = self

    def remote(self, key: int, graph: object, *rest: object) -> Call:
        self.sent.append(graph)
        return Call(self.answers.pop(0))


class Runtime:
    def post_event(self, event: object) -> None:
        pass


def workflow() -> Workflow:
    wf = Workflow("one")
    wf.add(one, wf.input("i"))
    return wf


def test_a_graph_travels_once_and_again_when_the_service_lost_it():
    graph = workflow().build()
    service = Service("first", "second", UnknownGraph(graph.workflow_id), "third")
    client = SharedScheduler(service)
    handles = [client.submit(Runtime(), graph, {"i": i}, False, None) for i in range(3)]
    assert [h.result(timeout=5) for h in handles] == ["first", "second", "third"]
    assert service.sent == [graph, graph.workflow_id, graph.workflow_id, graph]
    assert len({h.run_id for h in handles}) == 3


def test_a_refusal_is_raised_by_result():
    refused = ValidationError("no node has 64 CPUs", fix="ask for fewer", culprit="huge")
    client = SharedScheduler(Service(refused))
    handle = client.submit(Runtime(), workflow().build(), {"i": 1}, False, None)
    with pytest.raises(ValidationError, match="64 CPUs"):
        handle.result(timeout=5)


def test_a_lost_service_is_a_maze_error_naming_it():
    client = SharedScheduler(Service(ray.exceptions.ActorDiedError()))
    handle = client.submit(Runtime(), workflow().build(), {"i": 1}, False, None)
    with pytest.raises(MazeError, match="shared scheduler is gone") as raised:
        handle.result(timeout=5)
    assert "maze start --head" in raised.value.fix
