"""The condition trunks: the fully-connected layers that see only ``n``, ``m`` or ``lambda``.

Every conditioned layer of the UNet has its own trunk (as in the authors' code), but all
trunks take the same inputs, so they are stored stacked, ``(L, in, out)`` per layer, and run
as one batched matrix product per depth. They return one hidden vector per layer and sample,
``(L, B, H)``; layer ``l`` of the network reads row ``l`` and applies its own head
(:mod:`mrsisr.nn.blocks`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.nn.config import GeneratorConfig, NEncoding

__all__ = [
    "LEAKY_SLOPE",
    "ConditionGroups",
    "FilterConditioner",
    "StackedMLP",
    "encode_n",
    "group_conditions",
]

LEAKY_SLOPE = 0.2


def _linear_init_(weight: torch.Tensor, bias: torch.Tensor, fan_in: int) -> None:
    """The default initialisation of ``nn.Linear``: uniform within ``1 / sqrt(fan_in)``."""
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(weight, -bound, bound)
    nn.init.uniform_(bias, -bound, bound)


def encode_n(
    n: torch.Tensor,
    config: GeneratorConfig,
    dtype: torch.dtype,
    grid: Sequence[int] | None = None,
) -> torch.Tensor:
    """The acquisition sizes as the trunks see them (:class:`~mrsisr.nn.config.NEncoding`).

    Every encoding is of the factor ``n / N`` between the acquisition and the grid the
    network runs on: ``grid`` encodes ``n / N`` itself; ``range`` and ``fourier`` encode the
    size that has the same factor on the trained grid, ``n * config.grid / N`` (a float on
    another grid). On ``config.grid`` (``grid`` None) this is the ``n`` it was trained with.

    Args:
        n: ``(B, 2)`` int64 acquisition sizes ``(n_y, n_x)``.
        config: the generator's options (``n_encoding``, ``grid``, ``n_range``, ``n_fourier``).
        dtype: floating-point type of the result.
        grid: the grid ``(N_y, N_x)`` the network runs on; ``None``: ``config.grid``.

    Returns:
        ``(B, config.n_features)``.
    """
    n = n.to(dtype)
    own = grid is None or tuple(int(g) for g in grid) == tuple(config.grid)
    if config.n_encoding == NEncoding.grid:
        size = config.grid if own or grid is None else tuple(int(g) for g in grid)
        return n / torch.tensor(size, dtype=dtype, device=n.device)
    if config.n_encoding == NEncoding.none:
        return torch.zeros_like(n)
    if not own and grid is not None:
        ratio = [t / int(g) for t, g in zip(config.grid, grid)]
        n = n * torch.tensor(ratio, dtype=dtype, device=n.device)
    low, high = config.n_range
    unit = (n - low) / (high - low)
    if config.n_encoding == NEncoding.range:
        return unit
    octaves = math.pi * 2.0 ** torch.arange(config.n_fourier, dtype=dtype, device=n.device)
    angles = (unit[:, :, None] * octaves).flatten(1)  # (B, 2 * n_fourier)
    return torch.cat([unit, torch.sin(angles), torch.cos(angles)], dim=1)


class StackedMLP(nn.Module):
    """``copies`` independent MLPs with the same layer sizes, run as batched matrix products.

    Each layer is ``Linear`` followed by LeakyReLU(0.2). Copy ``l`` is the trunk of the
    ``l``-th conditioned layer of a network; all copies run in one ``baddbmm`` per layer.

    Args:
        copies: number of independent MLPs ``L``.
        sizes: ``[in_features, hidden_1, ..., hidden_k]`` (``k >= 1`` layers).
    """

    def __init__(self, copies: int, sizes: Sequence[int]) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and at least one layer, got {list(sizes)}")
        self.copies = int(copies)
        self.sizes = tuple(int(s) for s in sizes)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in pairwise(self.sizes):
            weight = nn.Parameter(torch.empty(copies, fan_in, fan_out))
            bias = nn.Parameter(torch.empty(copies, 1, fan_out))
            _linear_init_(weight, bias, fan_in)
            self.weights.append(weight)
            self.biases.append(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every copy.

        Args:
            x: ``(B, in_features)``, the same input for every copy, or ``(L, B, in_features)``.

        Returns:
            ``(L, B, hidden_k)``.
        """
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if i == 0 and x.dim() == 2:
                x = torch.matmul(x, weight) + bias  # broadcast over the copies
            else:
                x = torch.baddbmm(bias, x, weight)
            x = F.leaky_relu(x, LEAKY_SLOPE)
        return x

    def extra_repr(self) -> str:
        return f"copies={self.copies}, sizes={list(self.sizes)}"


