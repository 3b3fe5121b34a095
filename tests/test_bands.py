"""Rings of the unacquired band: a partition of k-space, real parts, exact data consistency."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.bands import band_rings, blend, fit_weights, split_band

# (grid, n): odd, even, rectangular, and an acquisition as large as the grid on one axis
CASES = [((32, 32), (16, 16)), ((33, 37), (15, 20)), ((64, 84), (32, 42)), ((24, 24), (24, 9))]


def _interior(N: int, n: int) -> np.ndarray:
    """The kept indices of one axis, without the unpaired Nyquist line of an even n < N."""
    kept = np.zeros(N, dtype=bool)
    kept[kspace.kept_indices(N, n)] = True
    if n % 2 == 0 and n < N:
        kept[N // 2 - n // 2] = False
    return kept


@pytest.mark.parametrize(("grid", "n"), CASES)
def test_label_zero_is_the_acquired_window_less_its_unpaired_nyquist(grid: tuple, n: tuple) -> None:
    labels = band_rings(grid, n, 3)
    kept = _interior(grid[0], n[0])[:, None] & _interior(grid[1], n[1])[None, :]
    np.testing.assert_array_equal(labels == 0, kept)
    assert set(np.unique(labels[~kept])) <= {1, 2, 3}
    flipped = np.roll(labels[::-1, ::-1], (1 - grid[0] % 2, 1 - grid[1] % 2), axis=(0, 1))
    np.testing.assert_array_equal(labels, flipped)  # symmetric under k -> -k


@pytest.mark.parametrize(("grid", "n"), CASES)
def test_rings_of_a_detail_are_real_add_up_and_stay_out_of_the_acquisition(
    grid: tuple, n: tuple
) -> None:
    """A detail that zero_fill(degrade(.)) removes splits into rings that add up to it, each
    of which it removes too (no energy lost in taking real parts, data consistency kept)."""
    x = np.random.default_rng(1).normal(size=(2, *grid))
    detail = x - kspace.zero_fill(kspace.degrade(x, n), grid)
    parts = split_band(detail, n, 3)
    assert parts.shape == (3, 2, *grid)
    np.testing.assert_allclose(parts.sum(axis=0), detail, atol=1e-10)
    np.testing.assert_allclose(kspace.degrade(parts, n), 0, atol=1e-10)


def test_rings_run_outwards_at_relative_positions() -> None:
    """A frequency halfway through the band is in the middle ring at every scale."""
    for grid, n in (((64, 64), (16, 16)), ((64, 64), (32, 32)), ((32, 32), (16, 16))):
        labels = band_rings(grid, n, 3)
        centre = grid[0] // 2
        edge, middle, outer = (
            int(centre + n[0] / 2 + f * (grid[0] / 2 - n[0] / 2)) for f in (0.1, 0.5, 0.95)
        )
        assert [labels[edge, centre], labels[middle, centre], labels[outer, centre]] == [1, 2, 3]


def test_band_edge_inside_the_grid_puts_what_lies_beyond_in_the_outer_ring() -> None:
    labels = band_rings((64, 64), (16, 16), 2, outer=(32, 32))
    assert labels[32, 32 + 12] == 2  # 3/4 of the way from 8 to 16
    assert labels[32, 32 + 30] == 2  # beyond the band's edge: still the outer ring
    assert labels[32, 32 + 9] == 1


@pytest.mark.parametrize(("grid", "n"), CASES)
def test_blend_keeps_the_measured_k_space_for_any_weights(grid: tuple, n: tuple) -> None:
    rng = np.random.default_rng(2)
    measured = rng.normal(size=(3, *n))
    estimate = kspace.data_consistency(rng.normal(size=(3, *grid)), measured)
    zero_filled = kspace.zero_fill(measured, grid)
    for weights in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.9, 0.3, 0.0)):
        out = blend(zero_filled, estimate, n, weights)
        np.testing.assert_allclose(kspace.degrade(out, n), measured, atol=1e-10)
    np.testing.assert_allclose(blend(zero_filled, estimate, n, (1, 1, 1)), estimate, atol=1e-10)
    np.testing.assert_allclose(blend(zero_filled, estimate, n, (0, 0, 0)), zero_filled, atol=1e-12)


def test_blend_weighs_each_ring_on_its_own() -> None:
    grid, n = (32, 32), (12, 12)
    rng = np.random.default_rng(3)
    measured = rng.normal(size=n)
    estimate = kspace.data_consistency(rng.normal(size=grid), measured)
    zero_filled = kspace.zero_fill(measured, grid)
    parts = split_band(estimate - zero_filled, n, 3)
    out = blend(zero_filled, estimate, n, (0.0, 1.0, 0.0))
    np.testing.assert_allclose(out - zero_filled, parts[1], atol=1e-10)


def test_fit_weights_recovers_known_weights_within_bounds() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(size=(4, 16, 16))
    parts = rng.normal(size=(4, 4, 16, 16))
    mask = rng.random((4, 16, 16)) > 0.3
    reference = base + np.tensordot(np.array((0.3, 0.8, 0.0, 1.0)), parts, axes=1)
    assert fit_weights(base, parts, reference, mask) == pytest.approx((0.3, 0.8, 0, 1), abs=1e-5)
    reference[~mask] += 100.0  # voxels outside the mask do not count
    assert fit_weights(base, parts, reference, mask) == pytest.approx((0.3, 0.8, 0, 1), abs=1e-5)
    beyond = base + np.tensordot(np.array((0.5, 0.5, 1.7, -0.4)), parts, axes=1)
    weights = fit_weights(base, parts, beyond, mask)  # bounded: 1.7 -> 1, -0.4 -> 0
    assert weights[2:] == pytest.approx((1.0, 0.0), abs=1e-9)
    assert weights[:2] == pytest.approx((0.5, 0.5), abs=0.1)


def test_fit_weights_of_no_detail_is_zero() -> None:
    base = np.ones((8, 8))
    assert fit_weights(base, np.zeros((3, 8, 8)), base + 1, np.ones((8, 8), bool)) == (0, 0, 0)
    assert fit_weights(base, np.ones((2, 8, 8)), base, np.zeros((8, 8), bool)) == (0, 0)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="1 <= n <= M <= N"):
        band_rings((32, 32), (40, 16))
    with pytest.raises(ValueError, match="rings"):
        band_rings((32, 32), (16, 16), 0)
