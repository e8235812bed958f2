from __future__ import annotations

import pickle

import pytest

import maze_core.errors as errors
from maze_core.errors import MazeError, TaskFailedError, missing_dependency

ALL = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_error_pickles_with_problem_fix_and_culprit(cls):
    error = cls("it broke", fix="do this", culprit="the-culprit")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.problem, copy.fix, copy.culprit) == ("it broke", "do this", "the-culprit")
    assert str(copy) == "it broke\n  fix: do this"


def test_an_unpicklable_culprit_travels_as_its_repr():
    culprit = lambda: None  # noqa: E731
    copy = pickle.loads(pickle.dumps(MazeError("bad", culprit=culprit)))
    assert copy.culprit == repr(culprit)


def test_extra_attributes_travel_too():
    error = TaskFailedError("task raised", fix="fix it")
    error.remote_traceback = "Traceback ..."
    error.cause = ValueError("inner")
    copy = pickle.loads(pickle.dumps(error))
    assert copy.remote_traceback == "Traceback ..."
    assert isinstance(copy.cause, ValueError)


def test_errors_subclass_the_builtin_users_catch():
    assert issubclass(errors.ValidationError, ValueError)
    assert issubclass(errors.TaskTimeoutError, TimeoutError)
    assert issubclass(errors.SerializationError, TypeError)
    assert issubclass(errors.MissingDependencyError, ImportError)


def test_missing_dependency_gives_the_install_line():
    assert 'pip install "maze-agents[ray]"' in str(missing_dependency("ray", "ray"))
