"""Classical super-resolution baselines, evaluated exactly like the networks.

* ``zero_fill``: k-space zero-filling (sinc interpolation), the paper's baseline
  (:func:`mrsisr.kspace.zero_fill`).
* ``bicubic``: cubic B-spline interpolation of the native ``n x n`` map (scipy's
  ``map_coordinates(order=3)``, what ``scipy.ndimage.zoom(order=3)`` uses), on the project's
  geometry: low-resolution voxel ``i`` sits at high-resolution coordinate
  ``N // 2 + (N / n) (i - n // 2)`` per axis (:func:`mrsisr.kspace.lowres_affine`). Beyond the
  outermost low-resolution voxels the map is extended by repeating its edge.
* ``guided``: an anatomy-guided classical method. The zero-filled map is filtered with the
  guided filter of He, Sun & Tang (ECCV 2010 / TPAMI 2013), the anatomy (mean of the
  normalised T1 and FLAIR) as guide, with box means taken inside the mask only; then exact
  data consistency (:func:`mrsisr.kspace.data_consistency`) puts the measured k-space back.
  The filter locally fits ``map ≈ a · guide + b`` and so transfers edges of the anatomy where
  the map follows it; data consistency guarantees that it never changes what was measured.
  Its two parameters (radius 2 voxels, ``eps = 0.01``) were chosen a priori, not tuned.

Every function takes batches of 2-D maps ``(B, ..)`` as NumPy arrays in the cohort's units.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mrsisr import kspace
from mrsisr.options import StrEnum

__all__ = [
    "GUIDED_EPS",
    "GUIDED_RADIUS",
    "Baseline",
    "bicubic_upsample",
    "guided_filter",
    "guided_upsample",
    "lowres_positions",
    "run_baseline",
]

GUIDED_RADIUS = 2
"""Half-width (voxels) of the guided filter's square window (a 5 x 5 window)."""

GUIDED_EPS = 0.01
"""Regularisation of the guided filter, in squared guide units (the guide is ~1 in tissue)."""


class Baseline(StrEnum):
    """The classical methods the evaluation compares with (baselines of ``mrsisr evaluate``)."""

    zero_fill = "zero_fill"
    bicubic = "bicubic"
    guided = "guided"


def lowres_positions(N: int, n: int) -> np.ndarray:
    """High-resolution coordinates of the ``n`` low-resolution voxels of one axis.

    Voxel ``i`` of the ``n``-point grid sits at ``N // 2 + (N / n) (i - n // 2)`` on the
    ``N``-point grid, so that voxels ``n // 2`` and ``N // 2`` coincide and both grids span the
    same field of view.

    Args:
        N: high-resolution size.
        n: low-resolution size, ``1 <= n <= N``.

    Returns:
        ``(n,)`` float64 coordinates.
    """
    if not 1 <= n <= N:
        raise ValueError(f"n must be in [1, N={N}], got {n}")
    return N // 2 + (N / n) * (np.arange(n) - n // 2)


def _lowres_coordinates(N: int, n: int) -> np.ndarray:
    """The low-resolution (fractional) index of every high-resolution voxel of one axis."""
    return n // 2 + (np.arange(N) - N // 2) * (n / N)


