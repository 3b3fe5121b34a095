"""Slice selection by mask coverage."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.data.slices import SliceRule

# In-plane coverage of the 7 slices of a 10 x 10 grid, in voxels.
COVERAGE = [0, 10, 35, 80, 60, 49, 100]


@pytest.fixture
def mask() -> np.ndarray:
    volume = np.zeros((10, 10, len(COVERAGE)), bool)
    for z, count in enumerate(COVERAGE):
        volume.reshape(100, -1)[:count, z] = True
    return volume


def test_coverage_is_the_in_plane_fraction(mask):
    np.testing.assert_allclose(SliceRule.coverage(mask), np.array(COVERAGE) / 100)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (SliceRule(0.5), (3, 4, 6)),  # >= half of the best slice (100 voxels)
        (SliceRule(0.35), (2, 3, 4, 5, 6)),
        (SliceRule(0.5, relative_to_best=False), (3, 4, 6)),
        (SliceRule(1.0), (6,)),
    ],
)
def test_rules_select_the_covered_slices(mask, rule, expected):
    assert rule.select(mask) == expected


def test_relative_rule_follows_the_best_slice_of_the_patient(mask):
    half = np.concatenate([mask, np.zeros_like(mask)])  # a larger grid: every coverage halves
    assert SliceRule(0.5).select(half) == SliceRule(0.5).select(mask)
    assert SliceRule(0.5, relative_to_best=False).select(half) == (6,)


def test_empty_slices_are_never_used_and_bad_rules_are_rejected():
    assert SliceRule(0.01).select(np.zeros((4, 4, 3), bool)) == ()
    with pytest.raises(ValueError, match="min_fraction"):
        SliceRule(0.0)
    with pytest.raises(ValueError, match="volume"):
        SliceRule().select(np.ones((4, 4), bool))
