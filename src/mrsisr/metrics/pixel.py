"""Voxel-wise error metrics: mean squared error, PSNR and NRMSE, optionally inside a mask.

PSNR follows scikit-image's ``peak_signal_noise_ratio``: ``10 log10(data_range² / MSE)``;
NRMSE follows ``normalized_root_mse(..., normalization="euclidean")``:
``‖pred − target‖ / ‖target‖``. With a mask, both use only the voxels where the mask is
non-zero.
"""

from __future__ import annotations

import torch
from numpy.typing import ArrayLike
from torch import Tensor

from mrsisr.metrics._common import (
    DataRange,
    as_data_range,
    as_weights,
    check_pair,
    masked_data_range,
    masked_mean,
)

__all__ = ["mse", "nrmse", "psnr", "psnr_in_mask"]


def mse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean squared error per sample, over the mask's voxels if a mask is given.

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.
        mask: optional, broadcastable to ``(B, C, H, W)``; voxels with mask ≠ 0 count.

    Returns:
        ``(B,)``; NaN for a sample whose mask is empty.
    """
    check_pair(pred, target)
    weights = as_weights(mask, pred)
    return masked_mean((pred - target) ** 2, weights)


def psnr(pred: Tensor, target: Tensor, data_range: DataRange, mask: Tensor | None = None) -> Tensor:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range² / MSE)``, per sample.

    Matches ``skimage.metrics.peak_signal_noise_ratio(target, pred, data_range=data_range)``
    without a mask; with a mask, the MSE is taken over the mask's voxels only.

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.
        data_range: the peak value, a positive float or a ``(B,)`` tensor (e.g. the ground
            truth's max − min per slice). Always explicit: maps are in arbitrary units.
        mask: optional, broadcastable to ``(B, C, H, W)``; voxels with mask ≠ 0 count.

    Returns:
        ``(B,)``; ``+inf`` where ``pred == target`` (on the mask), NaN for an empty mask.
    """
    error = mse(pred, target, mask)
    peak = as_data_range(data_range, pred).flatten()
    return 10.0 * torch.log10(peak**2 / error)


def nrmse(pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Normalised root mean squared error ``‖pred − target‖₂ / ‖target‖₂`` per sample.

    Matches ``skimage.metrics.normalized_root_mse(target, pred, normalization="euclidean")``
    without a mask; with a mask, both norms run over the mask's voxels only. Needs no data
    range: it is invariant to a common scaling of ``pred`` and ``target``.

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.
        mask: optional, broadcastable to ``(B, C, H, W)``; voxels with mask ≠ 0 count.

    Returns:
        ``(B,)``; ``inf`` (or NaN when ``pred`` is zero too) where the target is zero on the
        mask, NaN for an empty mask.
    """
    check_pair(pred, target)
    weights = as_weights(mask, pred)
    error = masked_mean((pred - target) ** 2, weights)
    energy = masked_mean(target**2, weights)
    return torch.sqrt(error / energy)


def psnr_in_mask(estimate: ArrayLike, reference: ArrayLike, mask: ArrayLike) -> float:
    """PSNR (dB) of one map or volume inside ``mask``, every voxel pooled: :func:`psnr` with
    the data range of :func:`~mrsisr.metrics.masked_data_range` (reference max − min inside
    the mask), for NumPy arrays of any shape ``(..., H, W)``.

    Args:
        estimate: the map, e.g. ``(S, N_y, N_x)`` or ``(N_y, N_x)``.
        reference: the map it is scored against, same shape.
        mask: same shape, nonzero inside.

    Returns:
        The PSNR; NaN for an empty mask, ``+inf`` where the maps agree on it.
    """
    import numpy as np

    def volume(x: ArrayLike) -> Tensor:
        values = np.ascontiguousarray(x, dtype=np.float64)
        return torch.from_numpy(values.reshape(1, -1, *values.shape[-2:]))

    inside = volume(np.asarray(mask) != 0)
    target = volume(reference)
    return float(psnr(volume(estimate), target, masked_data_range(target, inside), inside)[0])