class FilterConditioner(nn.Module):
    """The trunks of ``c(n)`` or ``c(n, E(m))`` for all ``L`` conditioned layers at once.

    Per layer (as in the authors' code): ``depth`` FC layers on the normalised ``n``; with
    metabolites, also a learned ``embedding``-long vector ``E(m)`` per metabolite, ``depth``
    FC layers on it, and one FC layer on the concatenation of both. The per-layer heads (the
    last FC layer, to ``C_out * C_in`` scales or to whole kernels) live in the convolutions.
    ``extra`` features (the image-presence flags) enter the trunk on ``n`` with it.

    Args:
        copies: number of conditioned layers ``L``.
        latent: width of each trunk.
        depth: FC layers per trunk.
        n_metabolites: rows of the metabolite embedding; 0 conditions on ``n`` only.
        embedding: length of ``E(m)``.
        n_features: width of the encoded ``n`` (:func:`encode_n`).
        extra: number of extra features given with ``n`` (0: none).
    """

    def __init__(
        self,
        copies: int,
        latent: int,
        depth: int,
        n_metabolites: int = 0,
        embedding: int = 3,
        n_features: int = 2,
        extra: int = 0,
    ) -> None:
        super().__init__()
        self.extra = int(extra)
        self.n_trunk = StackedMLP(copies, [n_features + self.extra] + [latent] * depth)
        self.embedding: nn.Parameter | None = None
        self.met_trunk: StackedMLP | None = None
        self.mix: StackedMLP | None = None
        if n_metabolites:
            self.embedding = nn.Parameter(torch.randn(copies, n_metabolites, embedding))
            self.met_trunk = StackedMLP(copies, [embedding] + [latent] * depth)
            self.mix = StackedMLP(copies, [2 * latent, 2 * latent])

    def forward(
        self, n: torch.Tensor, met: torch.Tensor, extra: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Hidden vectors of every layer.

        Args:
            n: ``(B, n_features)`` float, the encoded acquisition sizes (:func:`encode_n`).
            met: ``(B,)`` int64 metabolite indices (ignored without metabolites).
            extra: ``(B, extra)`` float features, required when ``extra > 0``.

        Returns:
            ``(L, B, latent)``, or ``(L, B, 2 * latent)`` with metabolites.
        """
        if self.extra:
            if extra is None or extra.shape[-1] != self.extra:
                raise ValueError(f"this conditioner needs {self.extra} extra features with n")
            n = torch.cat([n, extra.to(n.dtype)], dim=-1)
        hidden = self.n_trunk(n)
        if self.embedding is not None and self.met_trunk is not None and self.mix is not None:
            met_hidden = self.met_trunk(self.embedding[:, met])  # (L, B, latent)
            hidden = self.mix(torch.cat([hidden, met_hidden], dim=-1))
        return hidden


class ConditionGroups(NamedTuple):
    """The samples of a batch that share their conditions, ``U < B`` groups."""

    first: torch.Tensor
    """``(U,)`` int64: one sample of each group (its first)."""
    inverse: torch.Tensor
    """``(B,)`` int64: the group of each sample."""


def group_conditions(
    n: torch.Tensor, met: torch.Tensor | None = None, present: torch.Tensor | None = None
) -> ConditionGroups | None:
    """Group the samples whose ``n`` (metabolite, image presence) are equal; ``None`` if no two are.

    A batch whose samples share ``(n, m)`` (the grouped sampler's batches) then needs one
    filter-scaled kernel per group instead of one per sample. Costs one ``torch.unique``
    (a synchronisation on GPUs).

    Args:
        n: ``(B, 2)`` int64 acquisition sizes.
        met: ``(B,)`` int64 metabolite indices, or ``None`` to group on ``n`` only.
        present: ``(B, 2)`` bool image-presence flags, or ``None`` to ignore them.

    Returns:
        The groups, or ``None`` when every sample has its own conditions (``U == B``).
    """
    parts = [n.long()]
    if met is not None:
        parts.append(met.long()[:, None])
    if present is not None:
        parts.append(present.long())
    keys = torch.cat(parts, dim=1)
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    count, batch = unique.shape[0], keys.shape[0]
    if count == batch:
        return None
    order = torch.arange(batch, device=keys.device)
    first = order.new_full((count,), batch).scatter_reduce_(0, inverse, order, "amin")
    return ConditionGroups(first, inverse)
