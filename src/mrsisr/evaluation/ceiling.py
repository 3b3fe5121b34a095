"""The most any method can gain over k-space zero-filling when the ground truth is noisy.

A simulated truth ``t = s + e`` carries white noise ``e`` of SD ``σ`` per voxel. The
acquisition keeps the part of ``e`` inside the ``n_y × n_x`` k-space window; the part outside,
a fraction ``1 − n_y n_x / (N_y N_x)`` of its energy, is independent of the input, so no
method can predict it. Even a method that knew the noiseless ``s`` exactly (and kept the
measured k-space) has an expected squared error of ``σ² (1 − n_y n_x / (N_y N_x))`` per voxel,
and its PSNR margin over zero-filling on a map is at most

    10 log10(MSE_zero-fill / (σ² (1 − n_y n_x / (N_y N_x)))),

the map's data range cancelling. :func:`noise_ceiling` computes it on one map, inside a mask,
as ``mrsisr evaluate`` scores the map (``benchmarks/noise_ceiling.py`` over a cohort).

The noise must be white for the bound to be exact. A truth clipped at zero (the simulators
clip negative concentrations) has less unpredictable noise where the signal is near zero,
so there the true bound is somewhat higher than this one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["noise_ceiling"]


def noise_ceiling(
    zero_filled: np.ndarray,
    truth: np.ndarray,
    mask: np.ndarray,
    noise_sd: float,
    n: int | Sequence[int],
) -> float:
    """Upper bound (dB) of the expected PSNR margin over zero-filling on one map.

    Args:
        zero_filled: the zero-filled map ``(N_y, N_x)``.
        truth: the noisy ground truth ``(N_y, N_x)``.
        mask: voxels scored, ``(N_y, N_x)``, nonzero inside.
        noise_sd: SD of the truth's white noise, in the maps' units; > 0.
        n: acquisition size, an int for square or ``(n_y, n_x)``.

    Raises:
        ValueError: shapes differ, the mask is empty, ``noise_sd <= 0`` or ``n`` covers the
            whole grid (nothing is left to predict).
    """
    zero_filled, truth = np.asarray(zero_filled, np.float64), np.asarray(truth, np.float64)
    inside = np.asarray(mask) != 0
    if not zero_filled.shape == truth.shape == inside.shape or truth.ndim != 2:
        raise ValueError(
            f"zero_filled, truth and mask must be one (N_y, N_x) grid, got "
            f"{zero_filled.shape}, {truth.shape}, {inside.shape}"
        )
    if not inside.any():
        raise ValueError("mask is empty")
    if not noise_sd > 0:
        raise ValueError(f"noise_sd must be > 0, got {noise_sd}")
    ny, nx = (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))
    unmeasured = 1.0 - ny * nx / truth.size
    if unmeasured <= 0:
        raise ValueError(f"n={n} covers the whole grid {truth.shape}: nothing to predict")
    mse = float(np.mean((zero_filled[inside] - truth[inside]) ** 2))
    return float(10 * np.log10(mse / (noise_sd**2 * unmeasured)))
