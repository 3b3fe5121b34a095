"""Data consistency for a batch that mixes acquisition sizes (Schlemper et al. TMI 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn

from mrsisr.kspace import projection_matrix

__all__ = ["DataConsistency"]


@lru_cache(maxsize=8)
def _projections(size: int) -> torch.Tensor:
    """``(size, size, size)`` float32: ``projection_matrix(size, n)`` at index ``n - 1``."""
    mats = torch.stack([projection_matrix(size, n) for n in range(1, size + 1)])
    return mats.to(torch.float32)


class DataConsistency(nn.Module):
    """Replace the acquired k-space of an estimate by the measured one, exactly, per sample.

    ``x + P_n (lr - x)``, where ``P_n = zero_fill o degrade`` for each sample's ``n`` is the
    real separable projection ``P_y @ img @ P_x.T`` (:func:`mrsisr.kspace.projection_matrix`).
    The matrices of every ``n`` in ``1..N`` are computed once per grid size (in float64,
    stored as float32 buffers that the state dict leaves out) and gathered per sample, so the
    module is two batched matrix products. An estimate on another grid than ``grid`` uses
    the matrices of its own grid (computed once per size and cached).
    With ``lr = zero_fill(degrade(hr, n))`` it equals
    ``mrsisr.kspace.data_consistency(x, degrade(hr, n))``.

    Args:
        grid: high-resolution grid ``(N_y, N_x)``, or an int for square.
    """

    proj_y: torch.Tensor
    proj_x: torch.Tensor

    def __init__(self, grid: int | Sequence[int]) -> None:
        super().__init__()
        ny, nx = (grid, grid) if isinstance(grid, int) else (int(grid[0]), int(grid[1]))
        self.grid = (ny, nx)
        # On the meta device (mrsisr.checkpoint checks a model file's shapes before loading
        # it) the buffers get no values, and no meta tensor enters the cache.
        self.register_buffer("proj_y", torch.empty(ny, ny, ny), persistent=False)
        self.register_buffer("proj_x", torch.empty(nx, nx, nx), persistent=False)
        if self.proj_y.device.type != "meta":
            self.reset_buffers()

    def reset_buffers(self) -> None:
        """Fill the projection buffers (after ``to_empty``: they are not in the state dict)."""
        ny, nx = self.grid
        with torch.no_grad():
            self.proj_y.copy_(_projections(ny))
            self.proj_x.copy_(_projections(nx))

    def forward(self, x: torch.Tensor, lr: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """Make ``x`` consistent with the zero-filled measurement ``lr``.

        Args:
            x: estimate ``(B, C, N_y, N_x)``, on ``grid`` or any other grid.
            lr: zero-filled measurement ``(B, C, N_y, N_x)`` (:func:`mrsisr.kspace.zero_fill`).
            n: acquisition sizes ``(B, 2)`` integer ``(n_y, n_x)``, ``1 <= n <= N``.

        Returns:
            ``(B, C, N_y, N_x)``: ``x`` outside the acquired frequencies, ``lr`` inside.
        """
        proj_y, proj_x = self.proj_y, self.proj_x
        if tuple(x.shape[-2:]) != self.grid:  # another grid: its matrices, cached per size
            proj_y = _projections(int(x.shape[-2])).to(x.device)
            proj_x = _projections(int(x.shape[-1])).to(x.device)
        p_y = proj_y[n[:, 0] - 1].unsqueeze(1).to(x.dtype)  # (B, 1, N_y, N_y)
        p_x = proj_x[n[:, 1] - 1].unsqueeze(1).to(x.dtype)  # (B, 1, N_x, N_x)
        return x + p_y @ (lr - x) @ p_x.transpose(-1, -2)

    def extra_repr(self) -> str:
        return f"grid={self.grid}"
