"""Resampling of volumes between voxel grids, by their voxel-to-world affines.

A NIfTI volume of shape ``(X, Y, Z)`` with affine ``A`` places voxel ``(i, j, k)`` at the world
point ``A @ (i, j, k, 1)``. Voxel ``(i, j, k)`` covers ``[i - 1/2, i + 1/2]`` (and so on) in
voxel units, so a volume is defined on the box ``[-1/2, X - 1/2] x ...``; outside it a
resampled volume takes a constant fill value. Interpolation is linear by default.

Used by :class:`mrsisr.data.cohort.Cohort` (T1 and FLAIR onto the MRSI grid) and by the
``predict`` command.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from mrsisr.kspace import lowres_affine

__all__ = ["coverage", "covers", "resample_to_grid", "upsampled_grid", "voxel_map"]

# Slack, in source voxels, that absorbs float32 rounding of affines stored in NIfTI headers.
_EPS = 1e-3


def _check_affine(affine: np.ndarray, name: str) -> np.ndarray:
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4):
        raise ValueError(f"{name} must be a 4x4 affine, got shape {affine.shape}")
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise ValueError(f"{name} must be a finite, invertible 4x4 affine")
    return affine


def _check_shape(shape: Sequence[int], name: str) -> tuple[int, int, int]:
    dims = tuple(int(s) for s in shape)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"{name} must be three positive sizes (X, Y, Z), got {tuple(shape)}")
    return dims


def voxel_map(src_affine: np.ndarray, dst_affine: np.ndarray) -> np.ndarray:
    """The 4x4 matrix that takes a destination voxel index to a source voxel index.

    Args:
        src_affine: voxel-to-world affine of the source grid.
        dst_affine: voxel-to-world affine of the destination grid.
    """
    src = _check_affine(src_affine, "src_affine")
    dst = _check_affine(dst_affine, "dst_affine")
    return np.linalg.solve(src, dst)


def coverage(
    src_shape: Sequence[int],
    src_affine: np.ndarray,
    dst_shape: Sequence[int],
    dst_affine: np.ndarray,
) -> np.ndarray:
    """Which voxel centres of the destination grid lie inside the source volume.

    The source volume is the box its voxels cover (half a voxel beyond the outer voxel
    centres, with a slack of 1e-3 voxel for affines rounded to float32), the region where
    :func:`resample_to_grid` interpolates instead of filling.

    Args:
        src_shape: ``(X, Y, Z)`` of the source volume.
        src_affine: its 4x4 voxel-to-world affine.
        dst_shape: ``(X', Y', Z')`` of the destination grid.
        dst_affine: its 4x4 voxel-to-world affine.

    Returns:
        Bool ``dst_shape``: True where the destination voxel centre is inside.
    """
    src = _check_shape(src_shape, "src_shape")
    dst = _check_shape(dst_shape, "dst_shape")
    return _inside(_source_coords(voxel_map(src_affine, dst_affine), dst), src).reshape(dst)


def _source_coords(vmap: np.ndarray, dst: tuple[int, int, int]) -> np.ndarray:
    """Source voxel coordinates ``(3, X' Y' Z')`` of every destination voxel centre."""
    return vmap[:3, :3] @ np.indices(dst, dtype=np.float64).reshape(3, -1) + vmap[:3, 3:4]


def _inside(coords: np.ndarray, src: tuple[int, int, int]) -> np.ndarray:
    """Whether source voxel coordinates ``(3, P)`` lie in the box the source voxels cover."""
    size = np.asarray(src, dtype=np.float64)[:, None]
    return np.all((coords >= -0.5 - _EPS) & (coords <= size - 0.5 + _EPS), axis=0)


def covers(
    src_shape: Sequence[int],
    src_affine: np.ndarray,
    dst_shape: Sequence[int],
    dst_affine: np.ndarray,
) -> bool:
    """Whether every voxel centre of the destination grid lies inside the source volume
    (:func:`coverage` everywhere); same arguments."""
    return bool(coverage(src_shape, src_affine, dst_shape, dst_affine).all())


def _antialias_sigmas(matrix: np.ndarray) -> np.ndarray:
    """Gaussian widths, in source voxels, that band-limit the source before subsampling.

    Row ``i`` of the voxel map's linear part holds how far one destination step moves
    along source axis ``i``; a step of ``s > 1`` source voxels needs ``sigma = (s - 1) / 2``
    (the choice of :func:`skimage.transform.resize`).
    """
    steps = np.max(np.abs(matrix), axis=1)
    return np.maximum(0.0, (steps - 1.0) / 2.0)


def resample_to_grid(
    volume: np.ndarray,
    src_affine: np.ndarray,
    dst_shape: Sequence[int],
    dst_affine: np.ndarray,
    *,
    order: int = 1,
    antialias: bool = True,
    fill: float = 0.0,
) -> np.ndarray:
    """Resample a volume onto another voxel grid of the same world space.

    Each destination voxel centre is mapped to source voxel coordinates through
    ``inv(src_affine) @ dst_affine`` and interpolated there (linear by default); points
    outside the source volume (beyond half a voxel past its outer centres) get ``fill``.
    When the destination is coarser than the source, the source is first smoothed with a
    Gaussian per axis (``antialias``) so that fine detail averages instead of aliasing;
    a linear function of position is unchanged by it away from the volume's borders.

    Args:
        volume: source volume ``(X, Y, Z)``.
        src_affine: its 4x4 voxel-to-world affine.
        dst_shape: ``(X', Y', Z')`` of the destination grid.
        dst_affine: 4x4 voxel-to-world affine of the destination grid.
        order: spline order of the interpolation (0 nearest, 1 linear, 3 cubic).
        antialias: smooth the source before subsampling it.
        fill: value outside the source volume.

    Returns:
        float32 volume of shape ``dst_shape``.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D (X, Y, Z), got shape {volume.shape}")
    if order not in (0, 1, 2, 3, 4, 5):
        raise ValueError(f"order must be an int in 0..5, got {order!r}")
    dst = _check_shape(dst_shape, "dst_shape")
    vmap = voxel_map(src_affine, dst_affine)
    if volume.shape == dst and np.allclose(vmap, np.eye(4), rtol=0, atol=1e-6):
        return volume.astype(np.float32)  # the same grid: exact copy
    source = volume.astype(np.float64)
    if antialias:
        sigmas = _antialias_sigmas(vmap[:3, :3])
        if np.any(sigmas > 0):
            source = ndimage.gaussian_filter(source, sigmas, mode="nearest")
    coords = _source_coords(vmap, dst)
    values = ndimage.map_coordinates(source, coords, order=order, mode="nearest", prefilter=True)
    values[~_inside(coords, volume.shape)] = fill
    return values.reshape(dst).astype(np.float32)


def upsampled_grid(
    shape: Sequence[int], affine: np.ndarray, factor: int
) -> tuple[tuple[int, int, int], np.ndarray]:
    """The grid ``factor`` times finer in-plane over the same field of view as ``(shape, affine)``.

    Follows the k-space geometry of :func:`mrsisr.kspace.lowres_affine`: voxel ``X // 2`` of
    the MRSI grid and voxel ``factor * X // 2`` of the fine grid are the same point, so an
    image on the fine grid lines up with a zero-filled map. Slices are unchanged.

    Args:
        shape: ``(X, Y, Z)`` of the MRSI grid.
        affine: its 4x4 voxel-to-world affine.
        factor: in-plane upsampling factor, ``>= 1``.

    Returns:
        ``(factor * X, factor * Y, Z)`` and the fine grid's affine.
    """
    x, y, z = _check_shape(shape, "shape")
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor must be an int >= 1, got {factor!r}")
    fine = (x * int(factor), y * int(factor), z)
    return fine, lowres_affine(_check_affine(affine, "affine"), (x, y), fine[:2])
