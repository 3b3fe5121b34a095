"""Inputs and helpers shared by the network tests."""

from __future__ import annotations

import torch
from torch import nn

from mrsisr.kspace import degrade, zero_fill


def make_inputs(
    batch: int,
    grid: tuple[int, int] = (32, 48),
    seed: int = 0,
    n: list[tuple[int, int]] | None = None,
    met: list[int] | None = None,
    lam: list[float] | None = None,
) -> tuple[torch.Tensor, ...]:
    """A mixed batch ``(lr, t1, flair, mask, n, met, lam)``: lr is a real zero-filled map."""
    gen = torch.Generator().manual_seed(seed)
    ny, nx = grid
    hr = torch.rand(batch, 1, ny, nx, generator=gen, dtype=torch.float64)
    if n is None:
        n = [
            (int(a), int(b)) for a, b in torch.randint(2, min(grid) + 1, (batch, 2), generator=gen)
        ]
    lr = torch.stack([zero_fill(degrade(hr[b], n[b]), grid) for b in range(batch)]).float()
    t1 = torch.rand(batch, 1, ny, nx, generator=gen)
    flair = torch.rand(batch, 1, ny, nx, generator=gen)
    mask = (torch.rand(batch, 1, ny, nx, generator=gen) > 0.2).float()
    met_t = torch.tensor(met if met is not None else [b % 7 for b in range(batch)])
    lam_t = torch.tensor(lam if lam is not None else [0.03 * b for b in range(batch)])
    return lr, t1, flair, mask, torch.tensor(n), met_t, lam_t.float()


@torch.no_grad()
def perturb_(model: nn.Module, seed: int = 0, scale: float = 0.05) -> nn.Module:
    """Add small noise to every parameter, so the zero-initialised condition heads act."""
    gen = torch.Generator().manual_seed(seed)
    for p in model.parameters():
        p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


def sample(inputs: tuple[torch.Tensor, ...], b: int) -> tuple[torch.Tensor, ...]:
    """Sample ``b`` of a batch, keeping the batch dimension."""
    return tuple(x[b : b + 1] for x in inputs)
