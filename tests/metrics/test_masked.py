"""The one data-range rule and the one masked mean, with their edge cases."""

from __future__ import annotations

import math

import numpy as np
import torch

from mrsisr.figures import masked_scores
from mrsisr.metrics import masked_data_range, masked_extrema, masked_mean
from mrsisr.train.losses import loss_data_range


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    target = torch.arange(3 * 16, dtype=torch.float64).reshape(3, 1, 4, 4)
    target[1] = 7.0  # constant map
    mask = torch.zeros_like(target)
    mask[0, 0, 1:3, 1:3] = 1
    mask[1, 0, :2] = 1
    return target, mask  # sample 2: empty mask


def test_range_is_max_minus_min_inside_zero_for_constant_nan_for_empty() -> None:
    target, mask = _batch()
    inside = target[0, 0, 1:3, 1:3].numpy()
    got = masked_data_range(target, mask)
    assert got[0].item() == inside.max() - inside.min()
    assert got[1].item() == 0.0
    assert math.isnan(got[2].item())
    low, high = masked_extrema(target, mask)
    assert (low[0].item(), high[0].item()) == (inside.min(), inside.max())


def test_the_loss_floors_the_range_and_uses_the_whole_map_for_an_empty_mask() -> None:
    target, mask = _batch()
    got = loss_data_range(target, mask)
    assert got[1].item() == 1e-3
    assert got[2].item() == float(target[2].max() - target[2].min())


def test_masked_mean_is_nan_for_an_empty_mask() -> None:
    target, mask = _batch()
    got = masked_mean(target, mask)
    assert got[0].item() == target[0, 0, 1:3, 1:3].mean().item()
    assert math.isnan(got[2].item())


def test_figure_captions_agree_with_the_tables_on_a_constant_map() -> None:
    flat = np.full((8, 8), 3.0)
    assert all(math.isnan(v) for v in masked_scores(flat + 1, flat, np.ones((8, 8))))
