"""Structural similarity (SSIM, Wang et al. 2004) and multi-scale SSIM (Wang et al. 2003).

Both use a Gaussian window (``sigma = 1.5``, 11 taps by default, normalised over its taps),
``K1 = 0.01``, ``K2 = 0.03``, population (not sample) covariances and an explicit data range,
i.e. scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=...)``.

Border handling follows scikit-image too. Without a mask, the SSIM map is computed where the
window fits inside the image (a "valid" convolution) and averaged, which equals skimage's
returned mean (it crops ``(win_size - 1) // 2`` voxels from each side). With a mask, the
full-size map is computed with half-sample symmetric padding (skimage's ``full=True`` map,
``mode="reflect"`` in SciPy terms) and averaged over the mask's voxels, so a brain mask that
reaches the border of the field of view still counts every voxel it holds.

MS-SSIM on 64 × 64 maps: the standard five scales with an 11-tap window need images larger
than 160 px (the coarsest scale must still hold the window). We keep the standard window and
constants and use the first three scales (64, 32, 16 px), with the standard weights
``(0.0448, 0.2856, 0.3001)`` renormalised to sum to one; the coarsest 16 × 16 scale holds
6 × 6 full windows. Fewer scales keep every SSIM statistic estimated from a full window,
which a smaller window or zero-padded coarse scales would not.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from mrsisr.metrics._common import DataRange, as_data_range, as_weights, check_pair, masked_mean
from mrsisr.scales import coarsest_side

__all__ = ["MS_SSIM_SCALES", "MS_SSIM_WEIGHTS", "ms_ssim", "ms_ssim_weights", "ssim"]

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
"""The five scale weights of Wang et al. (2003), finest scale first."""

MS_SSIM_SCALES = 3
"""Default number of MS-SSIM scales: 64 → 32 → 16 px keeps the 11-tap window inside."""


def ms_ssim_weights(scales: int = MS_SSIM_SCALES) -> tuple[float, ...]:
    """The first ``scales`` standard MS-SSIM weights, renormalised to sum to one.

    Args:
        scales: number of scales, 1 to 5.
    """
    if not 1 <= scales <= len(MS_SSIM_WEIGHTS):
        raise ValueError(f"scales must be in [1, {len(MS_SSIM_WEIGHTS)}], got {scales}")
    kept = MS_SSIM_WEIGHTS[:scales]
    total = sum(kept)
    return tuple(w / total for w in kept)


def _gaussian_window(win_size: int, sigma: float, like: Tensor) -> Tensor:
    """The 1-D Gaussian window ``(win_size,)``, normalised to sum to one."""
    x = torch.arange(win_size, dtype=like.dtype, device=like.device) - win_size // 2
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _symmetric_pad(x: Tensor, pad: int) -> Tensor:
    """Half-sample symmetric padding (``d c b a | a b c d | d c b a``) of the last two axes."""
    for dim in (-2, -1):
        n = x.shape[dim]
        idx = torch.arange(-pad, n + pad, device=x.device) % (2 * n)
        idx = torch.where(idx < n, idx, 2 * n - 1 - idx)
        x = torch.index_select(x, dim, idx)
    return x


def _filter(x: Tensor, window: Tensor, same: bool) -> Tensor:
    """Separable Gaussian filtering of ``(B, C, H, W)``; "valid" output unless ``same``."""
    channels = x.shape[1]
    if same:
        x = _symmetric_pad(x, window.numel() // 2)
    kernel = window.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1)
    x = F.conv2d(x, kernel, groups=channels)
    return F.conv2d(x, kernel.transpose(-1, -2), groups=channels)


def _ssim_maps(
    pred: Tensor, target: Tensor, peak: Tensor, window: Tensor, same: bool, k1: float, k2: float
) -> tuple[Tensor, Tensor]:
    """The SSIM map and the contrast-structure map, each ``(B, C, H', W')``."""
    c1 = (k1 * peak) ** 2
    c2 = (k2 * peak) ** 2
    # One grouped convolution filters the five images at once.
    stacked = torch.cat([pred, target, pred * pred, target * target, pred * target], dim=1)
    mu_x, mu_y, e_xx, e_yy, e_xy = _filter(stacked, window, same).chunk(5, dim=1)
    var_x = e_xx - mu_x**2
    var_y = e_yy - mu_y**2
    cov = e_xy - mu_x * mu_y
    cs_map = (2.0 * cov + c2) / (var_x + var_y + c2)
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return luminance * cs_map, cs_map


def _check_window(win_size: int, sigma: float, height: int, width: int) -> None:
    if win_size < 3 or win_size % 2 == 0:
        raise ValueError(f"win_size must be an odd integer >= 3, got {win_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if win_size > min(height, width):
        raise ValueError(
            f"win_size={win_size} exceeds the image size {height}x{width}; use a window no "
            "larger than the smaller side"
        )


def ssim(
    pred: Tensor,
    target: Tensor,
    data_range: DataRange,
    mask: Tensor | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Structural similarity per sample, averaged over channels (differentiable).

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.
        data_range: a positive float or a ``(B,)`` tensor; sets ``C1 = (k1 · range)²`` and
            ``C2 = (k2 · range)²``. Always explicit: maps are in arbitrary units.
        mask: optional, broadcastable to ``(B, C, H, W)``. ``None``: the mean of the valid
            (window inside the image) SSIM map. Given: the full-size, symmetrically padded
            SSIM map averaged over the voxels where the mask is non-zero.
        win_size: odd width of the Gaussian window, at most ``min(H, W)``.
        sigma: standard deviation of the Gaussian window, in voxels.
        k1: luminance stabiliser.
        k2: contrast-structure stabiliser.

    Returns:
        ``(B,)``, at most 1 (1 for identical inputs); NaN for an empty mask.
    """
    check_pair(pred, target)
    _check_window(win_size, sigma, pred.shape[-2], pred.shape[-1])
    peak = as_data_range(data_range, pred)
    weights = as_weights(mask, pred)
    window = _gaussian_window(win_size, sigma, pred)
    ssim_map, _ = _ssim_maps(pred, target, peak, window, weights is not None, k1, k2)
    return masked_mean(ssim_map, weights)


