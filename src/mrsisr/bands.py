"""Rings of the unacquired k-space band, and a map's detail weighted per ring.

A data-consistent estimate ``y`` of a map measured at ``n`` differs from zero-filling only in
the frequencies outside the acquisition window: its *detail* ``y - zero_fill(m)``. This module
splits that band into rings from the window outwards, at positions relative to the band so
that the same ring means the same thing at every scale (:func:`band_rings`), and weighs the
detail per ring (:func:`blend`); the measured frequencies are never touched, so data
consistency stays exact. The weights come from :mod:`mrsisr.selfcheck`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrsisr import kspace

__all__ = ["DEFAULT_RINGS", "band_rings", "blend", "fit_weights", "split_band"]

DEFAULT_RINGS = 3
"""Rings of the unacquired band, each with its own weight (inner, middle, outer)."""


def band_rings(
    grid: Sequence[int],
    n: Sequence[int],
    rings: int = DEFAULT_RINGS,
    outer: Sequence[int] | None = None,
) -> np.ndarray:
    """Which ring of the unacquired band each k-space sample of a grid is in.

    The position of a frequency ``k`` along an axis, relative to the band, is
    ``(|k| - n/2) / (M/2 - n/2)`` with ``M`` the band's outer size (the grid ``N`` by
    default): 0 at the window's edge, 1 at the band's. Its position in the plane is the
    larger of the two axes' (square rings, as the acquisition window is a rectangle), and the
    band ``[0, 1]`` is cut into ``rings`` equal parts (beyond ``M``: the outer ring). The same
    relative rings on two scales let weights fitted at ``n' -> n`` apply at ``n -> N``.

    Args:
        grid: ``(N_y, N_x)``.
        n: acquisition size ``(n_y, n_x)``, ``n <= N``.
        rings: number of rings.
        outer: ``M``, the band's outer size per axis (``n < M <= N``); ``None``: the grid.

    Returns:
        ``(N_y, N_x)`` int in centred order (as :func:`mrsisr.kspace.fft2c`): 0 for the
        acquired frequencies (:func:`mrsisr.kspace.kept_indices`), ``1 .. rings`` outwards.
        For an even ``n < N`` the acquired Nyquist line ``-n/2`` is in ring 1 with its mirror
        ``+n/2``: the labels are symmetric under ``k -> -k``, so each ring of a real map is
        real, and constant on each subspace that ``zero_fill(degrade(., n))`` keeps, so
        weighing the rings of a data-consistent detail keeps it data-consistent.
    """
    if rings < 1:
        raise ValueError(f"rings must be >= 1, got {rings}")
    position = []
    acquired = []
    for N_a, n_a, M_a in zip(grid, n, grid if outer is None else outer):
        N_a, n_a, M_a = int(N_a), int(n_a), int(M_a)
        if not 1 <= n_a <= M_a <= N_a:
            raise ValueError(
                f"acquisition size {tuple(n)} and band edge {M_a} must satisfy "
                f"1 <= n <= M <= N = {tuple(grid)}"
            )
        k = np.abs(np.arange(N_a) - N_a // 2).astype(np.float64)
        width = max(M_a / 2 - n_a / 2, 1e-9)
        position.append(np.clip((k - n_a / 2) / width, 0.0, 1.0))
        kept = np.zeros(N_a, dtype=bool)
        kept[kspace.kept_indices(N_a, n_a)] = True
        if n_a % 2 == 0 and n_a < N_a:  # the unpaired Nyquist line -n/2 goes with +n/2
            kept[N_a // 2 - n_a // 2] = False
        acquired.append(kept)
    relative = np.maximum(position[0][:, None], position[1][None, :])
    ring = 1 + np.minimum((relative * rings).astype(np.int64), rings - 1)
    ring[acquired[0][:, None] & acquired[1][None, :]] = 0
    return ring


def split_band(
    detail: np.ndarray,
    n: Sequence[int],
    rings: int = DEFAULT_RINGS,
    outer: Sequence[int] | None = None,
) -> np.ndarray:
    """The rings of a map's unacquired band (:func:`band_rings`), one map each.

    Args:
        detail: real ``(..., N_y, N_x)``, e.g. a network's output minus zero-filling.
        n: acquisition size ``(n_y, n_x)``.
        rings: number of rings.
        outer: the band's outer size (:func:`band_rings`); ``None``: the grid.

    Returns:
        ``(rings, ..., N_y, N_x)`` float64, real. Their sum is ``detail`` minus its acquired
        part (all of it for a data-consistent detail, whose acquired part is zero).
    """
    labels = band_rings(detail.shape[-2:], n, rings, outer)
    spectrum = kspace.fft2c(np.asarray(detail, dtype=np.float64))
    parts = [np.real(kspace.ifft2c(spectrum * (labels == r))) for r in range(1, rings + 1)]
    return np.stack(parts)


def blend(
    zero_filled: np.ndarray, estimate: np.ndarray, n: Sequence[int], weights: Sequence[float]
) -> np.ndarray:
    """Zero-filling plus the estimate's detail weighted per ring.

    Args:
        zero_filled: ``(..., N_y, N_x)`` zero-filled measured map.
        estimate: ``(..., N_y, N_x)`` data-consistent estimate (e.g. the network's output),
            broadcastable against ``zero_filled``.
        n: acquisition size ``(n_y, n_x)``.
        weights: one per ring (:func:`band_rings` with ``len(weights)`` rings).

    Returns:
        ``zero_filled + sum_r w_r P_r (estimate - zero_filled)``, float64; its acquired
        k-space is the estimate's (exact data consistency is kept).
    """
    detail = np.asarray(estimate, dtype=np.float64) - zero_filled
    parts = split_band(detail, n, len(weights))
    return zero_filled + np.tensordot(np.asarray(weights, dtype=np.float64), parts, axes=1)


def fit_weights(
    base: np.ndarray, parts: np.ndarray, reference: np.ndarray, mask: np.ndarray
) -> tuple[float, ...]:
    """Per-ring weights in ``[0, 1]``: least squares of ``base + sum_r w_r parts_r`` against
    ``reference`` inside ``mask`` (:func:`scipy.optimize.lsq_linear`, bounded).

    Args:
        base: ``(...)`` the estimate without detail (zero-filling).
        parts: ``(R, ...)`` the detail's rings.
        reference: ``(...)`` the map to match.
        mask: ``(...)`` bool, the voxels that count.

    Returns:
        ``R`` weights; zeros where the mask is empty or the detail is zero there.
    """
    from scipy.optimize import lsq_linear

    inside = np.asarray(mask, dtype=bool)
    columns = parts[:, inside].T  # (voxels, R)
    target = (reference - base)[inside]
    if columns.size == 0 or not np.any(columns):
        return tuple(0.0 for _ in range(parts.shape[0]))
    fit = lsq_linear(columns, target, bounds=(0.0, 1.0))
    return tuple(float(w) for w in np.clip(fit.x, 0.0, 1.0))
