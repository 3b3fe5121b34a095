"""Input checks and masked reductions shared by the functional metrics.

Every metric takes a batch ``(B, C, H, W)`` (``C = 1`` for metabolite maps), an explicit data
range and an optional mask, and returns one value per sample, shape ``(B,)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

DataRange = float | Tensor
"""A data range: one positive number for the whole batch, or a ``(B,)`` tensor per sample."""


def check_pair(pred: Tensor, target: Tensor) -> None:
    """Check that ``pred`` and ``target`` are floating batches ``(B, C, H, W)`` of one shape.

    Args:
        pred: estimate, ``(B, C, H, W)``.
        target: reference, ``(B, C, H, W)``.

    Raises:
        ValueError: naming the offending argument.
    """
    for name, x in (("pred", pred), ("target", target)):
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )


def as_data_range(data_range: DataRange, like: Tensor) -> Tensor:
    """The data range as a ``(B, 1, 1, 1)`` tensor of ``like``'s dtype and device.

    Args:
        data_range: a positive float, or a ``(B,)`` (or 0-d) tensor of positive values.
        like: the batch ``(B, C, H, W)`` the range belongs to.

    Raises:
        ValueError: if the range is missing, not positive or not of shape ``(B,)``.
    """
    if data_range is None:
        raise ValueError("data_range is required (maps are in arbitrary units); got None")
    batch = like.shape[0]
    value = torch.as_tensor(data_range, dtype=like.dtype, device=like.device)
    if value.ndim == 0:
        value = value.expand(batch)
    if value.shape != (batch,):
        raise ValueError(
            f"data_range must be a float or a tensor of shape ({batch},), got shape "
            f"{tuple(value.shape)}"
        )
    if not bool(torch.all(value > 0)) or not bool(torch.all(torch.isfinite(value))):
        raise ValueError(f"data_range must be positive and finite, got {data_range!r}")
    return value.detach().reshape(batch, 1, 1, 1)


def as_weights(mask: Tensor | None, like: Tensor) -> Tensor | None:
    """A mask as float weights broadcast to ``like``'s shape; voxels with mask ≠ 0 count.

    Args:
        mask: ``None`` (every voxel counts) or a tensor broadcastable to ``(B, C, H, W)``,
            typically ``(B, 1, H, W)`` of {0, 1} or booleans.
        like: the batch ``(B, C, H, W)``.

    Raises:
        ValueError: if the mask does not broadcast to ``like``.
    """
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise ValueError(f"mask must be a torch.Tensor or None, got {type(mask).__name__}")
    try:
        expanded = torch.broadcast_to(mask, like.shape)
    except RuntimeError as err:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to {tuple(like.shape)}"
        ) from err
    return (expanded != 0).to(dtype=like.dtype, device=like.device)


def masked_mean(values: Tensor, weights: Tensor | None) -> Tensor:
    """Per-sample mean of ``values`` over ``(C, H, W)``, weighted by ``weights`` if given.

    Args:
        values: ``(B, C, H, W)``.
        weights: ``None`` or non-negative weights of the same shape. A sample whose weights
            are all zero (an empty mask) gets NaN: the metric is undefined there.

    Returns:
        ``(B,)``.
    """
    if weights is None:
        return values.flatten(1).mean(dim=1)
    total = weights.flatten(1).sum(dim=1)
    return (values * weights).flatten(1).sum(dim=1) / total


def masked_extrema(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Per-sample minimum and maximum of ``values`` inside ``mask``.

    Args:
        values: ``(B, C, H, W)``.
        mask: same shape, nonzero inside.

    Returns:
        ``(low, high)``, each ``(B,)``; NaN for a sample whose mask is empty.
    """
    flat, inside = values.flatten(1), mask.flatten(1) != 0
    high = flat.masked_fill(~inside, -torch.inf).amax(1)
    low = flat.masked_fill(~inside, torch.inf).amin(1)
    empty = ~inside.any(1)
    nan = torch.full_like(high, torch.nan)
    return torch.where(empty, nan, low), torch.where(empty, nan, high)


def masked_data_range(target: Tensor, mask: Tensor) -> Tensor:
    """The data range of every metric of the package: ``max - min`` of ``target`` in ``mask``.

    The one rule, with its edge cases decided here: a constant map has range 0 and a map with
    an empty mask NaN, and the metrics of either are undefined (NaN in evaluation tables and
    figure captions). The training loss, which needs a positive scale, floors the range
    (:func:`mrsisr.train.losses.loss_data_range`).

    Args:
        target: ``(B, C, H, W)`` ground truth.
        mask: same shape, nonzero inside.

    Returns:
        ``(B,)``.
    """
    low, high = masked_extrema(target, mask)
    return high - low
