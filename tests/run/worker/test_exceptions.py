"""Exceptions a tool raises in another process reach the caller as their own type."""

from __future__ import annotations

import threading

import pytest

from maze_core import LocalRuntime, Remote, TaskFailedError
from maze_core.errors import RemoteTraceback
from maze_core.run.worker.exceptions import portable_error


class RateLimited(Exception):
    """Like an SDK's error: keyword-only arguments, and a field that cannot pickle."""

    def __init__(self, message: str, *, status: int, lock: object) -> None:
        super().__init__(message)
        self.status = status
        self.lock = lock


def limited(n: int) -> int:
    raise RateLimited(f"slow down ({n})", status=429, lock=threading.Lock())


def test_an_exception_that_does_not_pickle_comes_back_as_its_own_class():
    with LocalRuntime("processes", cpus=1, autoload_plugins=False) as runtime:
        remote = Remote(limited, name="limited", runtime=runtime)
        with pytest.raises(RateLimited) as raised:
            remote.call((3,), {})
    error = raised.value
    assert error.args == ("slow down (3)",)
    assert error.status == 429
    assert "lock" in error.lock  # what could not travel is its repr
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "in limited" in str(error.__cause__)  # the user's own frame


class Nowhere(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(code)


def test_an_exception_whose_class_cannot_be_found_is_described():
    Nowhere.__module__ = "no_such_module"
    standin = portable_error(Nowhere(code=1))
    import pickle

    rebuilt = pickle.loads(pickle.dumps(standin))
    assert isinstance(rebuilt, TaskFailedError)
    assert "no_such_module.Nowhere" in str(rebuilt)


def test_an_exception_that_pickles_travels_as_itself():
    error = ValueError("plain")
    assert portable_error(error) is error


class Marked(Exception):
    """Like pydantic's ValidationError: pickles as its arguments only, dropping attributes
    a library set on it afterwards (LangGraph marks an invalid resume value so)."""

    def __reduce__(self):
        return (Marked, self.args)


def marked() -> None:
    error = Marked("approved: not a boolean")
    error.invalid_resume = True
    raise error


def test_attributes_an_exceptions_own_pickling_drops_come_back_too():
    with LocalRuntime("processes", cpus=1, autoload_plugins=False) as runtime:
        remote = Remote(marked, name="marked", runtime=runtime)
        with pytest.raises(Marked) as raised:
            remote.call()
    assert raised.value.args == ("approved: not a boolean",)
    assert raised.value.invalid_resume is True
