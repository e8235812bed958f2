from __future__ import annotations

import math
import threading
from pathlib import Path

from maze_core.predict.features import MAX_FEATURES, call_features, clean


def test_arguments_become_numbers():
    features = call_features(
        ("hello world!",),
        {"items": [1, 2, 3], "n": 7, "flag": True, "blob": b"abcd", "nothing": None},
    )
    assert features == {
        "arg0.len": 12.0,
        "arg0.tokens": 3.0,
        "items.size": 3.0,
        "n": 7.0,
        "flag": 1.0,
        "blob.len": 4.0,
    }


def test_path_arguments_give_their_size_on_disk(tmp_path: Path):
    path = tmp_path / "doc.txt"
    path.write_text("x" * 100)
    assert call_features((), {"path": path})["path.bytes"] == 100.0
    assert "gone.bytes" not in call_features((), {"gone": tmp_path / "missing"})


def test_odd_arguments_never_raise():
    odd = {
        "lock": threading.Lock(),
        "nan": math.nan,
        "inf": math.inf,
        "huge": "x" * 10_000_000,
        "obj": object(),
    }
    features = call_features((), odd)
    assert features == {"huge.len": 10_000_000.0, "huge.tokens": 2_500_000.0}


def test_a_failing_features_callable_is_ignored():
    def broken(**kwargs):
        raise RuntimeError("bug in user code")

    assert call_features((), {"n": 1}, broken) == {"n": 1.0}


def test_the_tools_own_features_are_added_and_cleaned():
    def extra(n):
        return {"squared": n * n, "label": "no", "bad": math.nan}

    assert call_features((3,), {}, extra) == {"arg0": 3.0, "squared": 9.0}


def test_feature_count_is_bounded():
    assert len(call_features((), {f"a{i}": i for i in range(500)})) == MAX_FEATURES


def test_clean_drops_non_numbers():
    assert clean({"a": 1, "b": "x", "c": None, "d": True}) == {"a": 1.0, "d": 1.0}
    assert clean("not a mapping") == {}
