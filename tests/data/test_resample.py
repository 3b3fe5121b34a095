"""Resampling by affines, against analytic functions of world position and nibabel."""

from __future__ import annotations

import numpy as np
import pytest
from nibabel.processing import resample_from_to

from mrsisr.data.resample import (
    coverage,
    covers,
    resample_to_grid,
    upsampled_grid,
    voxel_map,
)
from mrsisr.kspace import lowres_affine

SLOPE = np.array([0.7, -1.3, 2.1])
INTERCEPT = 5.0


def world(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World coordinates (X, Y, Z, 3) of the voxel centres of a grid."""
    index = np.indices(shape, dtype=np.float64)
    return np.einsum("ij,j...->...i", affine[:3, :3], index) + affine[:3, 3]


def ramp(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    return world(shape, affine) @ SLOPE + INTERCEPT


def oblique(voxel: tuple[float, float, float], angle_deg: float, origin) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(voxel)
    affine[:3, 3] = origin
    return affine


# A fine, rotated source that covers a coarse, differently rotated destination with a margin
# of more than 8 source voxels (antialiasing keeps linear functions only away from borders).
SRC_SHAPE = (81, 77, 31)
SRC_AFFINE = oblique((1.1, 1.1, 1.7), 20.0, (-25.0, -55.0, -14.0))
DST_SHAPE = (9, 11, 7)
DST_AFFINE = oblique((3.4, 3.4, 3.4), -5.0, (-8.0, -8.0, 0.0))


@pytest.mark.parametrize("antialias", [True, False])
def test_a_linear_function_of_position_is_reproduced(antialias: bool) -> None:
    assert covers(SRC_SHAPE, SRC_AFFINE, DST_SHAPE, DST_AFFINE)
    out = resample_to_grid(
        ramp(SRC_SHAPE, SRC_AFFINE), SRC_AFFINE, DST_SHAPE, DST_AFFINE, antialias=antialias
    )
    expected = ramp(DST_SHAPE, DST_AFFINE)
    assert out.dtype == np.float32 and out.shape == DST_SHAPE
    np.testing.assert_allclose(out, expected, atol=1e-3 * np.abs(expected).max())


def test_matches_nibabel_linear_resampling_inside_the_volume() -> None:
    rng = np.random.default_rng(0)
    volume = rng.random(SRC_SHAPE)
    ours = resample_to_grid(volume, SRC_AFFINE, DST_SHAPE, DST_AFFINE, antialias=False)
    import nibabel as nib

    theirs = resample_from_to(
        nib.Nifti1Image(volume, SRC_AFFINE), (DST_SHAPE, DST_AFFINE), order=1
    ).get_fdata()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_antialiasing_averages_fine_detail() -> None:
    fine_shape, fine_affine = upsampled_grid((16, 16, 2), np.eye(4), 4)
    checker = (np.indices(fine_shape).sum(axis=0) % 2).astype(np.float64)  # Nyquist pattern
    smooth = resample_to_grid(checker, fine_affine, (16, 16, 2), np.eye(4))
    aliased = resample_to_grid(checker, fine_affine, (16, 16, 2), np.eye(4), antialias=False)
    assert np.ptp(smooth[2:-2, 2:-2]) < 0.05 and abs(smooth.mean() - 0.5) < 0.05
    assert np.ptp(aliased) == 1.0  # point sampling picks one colour or the other


def test_same_grid_is_an_exact_copy() -> None:
    volume = np.random.default_rng(1).random(DST_SHAPE).astype(np.float32)
    out = resample_to_grid(volume, DST_AFFINE, DST_SHAPE, DST_AFFINE)
    np.testing.assert_array_equal(out, volume)


def test_outside_the_source_is_filled() -> None:
    shifted = DST_AFFINE.copy()
    shifted[:3, 3] += [0.0, 0.0, 400.0]
    assert not covers(SRC_SHAPE, SRC_AFFINE, DST_SHAPE, shifted)
    out = resample_to_grid(np.ones(SRC_SHAPE), SRC_AFFINE, DST_SHAPE, shifted, fill=-1.0)
    assert np.all(out == -1.0)


def test_covers_counts_half_a_voxel_beyond_the_outer_centres() -> None:
    src = np.eye(4)
    inside, outside = np.eye(4), np.eye(4)
    inside[0, 3], outside[0, 3] = -0.49, -0.51
    assert covers((10, 10, 10), src, (10, 10, 10), inside)
    assert not covers((10, 10, 10), src, (10, 10, 10), outside)


def test_upsampled_grid_follows_the_kspace_geometry() -> None:
    shape, affine = upsampled_grid(DST_SHAPE, DST_AFFINE, 3)
    assert shape == (27, 33, 7)
    np.testing.assert_allclose(affine, lowres_affine(DST_AFFINE, DST_SHAPE[:2], shape[:2]))
    centre = world(DST_SHAPE, DST_AFFINE)[4, 5, 2]  # voxel (N // 2, N // 2)
    np.testing.assert_allclose(world(shape, affine)[13, 16, 2], centre)
    np.testing.assert_allclose(voxel_map(DST_AFFINE, affine)[:2, :2], np.eye(2) / 3, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [{"volume": np.zeros((4, 4))}, {"dst_shape": (4, 4)}, {"order": 7}, {"dst_affine": np.eye(3)}],
)
def test_bad_arguments_raise_value_error(kwargs: dict) -> None:
    args = {
        "volume": np.zeros((4, 4, 4)),
        "src_affine": np.eye(4),
        "dst_shape": (4, 4, 4),
        "dst_affine": np.eye(4),
    }
    with pytest.raises(ValueError):
        resample_to_grid(**{**args, **kwargs})


def test_upsampled_grid_refuses_a_bad_factor() -> None:
    with pytest.raises(ValueError, match="factor"):
        upsampled_grid((4, 4, 4), np.eye(4), 0)


def test_coverage_marks_the_voxels_inside_a_cropped_source() -> None:
    """A source cropped to part of the destination grid: every destination voxel centre is
    tested independently against the source's world box (axis-aligned here)."""
    dst_affine = np.diag([2.0, 3.0, 4.0, 1.0])
    dst_affine[:3, 3] = [-10.0, 5.0, 0.0]
    dst_shape = (12, 9, 5)
    src_affine = np.diag([-1.0, 1.5, 4.0, 1.0])  # flipped storage along x
    src_affine[:3, 3] = [6.5, 9.0, 0.0]
    src_shape = (11, 10, 3)
    world = (dst_affine[:3, :3] @ np.indices(dst_shape).reshape(3, -1) + dst_affine[:3, 3:4]).T
    corners = [src_affine[:3] @ [*c, 1] for c in [(-0.5,) * 3, tuple(s - 0.5 for s in src_shape)]]
    low, high = np.minimum(*corners), np.maximum(*corners)
    expected = np.all((world >= low - 1e-9) & (world <= high + 1e-9), axis=1).reshape(dst_shape)
    got = coverage(src_shape, src_affine, dst_shape, dst_affine)
    np.testing.assert_array_equal(got, expected)
    assert 0 < got.sum() < got.size
    assert covers(src_shape, src_affine, dst_shape, dst_affine) == bool(expected.all())


@pytest.mark.parametrize("flipped", [False, True])
def test_an_image_exactly_covering_the_mrsi_field_of_view_covers_the_output_grid(flipped):
    """Issue 12, "Why" 5: whatever the storage order of the map, an image whose voxels tile
    exactly the map's field of view covers every output voxel centre. The output grid of a
    map stored flipped lies one output voxel off that of the same map stored unflipped
    (voxel n // 2 and N // 2 coincide in storage order), so an image on the unflipped output
    grid leaves one edge column of it uncovered."""
    n, N = 32, 64
    lr = np.diag([6.875, 6.875, 10.0, 1.0])
    lr[:3, 3] = [-110 + 6.875 / 2, -110 + 6.875 / 2, 0.0]
    reverse_x = np.array([[-1, 0, 0, n - 1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    stored = lr @ reverse_x if flipped else lr
    out = lowres_affine(stored, (n, n), (N, N))
    shape = (N, N, 3)
    exact = np.diag([1.0, 1.0, 10.0, 1.0])  # 1 mm voxels tiling [-110, 110] mm in-plane
    exact[:3, 3] = [-109.5, -109.5, 0.0]
    assert covers((220, 220, 3), exact.astype(np.float32), shape, out)
    unflipped_grid = lowres_affine(lr, (n, n), (N, N))
    missed = ~coverage(shape, unflipped_grid, shape, out)
    assert missed.sum() == (N * 3 if flipped else 0)
    if flipped:
        assert missed[N - 1].all()  # the last column in storage order
