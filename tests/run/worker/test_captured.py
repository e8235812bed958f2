"""A function's captured values are kept in step between its caller and a worker's copy."""

from __future__ import annotations

import dataclasses
import pickle
import threading

import cloudpickle

from maze_core.run.worker.captured import LIMIT, Captured, Sent, Tracking


def in_worker(fn, sent: Sent) -> tuple[object, Tracking]:
    """``fn`` as another process gets it (a pickled copy), given this call's values."""
    copy = pickle.loads(cloudpickle.dumps(fn))
    tracking = Tracking.start(copy, dataclasses.replace(sent, pid=-1))
    assert tracking is not None
    return copy, tracking


def run_remotely(captured: Captured, *args):
    sent = captured.send()
    copy, tracking = in_worker(captured.fn, sent)
    value = copy(*args)
    changes = tracking.changes()
    if changes is not None:
        captured.take_back(sent, changes)
    return value


def make_counter():
    count = 0
    seen: list[int] = []
    totals = {"calls": 0}

    def body():
        nonlocal count
        count += 1
        seen.append(count)
        totals["calls"] += 1
        return count

    return body, lambda: (count, seen, totals)


def test_a_body_changing_its_closure_changes_the_callers_values():
    body, state = make_counter()
    captured = Captured.of(body)
    _, seen, totals = state()
    assert [run_remotely(captured) for _ in range(3)] == [1, 2, 3]
    assert state() == (3, [1, 2, 3], {"calls": 3})
    assert state()[1] is seen  # changed in place, not replaced
    assert state()[2] is totals


def test_the_worker_starts_from_the_callers_current_values():
    flags = [True]

    def body():
        return flags[0]

    captured = Captured.of(body)
    assert run_remotely(captured) is True
    flags[0] = False  # the caller changes it between calls
    assert run_remotely(captured) is False


def test_a_body_that_only_reads_sends_nothing_back():
    config = {"retries": 3}

    def body():
        return config["retries"]

    captured = Captured.of(body)
    copy, tracking = in_worker(body, captured.send())
    assert copy() == 3
    assert tracking.changes() is None


def test_calls_running_at_once_both_count():
    body, state = make_counter()
    captured = Captured.of(body)
    first, second = captured.send(), captured.send()
    copies = [in_worker(body, sent) for sent in (first, second)]
    for copy, _ in copies:
        copy()
    for sent, (_, tracking) in zip((first, second), copies, strict=True):
        captured.take_back(sent, tracking.changes())
    count, seen, totals = state()
    assert count == 2  # both increments, not the last writer's 1
    assert seen == [1, 1]
    assert totals == {"calls": 2}


def test_two_counters_at_the_same_value_each_take_their_change():
    calls = cancels = 0  # both hold the one int object 0

    def body():
        nonlocal calls, cancels
        calls += 1
        cancels += 1

    captured = Captured.of(body)
    run_remotely(captured)
    assert (calls, cancels) == (1, 1)


class Cursor:
    def __init__(self) -> None:
        self.position = 0

    def next(self) -> int:
        self.position += 1
        return self.position


def test_a_bound_methods_object_takes_the_bodys_changes():
    cursor = Cursor()
    captured = Captured.of(cursor.next)
    assert [run_remotely(captured) for _ in range(2)] == [1, 2]
    assert cursor.position == 2


class Counting:
    calls = 0  # a class attribute the first call shadows

    def __init__(self) -> None:
        self.log: list[str] = []

    def __call__(self, name: str) -> int:
        self.calls += 1
        self.log.append(name)
        return self.calls


def test_a_callable_object_takes_the_bodys_changes():
    counting = Counting()
    captured = Captured.of(counting)
    assert [run_remotely(captured, "a"), run_remotely(captured, "b")] == [1, 2]
    assert (counting.calls, counting.log) == (2, ["a", "b"])


def test_an_objects_attributes_changed_by_calls_at_once_all_count():
    counting = Counting()
    captured = Captured.of(counting)
    first, second = captured.send(), captured.send()
    for sent, name in ((first, "a"), (second, "b")):
        copy, tracking = in_worker(counting, sent)
        copy(name)
        captured.take_back(sent, tracking.changes())
    assert (counting.calls, sorted(counting.log)) == (2, ["a", "b"])


def test_a_default_argument_the_body_changes_changes_in_the_caller():
    def body(item: str, seen: list = [], *, counts: dict = {}) -> int:  # noqa: B006
        seen.append(item)
        counts[item] = counts.get(item, 0) + 1
        return len(seen)

    captured = Captured.of(body)
    assert [run_remotely(captured, "a"), run_remotely(captured, "b")] == [1, 2]
    assert body.__defaults__ == (["a", "b"],)
    assert body.__kwdefaults__ == {"counts": {"a": 1, "b": 1}}


def test_an_object_with_attribute_magic_is_not_tracked():
    from unittest import mock

    assert Captured.of(mock.Mock(side_effect=lambda state: 1)) is None  # a mock, a proxy


def test_big_and_unpicklable_values_are_not_tracked():
    big = "x" * (LIMIT + 1)
    lock = threading.Lock()

    def body():
        return big, lock

    assert Captured.of(body) is None


def test_code_is_not_a_value_to_track():
    def helper():
        return 1

    def body():
        return helper() + len(Cursor.__name__)

    assert Captured.of(body) is None


def test_in_the_callers_own_process_the_objects_are_shared_and_left_alone():
    body, _ = make_counter()
    assert Tracking.start(body, Captured.of(body).send()) is None
