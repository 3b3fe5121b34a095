"""Intensity normalisation shared by training and inference.

Training and inference must normalise a map in the same way, and inference only has the
low-resolution map. The map scale is therefore computed from the zero-filled LR map
(:func:`map_scale`), never from the high-resolution target; the model's output is multiplied
back by that scale before any metric. Anatomical images are divided by a robust maximum, the
99.5th percentile inside the mask of the whole volume (:func:`normalise_anatomy`).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)

__all__ = ["ANATOMY_PERCENTILE", "MIN_SCALE_FRACTION", "map_scale", "normalise_anatomy"]

ANATOMY_PERCENTILE = 99.5
"""Percentile (inside the mask) that :func:`normalise_anatomy` maps to 1."""

MIN_SCALE_FRACTION = 0.01
"""Floor of the map scale, as a fraction of the largest magnitude inside the mask."""


def map_scale(lr: Array, mask: Array) -> Array:
    """Per-image normalisation scale of a zero-filled low-resolution map.

    The scale is the largest value of ``lr`` inside ``mask``, floored at
    :data:`MIN_SCALE_FRACTION` of the largest magnitude inside the mask, so that a map that
    is zero or negative in the mask still gets a positive, well-conditioned scale. An image
    whose mask is empty or whose map is zero inside it gets the scale 1. Divide ``lr`` (and
    the target) by the scale; multiply the network output by it to return to map units.

    Args:
        lr: zero-filled LR maps ``(..., N_y, N_x)``, NumPy array or torch tensor.
        mask: masks broadcastable to ``lr`` (bool or {0, 1}); nonzero voxels count.

    Returns:
        Positive scales of shape ``lr.shape[:-2]`` (0-d for one image), same type and floating
        dtype as ``lr``.
    """
    if lr.ndim < 2:
        raise ValueError(f"lr must have shape (..., N_y, N_x), got {tuple(lr.shape)}")
    if isinstance(lr, torch.Tensor):
        inside = torch.as_tensor(mask, device=lr.device) != 0
        inside = inside.expand(lr.shape)
        neg_inf = torch.tensor(-torch.inf, dtype=lr.dtype, device=lr.device)
        zero = torch.zeros((), dtype=lr.dtype, device=lr.device)
        peak = torch.where(inside, lr, neg_inf).amax(dim=(-2, -1))
        magnitude = torch.where(inside, lr.abs(), zero).amax(dim=(-2, -1))
        scale = torch.maximum(peak, MIN_SCALE_FRACTION * magnitude)
        ok = (magnitude > 0) & torch.isfinite(scale)
        return torch.where(ok, scale, torch.ones_like(scale))
    values = np.asarray(lr)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    inside = np.broadcast_to(np.asarray(mask) != 0, values.shape)
    peak = np.where(inside, values, -np.inf).max(axis=(-2, -1))
    magnitude = np.where(inside, np.abs(values), 0).max(axis=(-2, -1))
    scale = np.maximum(peak, MIN_SCALE_FRACTION * magnitude)
    ok = (magnitude > 0) & np.isfinite(scale)
    return np.where(ok, scale, 1).astype(values.dtype)


def normalise_anatomy(
    volume: np.ndarray, mask: np.ndarray, percentile: float = ANATOMY_PERCENTILE
) -> np.ndarray:
    """Divide an anatomical image (T1, FLAIR) by its 99.5th percentile inside the mask.

    Apply it once per volume (the whole ``(X, Y, Z)`` image of a patient), at training and
    at inference alike. If the mask is empty the percentile is taken over the whole image; if
    that is not positive either, the image is returned unscaled.

    Args:
        volume: anatomical image, any shape, e.g. ``(X, Y, Z)``.
        mask: bool or {0, 1} array of the same shape; nonzero voxels count.
        percentile: the percentile mapped to 1, in ``(0, 100]``.

    Returns:
        The normalised image, float32, same shape.
    """
    volume = np.asarray(volume)
    mask = np.asarray(mask)
    if volume.shape != mask.shape:
        raise ValueError(
            f"volume and mask must have the same shape, got {volume.shape} and {mask.shape}"
        )
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    values = volume.astype(np.float64)
    inside = values[(mask != 0) & np.isfinite(values)]
    if inside.size == 0:
        inside = values[np.isfinite(values)]
    reference = float(np.percentile(inside, percentile)) if inside.size else 0.0
    if not reference > 0:
        reference = 1.0
    return (values / reference).astype(np.float32)
