"""The classical baselines: zero-filling, bicubic geometry, the guided filter and its DC."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.evaluation.baselines import (
    Baseline,
    bicubic_upsample,
    guided_filter,
    guided_upsample,
    lowres_positions,
    run_baseline,
)


def _maps(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    return gaussian_filter(rng.random(shape), sigma=(0, 1.5, 1.5)) * 5


@pytest.mark.parametrize("N, n", [(32, 16), (33, 11), (64, 24), (64, 17)])
def test_lowres_positions_follow_the_project_affine(N, n):
    affine = np.diag([3.4, 3.4, 3.4, 1.0])
    lr_affine = kspace.lowres_affine(affine, (N, N), (n, n))
    voxels = np.stack([np.arange(n), np.zeros(n), np.zeros(n), np.ones(n)])
    world = (lr_affine @ voxels)[0]
    np.testing.assert_allclose(world / 3.4, lowres_positions(N, n), atol=1e-12)


def test_zero_fill_baseline_is_kspace_zero_fill():
    native = _maps((2, 12, 12))
    mask = np.ones((2, 32, 32))
    out = run_baseline("zero_fill", native, mask, mask, mask)
    np.testing.assert_array_equal(out, kspace.zero_fill(native, (32, 32)))


def test_bicubic_keeps_the_samples_where_the_grids_coincide():
    native = _maps((3, 16, 16))
    out = bicubic_upsample(native, (32, 32))
    # LR voxel i sits at HR 16 + 2 (i - 8) = 2 i.
    np.testing.assert_allclose(out[:, ::2, ::2], native, atol=1e-10)


@pytest.mark.parametrize("n", [12, 20, 24])
def test_bicubic_interpolates_a_smooth_function_at_the_right_place(n):
    N = 64

    def f(y, x):
        return np.sin(2 * np.pi * y / N) * np.cos(2 * np.pi * x / N) + 0.01 * y

    ly, lx = np.meshgrid(lowres_positions(N, n), lowres_positions(N, n), indexing="ij")
    hy, hx = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    out = bicubic_upsample(f(ly, lx)[None], (N, N))[0]
    inner = slice(N // 2 - 20, N // 2 + 20)
    error = np.abs(out - f(hy, hx))[inner, inner].max()
    # A half-voxel (HR) shift of the grid would cost about |f'| * 0.5 ~ 0.05.
    shifted = np.abs(f(hy + 0.5, hx + 0.5) - f(hy, hx))[inner, inner].max()
    assert error < 0.25 * shifted


def test_guided_filter_of_an_image_by_itself_with_tiny_eps_is_the_image():
    image = _maps((2, 20, 20))
    out = guided_filter(image, image, np.ones_like(image), radius=2, eps=1e-10)
    np.testing.assert_allclose(out, image, atol=1e-5)


def test_guided_filter_keeps_a_constant_map_constant():
    guide = _maps((1, 24, 24), seed=3)
    out = guided_filter(np.full_like(guide, 4.0), guide, np.ones_like(guide))
    np.testing.assert_allclose(out, 4.0, atol=1e-10)


def test_guided_baseline_is_data_consistent():
    native = _maps((2, 16, 16), seed=1)
    guide = _maps((2, 32, 32), seed=2)
    mask = np.zeros((2, 32, 32))
    mask[:, 4:28, 6:26] = 1
    out = guided_upsample(native, guide, mask)
    np.testing.assert_allclose(kspace.degrade(out, 16), native, atol=1e-10)
    assert not np.allclose(out, kspace.zero_fill(native, (32, 32)))


def test_unknown_baseline_lists_the_valid_ones():
    with pytest.raises(ValueError, match="zero_fill, bicubic, guided"):
        Baseline.parse("lanczos")
