"""Data consistency for a batch that mixes acquisition sizes (Schlemper et al. TMI 2018)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import nn

from mrsisr.kspace import fft2c, ifft2c, projection_matrix, unfiltered_frequencies
from mrsisr.options import AcquisitionWindow

__all__ = ["DataConsistency", "measured_frequencies"]

_WINDOWS = tuple(AcquisitionWindow)


@lru_cache(maxsize=8)
def _projections(size: int) -> torch.Tensor:
    """``(size, size, size)`` float32: ``projection_matrix(size, n)`` at index ``n - 1``."""
    mats = torch.stack([projection_matrix(size, n) for n in range(1, size + 1)])
    return mats.to(torch.float32)


@lru_cache(maxsize=512)
def _measured(grid: tuple[int, int], n: tuple[int, int], code: int) -> torch.Tensor:
    window = _WINDOWS[code]
    keep = unfiltered_frequencies(grid, n, hamming=window.hamming_filter, elliptical=window.ellipse)
    return torch.from_numpy(keep.astype("float32"))


def measured_frequencies(
    grid: tuple[int, int], n: torch.Tensor, window: torch.Tensor
) -> torch.Tensor:
    """``(B, 1, N_y, N_x)`` float 0/1: the frequencies each sample measured unfiltered
    (:func:`mrsisr.kspace.unfiltered_frequencies` of its ``n`` and window code)."""
    masks = [
        _measured(grid, (int(a), int(b)), int(c)) for (a, b), c in zip(n.tolist(), window.tolist())
    ]
    return torch.stack(masks)[:, None]


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

    def forward(
        self,
        x: torch.Tensor,
        lr: torch.Tensor,
        n: torch.Tensor,
        window: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Make ``x`` consistent with the zero-filled measurement ``lr``.

        Args:
            x: estimate ``(B, C, N_y, N_x)``, on ``grid`` or any other grid.
            lr: zero-filled measurement ``(B, C, N_y, N_x)`` (:func:`mrsisr.kspace.zero_fill`).
            n: acquisition sizes ``(B, 2)`` integer ``(n_y, n_x)``, ``1 <= n <= N``.
            window: ``(B,)`` int64 :class:`~mrsisr.options.AcquisitionWindow` codes of the
                acquisitions; ``None`` or 0: the whole ``n x n`` box, unfiltered. A sample
                with another window keeps ``lr`` only on the frequencies it measured
                unfiltered (:func:`measured_frequencies`): inside the ellipse for an
                elliptical acquisition, frequency 0 alone under a Hamming filter.

        Returns:
            ``(B, C, N_y, N_x)``: ``x`` outside the acquired (unfiltered) frequencies, ``lr``
            inside.
        """
        proj_y, proj_x = self.proj_y, self.proj_x
        grid = (int(x.shape[-2]), int(x.shape[-1]))
        if grid != tuple(self.grid):  # another grid: its matrices, cached per size
            proj_y = _projections(grid[0]).to(x.device)
            proj_x = _projections(grid[1]).to(x.device)
        p_y = proj_y[n[:, 0] - 1].unsqueeze(1).to(x.dtype)  # (B, 1, N_y, N_y)
        p_x = proj_x[n[:, 1] - 1].unsqueeze(1).to(x.dtype)  # (B, 1, N_x, N_x)
        out = x + p_y @ (lr - x) @ p_x.transpose(-1, -2)
        if window is None or not bool((window != 0).any()):
            return out
        keep = measured_frequencies(grid, n, window).to(device=x.device, dtype=x.dtype)
        free = x + ifft2c(keep * fft2c(lr - x)).real.to(x.dtype)
        return torch.where((window != 0).view(-1, 1, 1, 1), free, out)

    def extra_repr(self) -> str:
        return f"grid={self.grid}"
