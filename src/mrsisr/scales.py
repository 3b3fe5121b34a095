"""The multi-scale arithmetic of MS-SSIM, in one place (loss, metric, evaluation, checks).

MS-SSIM halves an image ``scales - 1`` times with 2 x 2 average pooling that keeps a partial
last row or column (``ceil_mode``), so a side of ``s`` voxels keeps ``ceil(s / 2**(scales-1))``
at the coarsest scale, which must still hold the Gaussian window. Kept free of torch so that
configuration checks can use it at start-up.
"""

from __future__ import annotations

__all__ = ["coarsest_side", "fitting_scales"]


def coarsest_side(side: int, scales: int) -> int:
    """Voxels left of a side of ``side`` at the coarsest of ``scales`` MS-SSIM scales.

    Args:
        side: voxels along the shorter image axis, ``>= 1``.
        scales: number of scales, ``>= 1`` (1: no halving).
    """
    if side < 1 or scales < 1:
        raise ValueError(f"side and scales must be >= 1, got {side} and {scales}")
    return -(-side // 2 ** (scales - 1))


def fitting_scales(side: int, window: int, scales: int) -> int:
    """The most scales, at most ``scales``, whose coarsest scale holds ``window`` (at least 1)."""
    while scales > 1 and coarsest_side(side, scales) < window:
        scales -= 1
    return scales
