"""Percentiles as the published figures compute them, and the worst window."""

from __future__ import annotations

import math

from maze_core.sim.metrics import percentile, worst_window_percentile


def test_percentiles_interpolate_between_order_statistics():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 95) == 19.5
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 95))


def test_the_worst_window_is_the_one_whose_finishers_waited_longest():
    finished = [10.0, 50.0, 130.0, 140.0, 250.0]
    response = [5.0, 6.0, 100.0, 90.0, 7.0]
    assert worst_window_percentile(finished, response, 95) == 99.5  # the 120-240 s window
