"""Holm's step-down adjustment against a hand-worked example and its defining properties."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.metrics.stats import holm


def test_a_worked_example() -> None:
    # sorted 0.01, 0.02, 0.03, 0.04 times 4, 3, 2, 1 = 0.04, 0.06, 0.06, 0.04 -> running max
    adjusted = holm([0.03, 0.01, 0.04, 0.02])
    np.testing.assert_allclose(adjusted, [0.06, 0.04, 0.06, 0.06])


def test_it_never_lowers_a_p_value_keeps_the_order_and_caps_at_one() -> None:
    p = np.random.default_rng(0).uniform(0, 0.5, 9)
    adjusted = holm(p)
    assert np.all(adjusted >= p) and np.all(adjusted <= 1)
    assert np.all(np.diff(adjusted[np.argsort(p)]) >= 0)
    assert holm([0.9, 0.8]).tolist() == [1.0, 1.0]


def test_tests_not_made_are_left_out_of_the_family() -> None:
    adjusted = holm([0.01, np.nan, 0.04])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2]].tolist() == pytest.approx([0.02, 0.04])
