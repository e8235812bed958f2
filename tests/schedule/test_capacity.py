"""The free-CPU index answers as a scan of every node would."""

from __future__ import annotations

import random

import pytest

from maze_core.schedule.capacity import FreeCpus


def scan(free: list[float], amount: float, start: int) -> list[int]:
    return [i for i in range(start, len(free)) if free[i] >= amount]


@pytest.mark.parametrize("size", [1, 2, 5, 8, 33])
def test_searches_agree_with_a_scan_through_random_updates(size):
    rng = random.Random(size)
    free = [float(rng.randint(0, 4)) for _ in range(size)]
    index = FreeCpus(free)
    for _ in range(200):
        position, value = rng.randrange(size), float(rng.randint(-1, 4))
        free[position] = value
        index.set(position, value)
        amount, start = rng.choice([0.0, 0.5, 1.0, 3.0, 5.0]), rng.randrange(size + 1)
        assert list(index.at_least(amount, start)) == scan(free, amount, start)
        assert index.most() == max(free)


def test_an_empty_index_has_nothing_free():
    index = FreeCpus([])
    assert index.most() < 0
    assert list(index.at_least(0.0)) == []
