"""Augmentation: voxels move where the geometry says, and every channel moves alike."""

from __future__ import annotations

import numpy as np
import pytest

from mrsisr.data.augment import (
    IDENTITY,
    Augmentation,
    apply_augmentation,
    draw_augmentation,
    fit_to_grid,
)


def expected_position(y: int, x: int, shape: tuple[int, int], aug: Augmentation):
    """Where voxel (y, x) lands, from the definitions: mirror x, turn, then roll."""
    ny, nx = shape
    if aug.flip:
        x = nx - 1 - x
    for _ in range(aug.rot90):  # one counter-clockwise quarter turn: (y, x) -> (W-1-x, y)
        y, x = nx - 1 - x, y
        ny, nx = nx, ny
    return (y + aug.shift[0]) % ny, (x + aug.shift[1]) % nx


@pytest.mark.parametrize("shape", [(9, 9), (8, 8), (7, 11)])
def test_a_single_voxel_lands_where_the_geometry_says(shape):
    rng = np.random.default_rng(0)
    for _ in range(40):
        aug = draw_augmentation(rng, shape, max_shift=3)
        y, x = (int(v) for v in rng.integers(0, shape))
        image = np.zeros(shape)
        image[y, x] = 1
        out = apply_augmentation(image, aug)
        assert np.argwhere(out).tolist() == [list(expected_position(y, x, shape, aug))]


def test_channels_of_a_stack_move_together_and_values_are_permuted():
    rng = np.random.default_rng(1)
    image = rng.random((13, 13))
    stack = np.stack([image, 2 * image, image > 0.5])
    for _ in range(20):
        aug = draw_augmentation(rng, image.shape)
        out = apply_augmentation(stack, aug)
        np.testing.assert_array_equal(out[1], 2 * out[0])
        np.testing.assert_array_equal(out[2], out[0] > 0.5)
        np.testing.assert_array_equal(np.sort(out[0], axis=None), np.sort(image, axis=None))
        assert out.flags.c_contiguous


def test_identity_returns_an_equal_copy():
    image = np.arange(12.0).reshape(3, 4)
    out = apply_augmentation(image, IDENTITY)
    np.testing.assert_array_equal(out, image)
    out[0, 0] = -1
    assert image[0, 0] == 0


def test_draws_cover_the_symmetry_group_and_stay_within_max_shift():
    rng = np.random.default_rng(2)
    square = {draw_augmentation(rng, (8, 8), 2)[:2] for _ in range(400)}
    assert square == {(f, k) for f in (False, True) for k in range(4)}
    draws = [draw_augmentation(rng, (8, 6), 2) for _ in range(400)]
    assert {a.rot90 for a in draws} == {0, 2}  # a rectangle keeps its shape
    shifts = np.array([a.shift for a in draws])
    assert shifts.min() == -2 and shifts.max() == 2
    assert {draw_augmentation(rng, (8, 8), 0).shift for _ in range(20)} == {(0, 0)}


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="max_shift"):
        draw_augmentation(np.random.default_rng(), (8, 8), -1)
    with pytest.raises(ValueError, match="rot90"):
        apply_augmentation(np.zeros((4, 4)), Augmentation(False, 5, (0, 0)))


def window_of(image: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The ``grid`` window centred on voxel ``N // 2`` per axis, zeros outside the image,
    written with a wide zero margin and one slice (not with :func:`fit_to_grid`'s overlap)."""
    margin = max(grid)
    padded = np.pad(image, margin)
    start = [margin + size // 2 - g // 2 for size, g in zip(image.shape, grid)]
    return padded[start[0] : start[0] + grid[0], start[1] : start[1] + grid[1]]


@pytest.mark.parametrize("shape", [(32, 32), (35, 34)])
@pytest.mark.parametrize("grid", [(24, 40), (40, 24), (17, 33), (32, 32), (64, 84)])
def test_fit_to_grid_keeps_the_centre_voxel_and_the_window_around_it(shape, grid):
    rng = np.random.default_rng(2)
    image = rng.random(shape)
    out = fit_to_grid(image, grid)
    assert out.shape == grid and out.dtype == image.dtype
    np.testing.assert_array_equal(out, window_of(image, grid))
    centre = np.zeros(shape)
    centre[shape[0] // 2, shape[1] // 2] = 1
    assert np.argwhere(fit_to_grid(centre, grid)).tolist() == [[grid[0] // 2, grid[1] // 2]]


def test_fit_to_grid_moves_every_channel_alike_and_pads_back_what_it_cropped():
    rng = np.random.default_rng(3)
    stack = rng.random((3, 32, 32))
    out = fit_to_grid(stack, (24, 40))
    assert out.shape == (3, 24, 40)
    np.testing.assert_array_equal(out[1], fit_to_grid(stack[1], (24, 40)))
    back = fit_to_grid(out, (32, 32))
    np.testing.assert_array_equal(back[:, 4:28, :], stack[:, 4:28, :])
    assert not back[:, :4].any() and not back[:, 28:].any()
    assert fit_to_grid(stack, (32, 32)) is not stack


@pytest.mark.parametrize("grid", [(0, 8), (8,), (-1, 4)])
def test_fit_to_grid_refuses_a_grid_that_is_not_two_positive_sizes(grid):
    with pytest.raises(ValueError, match="grid must be two sizes"):
        fit_to_grid(np.zeros((8, 8)), grid)