def bicubic_upsample(native: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Cubic-spline interpolation of native low-resolution maps onto the high-resolution grid.

    Args:
        native: ``(B, n_y, n_x)`` maps at their acquisition grid.
        grid: the high-resolution ``(N_y, N_x)``.

    Returns:
        ``(B, N_y, N_x)`` float64; at a high-resolution voxel that coincides with a
        low-resolution one (:func:`lowres_positions`) the value is that voxel's.
    """
    native = np.asarray(native, dtype=np.float64)
    if native.ndim != 3:
        raise ValueError(f"native must have shape (B, n_y, n_x), got {native.shape}")
    (ny, nx), (Ny, Nx) = native.shape[-2:], grid
    if ny > Ny or nx > Nx:
        raise ValueError(f"native maps {ny}x{nx} are larger than the grid {Ny}x{Nx}")
    rows, cols = np.meshgrid(
        _lowres_coordinates(Ny, ny), _lowres_coordinates(Nx, nx), indexing="ij"
    )
    out = np.empty((native.shape[0], Ny, Nx))
    for b, image in enumerate(native):
        out[b] = ndimage.map_coordinates(image, [rows, cols], order=3, mode="nearest")
    return out


def _box_mean(x: np.ndarray, weights: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``x`` over a ``(2r+1)^2`` window, counting only voxels with weight 1."""
    size = (1, 2 * radius + 1, 2 * radius + 1)
    total = ndimage.uniform_filter(x * weights, size=size, mode="constant")
    count = ndimage.uniform_filter(weights, size=size, mode="constant")
    return np.where(count > 1e-12, total / np.maximum(count, 1e-12), 0.0)


def guided_filter(
    source: np.ndarray,
    guide: np.ndarray,
    mask: np.ndarray,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> np.ndarray:
    """He et al.'s guided filter of ``source`` with ``guide``, window statistics inside ``mask``.

    In each window the filter fits ``source ≈ a · guide + b`` by ridge regression
    (``a = cov(guide, source) / (var(guide) + eps)``), then averages the coefficients of the
    windows covering a voxel: ``out = mean(a) · guide + mean(b)``.

    Args:
        source: ``(B, N_y, N_x)`` maps to filter.
        guide: ``(B, N_y, N_x)`` guidance images.
        mask: ``(B, N_y, N_x)``; only voxels with mask ≠ 0 enter the window statistics.
        radius: window half-width in voxels, ``>= 1``.
        eps: regularisation ``> 0``; larger values smooth more.

    Returns:
        ``(B, N_y, N_x)`` float64.
    """
    if radius < 1 or not eps > 0:
        raise ValueError(f"radius must be >= 1 and eps > 0, got radius={radius}, eps={eps}")
    p = np.asarray(source, dtype=np.float64)
    g = np.asarray(guide, dtype=np.float64)
    w = (np.asarray(mask) != 0).astype(np.float64)
    if not p.shape == g.shape == w.shape or p.ndim != 3:
        raise ValueError(
            f"source, guide and mask must share one shape (B, N_y, N_x), got {p.shape}, "
            f"{g.shape} and {w.shape}"
        )
    mean_g, mean_p = _box_mean(g, w, radius), _box_mean(p, w, radius)
    var_g = _box_mean(g * g, w, radius) - mean_g**2
    cov = _box_mean(g * p, w, radius) - mean_g * mean_p
    a = cov / (np.maximum(var_g, 0.0) + eps)
    b = mean_p - a * mean_g
    return _box_mean(a, w, radius) * g + _box_mean(b, w, radius)


def guided_upsample(
    native: np.ndarray,
    guide: np.ndarray,
    mask: np.ndarray,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> np.ndarray:
    """The ``guided`` baseline: guided filter of the zero-filled map, then data consistency.

    Args:
        native: ``(B, n_y, n_x)`` measured maps.
        guide: ``(B, N_y, N_x)`` anatomical guide on the high-resolution grid.
        mask: ``(B, N_y, N_x)`` quality mask.
        radius: see :func:`guided_filter`.
        eps: see :func:`guided_filter`.

    Returns:
        ``(B, N_y, N_x)`` float64 with ``degrade(out, n) == native``.
    """
    native = np.asarray(native, dtype=np.float64)
    zero_filled = kspace.zero_fill(native, guide.shape[-2:])
    filtered = guided_filter(zero_filled, guide, mask, radius, eps)
    return kspace.data_consistency(filtered, native)


def run_baseline(
    baseline: Baseline | str,
    native: np.ndarray,
    t1: np.ndarray,
    flair: np.ndarray,
    mask: np.ndarray,
) -> np.ndarray:
    """Super-resolve native maps with a classical method.

    Args:
        baseline: a :class:`Baseline` or its name.
        native: ``(B, n_y, n_x)`` measured maps in the cohort's units.
        t1: ``(B, N_y, N_x)`` normalised T1 on the high-resolution grid.
        flair: ``(B, N_y, N_x)`` normalised FLAIR.
        mask: ``(B, N_y, N_x)`` quality mask.

    Returns:
        ``(B, N_y, N_x)`` float64 in the cohort's units (not masked).
    """
    method = Baseline.parse(baseline)
    grid = tuple(mask.shape[-2:])
    if method is Baseline.zero_fill:
        return kspace.zero_fill(np.asarray(native, dtype=np.float64), grid)
    if method is Baseline.bicubic:
        return bicubic_upsample(native, grid)
    guide = 0.5 * (np.asarray(t1, dtype=np.float64) + np.asarray(flair, dtype=np.float64))
    return guided_upsample(native, guide, mask)