def _downsample(x: Tensor) -> Tensor:
    """2 × 2 mean pooling; an odd trailing row or column is averaged over what exists."""
    return F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)


def _positive_power(x: Tensor, exponent: float) -> Tensor:
    """``max(x, 0) ** exponent`` with a zero (not infinite) gradient where ``x <= 0``; NaN stays."""
    positive = x > 0
    safe = torch.where(positive, x, torch.ones_like(x))
    powered = torch.where(positive, safe**exponent, torch.zeros_like(x))
    return torch.where(torch.isnan(x), x, powered)


def ms_ssim(
    pred: Tensor,
    target: Tensor,
    data_range: DataRange,
    mask: Tensor | None = None,
    weights: Sequence[float] | None = None,
    win_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Multi-scale structural similarity per sample (differentiable; used in the loss).

    ``prod_{s < L-1} cs_s^{w_s} · ssim_{L-1}^{w_{L-1}}`` over ``L = len(weights)`` scales,
    each scale a 2 × 2 mean-pooled copy of the previous; negative factors count as zero, as
    in Wang et al. (2003) and pytorch-msssim, whose ``ms_ssim(X, Y, data_range, win_size=...,
    weights=...)`` this equals without a mask on even-sized images. See the module docstring
    for why the default is three scales (``ms_ssim_weights(3)``) on 64 × 64 maps.

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.
        data_range: a positive float or a ``(B,)`` tensor. Always explicit.
        mask: optional, broadcastable to ``(B, C, H, W)``; at each scale the SSIM statistics
            are averaged over the (mean-pooled, hence fractional) mask, as in :func:`ssim`.
        weights: per-scale weights, finest first; default ``ms_ssim_weights(3)``.
        win_size: odd width of the Gaussian window; the coarsest scale must hold it.
        sigma: standard deviation of the Gaussian window, in voxels.
        k1: luminance stabiliser.
        k2: contrast-structure stabiliser.

    Returns:
        ``(B,)`` in [0, 1] (1 for identical inputs); NaN for an empty mask.
    """
    check_pair(pred, target)
    scale_weights = tuple(ms_ssim_weights() if weights is None else weights)
    if not scale_weights or any(not w >= 0 for w in scale_weights):
        raise ValueError(
            f"weights must be a non-empty sequence of non-negative numbers, got {weights!r}"
        )
    height, width = pred.shape[-2:]
    coarsest = coarsest_side(min(height, width), len(scale_weights))
    if not win_size <= coarsest:
        raise ValueError(
            f"{len(scale_weights)} MS-SSIM scales of a {height}x{width} image leave {coarsest} "
            f"px at the coarsest scale, smaller than win_size={win_size}; use fewer weights "
            "or a smaller window"
        )
    _check_window(win_size, sigma, height, width)
    peak = as_data_range(data_range, pred)
    mask_weights = as_weights(mask, pred)
    window = _gaussian_window(win_size, sigma, pred)
    same = mask_weights is not None
    result = torch.ones(pred.shape[0], dtype=pred.dtype, device=pred.device)
    x, y, m = pred, target, mask_weights
    for level, weight in enumerate(scale_weights):
        ssim_map, cs_map = _ssim_maps(x, y, peak, window, same, k1, k2)
        last = level == len(scale_weights) - 1
        value = masked_mean(ssim_map if last else cs_map, m)
        result = result * _positive_power(value, weight)
        if not last:
            x, y = _downsample(x), _downsample(y)
            m = None if m is None else _downsample(m)
    return result
