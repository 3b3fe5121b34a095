"""MS-SSIM scale arithmetic: the coarsest side equals what average pooling leaves."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mrsisr.scales import coarsest_side, fitting_scales


@pytest.mark.parametrize(("side", "scales"), [(64, 3), (33, 3), (17, 4), (5, 1), (1, 5)])
def test_coarsest_side_is_what_ceil_mode_pooling_leaves(side: int, scales: int) -> None:
    x = torch.zeros(1, 1, side, side)
    for _ in range(scales - 1):
        x = F.avg_pool2d(x, kernel_size=2, stride=2, ceil_mode=True)
    assert coarsest_side(side, scales) == x.shape[-1]


def test_fitting_scales_drops_scales_until_the_window_fits() -> None:
    assert fitting_scales(64, 11, 3) == 3  # 16 voxels hold 11
    assert fitting_scales(32, 11, 3) == 2  # 8 < 11 <= 16
    assert fitting_scales(8, 11, 3) == 1  # never below one scale
    with pytest.raises(ValueError, match=">= 1"):
        coarsest_side(0, 3)
