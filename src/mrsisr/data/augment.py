"""Geometric augmentation of in-plane slices: flips, 90-degree rotations and small shifts.

One :class:`Augmentation` is drawn per sample and applied to a stack of co-registered images
(map, T1, FLAIR, mask), so every channel moves identically. Shifts are circular
(:func:`numpy.roll`), like the original authors' code: the field of view is periodic for the
Fourier transforms that make the low-resolution input, a roll of a few voxels only wraps
background, and no voxel is lost or invented (the augmentation is a permutation of voxels).
The low-resolution input is computed *after* augmentation, so it always matches the target.

:func:`fit_to_grid` changes the field of view instead (a centre crop or a zero pad per axis),
to present a slice on another grid of the same voxel size.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "IDENTITY",
    "Augmentation",
    "apply_augmentation",
    "draw_augmentation",
    "fit_to_grid",
]


class Augmentation(NamedTuple):
    """One rigid in-plane transform: flip, then rotate, then roll.

    Together ``flip`` and ``rot90`` cover the 8 symmetries of a square grid (the 4 of a
    rectangle when ``rot90`` is restricted to 0 and 2).
    """

    flip: bool
    """Reverse the last axis (x)."""
    rot90: int
    """Number of counter-clockwise quarter turns in the (y, x) plane, 0 to 3."""
    shift: tuple[int, int]
    """Circular shift ``(d_y, d_x)`` in voxels."""


IDENTITY = Augmentation(flip=False, rot90=0, shift=(0, 0))


def draw_augmentation(
    rng: np.random.Generator, shape: tuple[int, int], max_shift: int = 3
) -> Augmentation:
    """Draw a uniformly random symmetry of the grid and a shift of up to ``max_shift`` voxels.

    Args:
        rng: the generator to draw from (the caller owns and seeds it).
        shape: in-plane grid ``(N_y, N_x)``; odd quarter turns are only drawn when square.
        max_shift: largest shift per axis in voxels (each of ``d_y``, ``d_x`` is uniform on
            ``-max_shift ... max_shift``); 0 disables shifting.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    square = shape[0] == shape[1]
    flip = bool(rng.integers(2))
    rot90 = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, size=2))
    return Augmentation(flip=flip, rot90=rot90, shift=(dy, dx))


def apply_augmentation(images: np.ndarray, aug: Augmentation) -> np.ndarray:
    """Apply one augmentation to the last two axes of an image stack.

    Args:
        images: ``(..., N_y, N_x)``, e.g. a ``(C, N_y, N_x)`` stack of co-registered channels.
        aug: the transform.

    Returns:
        A new contiguous array of the same dtype; ``(..., N_x, N_y)`` after an odd rotation.
    """
    if images.ndim < 2:
        raise ValueError(f"images must have shape (..., N_y, N_x), got {images.shape}")
    if aug.rot90 not in (0, 1, 2, 3):
        raise ValueError(f"rot90 must be 0, 1, 2 or 3, got {aug.rot90}")
    out = images[..., ::-1] if aug.flip else images
    if aug.rot90:
        out = np.rot90(out, k=aug.rot90, axes=(-2, -1))
    if aug.shift != (0, 0):
        out = np.roll(out, shift=aug.shift, axis=(-2, -1))
    return np.array(out, order="C")  # always a new array, never a view of `images`


def fit_to_grid(images: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Centre-crop and/or zero-pad the last two axes of an image stack to ``grid``.

    Per axis, voxel ``N // 2`` of the input (the centre of a centred FFT grid, frequency 0's
    origin in image space) becomes voxel ``G // 2`` of the output: a smaller ``G`` keeps the
    centre of the field of view, a larger one adds zeros (background) around it. The voxel
    size is unchanged.

    Args:
        images: ``(..., N_y, N_x)`` stack of co-registered images.
        grid: output in-plane grid ``(G_y, G_x)``, each >= 1.

    Returns:
        A new contiguous ``(..., G_y, G_x)`` array of the same dtype.

    Raises:
        ValueError: ``images`` has fewer than two axes or ``grid`` is not two positive sizes.
    """
    if images.ndim < 2:
        raise ValueError(f"images must have shape (..., N_y, N_x), got {images.shape}")
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"grid must be two sizes >= 1, got {grid!r}")
    out = np.zeros((*images.shape[:-2], int(grid[0]), int(grid[1])), dtype=images.dtype)
    source, target = zip(*(_centred_overlap(n, g) for n, g in zip(images.shape[-2:], grid)))
    out[..., target[0], target[1]] = images[..., source[0], source[1]]
    return out


def _centred_overlap(size: int, grid: int) -> tuple[slice, slice]:
    """The input and output index ranges that overlap when ``size // 2`` maps to ``grid // 2``."""
    offset = size // 2 - grid // 2
    low, high = max(0, -offset), min(grid, size - offset)
    return slice(low + offset, high + offset), slice(low, high)
