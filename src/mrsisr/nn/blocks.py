"""Building blocks of the conditioned UNet: per-sample convolutions, conditional norms, MCM.

The Multi-Conditional Module of Dong et al. (MICCAI 2022, Fig. 1b) is a 3 x 3 convolution
whose filters are scaled by ``c(n, E(m))`` (filter scaling), then conditional instance
normalisation driven by ``s(lambda)``, then PReLU. The baselines of the paper's Table 1 swap
the parts: a plain convolution, a hypernetwork convolution, plain or AMLayer normalisation.

Every condition is per sample. The fully-connected layers are split in two:
the *trunks* (the layers that see only the conditions, :mod:`mrsisr.nn.conditioning`) run for
all layers of the network at once and give one hidden vector per layer and sample; the
*heads* (the last layer, whose size depends on the convolution) live in the blocks here
(:class:`FilterScalingConv2d`, :class:`HyperConv2d`, :class:`ConditionalInstanceNorm2d`,
:class:`AMLayerNorm2d`).

Every head starts at the identity: filter scales at 1, hypernetwork kernels at a fixed
Kaiming-initialised kernel, CIN and AMLayer at ``gamma = beta = 0``. An untrained variant is
therefore the plain UNet, and training grows the conditioning from there. The filter-scaling
heads can instead start as ``nn.Linear`` does, as in the authors' code
(``GeneratorConfig.filter_head_init``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.nn.conditioning import LEAKY_SLOPE
from mrsisr.nn.config import ConvImpl, HeadInit

__all__ = [
    "AMLayerNorm2d",
    "ConditionalInstanceNorm2d",
    "FilterScalingConv2d",
    "HyperConv2d",
    "InstanceNorm2d",
    "MCMBlock",
    "MCMLayer",
    "PlainConv2d",
    "conditioned_conv2d",
    "per_sample_conv2d",
]


def per_sample_conv2d(
    x: torch.Tensor, weight: torch.Tensor, impl: ConvImpl | str = ConvImpl.grouped
) -> torch.Tensor:
    """Convolve each sample with its own kernel (stride 1, "same" zero padding, no bias).

    Args:
        x: ``(B, C_in, H, W)``.
        weight: ``(B, C_out, C_in, k, k)``, ``k`` odd.
        impl: ``grouped``: the batch becomes the groups of one convolution of a
            ``(1, B * C_in, H, W)`` input with ``(B * C_out, C_in, k, k)`` weights;
            ``loop``: one convolution per sample. Both give the same numbers.

    Returns:
        ``(B, C_out, H, W)``.
    """
    batch, c_in, height, width = x.shape
    c_out, k = weight.shape[1], weight.shape[-1]
    if impl == ConvImpl.grouped:
        out = F.conv2d(
            x.reshape(1, batch * c_in, height, width),
            weight.reshape(batch * c_out, c_in, k, k),
            padding=k // 2,
            groups=batch,
        )
        return out.view(batch, c_out, height, width)
    return torch.cat([F.conv2d(x[b : b + 1], weight[b], padding=k // 2) for b in range(batch)])


def conditioned_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    inverse: torch.Tensor | None = None,
    impl: ConvImpl | str = ConvImpl.grouped,
) -> torch.Tensor:
    """Convolve each sample with the kernel of its conditions (stride 1, "same", no bias).

    Args:
        x: ``(B, C_in, H, W)``.
        weight: ``(U, C_out, C_in, k, k)``, one kernel per group of samples.
        inverse: ``(B,)`` group of each sample (:func:`~mrsisr.nn.conditioning.group_conditions`);
            ``None``: one group per sample, in order (``U == B``).
        impl: how per-sample kernels run (see :func:`per_sample_conv2d`).

    Returns:
        ``(B, C_out, H, W)``. With one group this is one plain convolution; with ``1 < U < B``
        the kernels are gathered per sample.
    """
    if inverse is None:
        return per_sample_conv2d(x, weight, impl)
    if weight.shape[0] == 1:
        return F.conv2d(x, weight[0], padding=weight.shape[-1] // 2)
    return per_sample_conv2d(x, weight[inverse], impl)


_IN_EPS = 1e-5
"""The epsilon of ``F.instance_norm``."""


def _kaiming_conv_weight(c_out: int, c_in: int, k: int) -> torch.Tensor:
    """A kernel initialised like ``nn.Conv2d``'s weight."""
    weight = torch.empty(c_out, c_in, k, k)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    return weight


class PlainConv2d(nn.Module):
    """3 x 3 convolution without bias, the same for every sample (ignores the conditions)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(_kaiming_conv_weight(out_channels, in_channels, kernel_size))

    def forward(
        self,
        x: torch.Tensor,
        hidden: torch.Tensor | None = None,
        inverse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H, W)``."""
        return F.conv2d(x, self.weight, padding=self.weight.shape[-1] // 2)


class FilterScalingConv2d(nn.Module):
    """Convolution whose every ``k x k`` filter is scaled per sample: ``f' = c(.) * f``.

    Filter scaling (Alharbi et al. CVPR 2019; Dong et al. MICCAI 2022, Eq. 2-3): the head, a
    linear layer on the conditioning trunk's hidden vector, gives one scalar per (output,
    input) channel pair. With ``head_init="identity"`` the scales start at 1 for every
    condition (zero head weights, unit bias); ``"linear"`` keeps ``nn.Linear``'s random
    start, as the authors' code does, so the scales differ per condition from the start.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        hidden: width of the trunk's hidden vector.
        kernel_size: odd kernel size (3).
        impl: ``grouped`` or ``loop`` (see :func:`per_sample_conv2d`).
        head_init: ``identity`` or ``linear`` (:class:`~mrsisr.nn.config.HeadInit`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int,
        kernel_size: int = 3,
        impl: ConvImpl | str = ConvImpl.grouped,
        head_init: HeadInit | str = HeadInit.identity,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.impl = ConvImpl(impl)
        self.weight = nn.Parameter(_kaiming_conv_weight(out_channels, in_channels, kernel_size))
        self.head = nn.Linear(hidden, out_channels * in_channels)
        if HeadInit(head_init) == HeadInit.identity:
            nn.init.zeros_(self.head.weight)
            nn.init.ones_(self.head.bias)

    def forward(
        self, x: torch.Tensor, hidden: torch.Tensor, inverse: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Convolve.

        Args:
            x: ``(B, C_in, H, W)``.
            hidden: ``(B, hidden)``, this layer's trunk output, or ``(U, hidden)``, one row
                per group of samples with equal conditions.
            inverse: ``(B,)`` group of each sample with ``U`` rows; ``None`` with ``B``.

        Returns:
            ``(B, C_out, H, W)``.
        """
        scale = self.head(hidden).view(-1, self.out_channels, self.in_channels, 1, 1)
        return conditioned_conv2d(x, scale * self.weight, inverse, self.impl)


class HyperConv2d(nn.Module):
    """Convolution whose whole kernel is predicted per sample by a hypernetwork head.

    The Hypernetworks baseline of Dong et al. (Table 1): fully-connected layers map the
    condition to all ``C_out * C_in * k * k`` weights; there is no base kernel. The head's
    bias starts as a Kaiming-initialised kernel and its weight at zero.

    Args:
        in_channels: ``C_in``.
        out_channels: ``C_out``.
        hidden: width of the trunk's hidden vector.
        kernel_size: odd kernel size (3).
        impl: ``grouped`` or ``loop`` (see :func:`per_sample_conv2d`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int,
        kernel_size: int = 3,
        impl: ConvImpl | str = ConvImpl.grouped,
    ) -> None:
        super().__init__()
        self.shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.impl = ConvImpl(impl)
        self.head = nn.Linear(hidden, math.prod(self.shape))
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(_kaiming_conv_weight(*self.shape[:3]).flatten())

    def forward(
        self, x: torch.Tensor, hidden: torch.Tensor, inverse: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(B, C_in, H, W)``, ``(B | U, hidden)`` -> ``(B, C_out, H, W)``.

        ``inverse``: ``(B,)`` group of each sample when ``hidden`` has one row per group
        (see :meth:`FilterScalingConv2d.forward`).
        """
        weight = self.head(hidden).view(-1, *self.shape)
        return conditioned_conv2d(x, weight, inverse, self.impl)


class InstanceNorm2d(nn.Module):
    """Instance normalisation without affine parameters (ignores the conditions)."""

    def forward(self, x: torch.Tensor, hidden: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return F.instance_norm(x)


def _modulate(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``(1 + gamma) * IN(x) + beta`` with per-sample, per-channel ``gamma``, ``beta``.

    One normalisation kernel: instance norm is batch norm of the ``(1, B * C, H, W)`` view
    (what ``F.instance_norm`` runs), whose affine weight and bias may then differ per sample
    and channel. Forward and backward each make one pass over ``x`` instead of three.
    """
    batch, channels = x.shape[:2]
    out = F.batch_norm(
        x.reshape(1, batch * channels, *x.shape[2:]),
        None,
        None,
        weight=(1.0 + gamma).reshape(-1),
        bias=beta.reshape(-1),
        training=True,
        eps=_IN_EPS,
    )
    return out.view_as(x)


class ConditionalInstanceNorm2d(nn.Module):
    """Conditional instance normalisation: ``(1 + gamma) * IN(x) + beta`` (Dong et al. Eq. 5).

    ``gamma`` and ``beta`` (per sample and channel) come from a linear head on the hidden
    vector of the trunk on lambda; the head starts at zero, so the layer starts as plain
    instance normalisation.

    Args:
        channels: ``C``.
        hidden: width of the trunk's hidden vector.
    """

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.head = nn.Linear(hidden, 2 * channels)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, hidden)`` -> ``(B, C, H, W)``."""
        gamma, beta = self.head(hidden).chunk(2, dim=1)
        return _modulate(x, gamma, beta)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers with LeakyReLU(0.2) between them (none after the last, zero-initialised)."""
    linears = [nn.Linear(fan_in, fan_out) for fan_in, fan_out in pairwise(sizes)]
    nn.init.zeros_(linears[-1].weight)
    nn.init.zeros_(linears[-1].bias)
    layers: list[nn.Module] = []
    for linear in linears:
        layers += [linear, nn.LeakyReLU(LEAKY_SLOPE)]
    return nn.Sequential(*layers[:-1])


class AMLayerNorm2d(nn.Module):
    """The adaptive modulation layer of Hui et al. (CVPR 2021), driven by n.

    A linear ``style`` head maps the trunk's hidden vector to ``C`` values; two 5-layer MLPs
    map ``[style, channel mean]`` to ``beta`` and ``[style, channel std]`` to ``gamma``; the
    output is ``(1 + gamma) * IN(x) + beta``. The MLPs' last layers start at zero.

    Args:
        channels: ``C``.
        hidden: width of the trunk's hidden vector and of the two MLPs.
        depth: hidden layers of each MLP (4, so 5 linear layers).
    """

    def __init__(self, channels: int, hidden: int, depth: int = 4) -> None:
        super().__init__()
        self.style = nn.Linear(hidden, channels)
        sizes = [2 * channels, *([hidden] * depth), channels]
        self.beta_mlp = _mlp(sizes)
        self.gamma_mlp = _mlp(sizes)

    def forward(self, x: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)``, ``(B, hidden)`` -> ``(B, C, H, W)``."""
        style = self.style(hidden)
        std, mean = torch.std_mean(x, dim=(2, 3), correction=0)
        beta = self.beta_mlp(torch.cat([style, mean], dim=1))
        gamma = self.gamma_mlp(torch.cat([style, std], dim=1))
        return _modulate(x, gamma, beta)


class MCMLayer(nn.Module):
    """Convolution, normalisation, PReLU: one layer of a Multi-Conditional Module.

    Args:
        conv: a convolution module ``conv(x, hidden)`` (plain, filter scaling, hypernetwork).
        norm: a normalisation module ``norm(x, hidden)`` (plain IN, CIN, AMLayer).
        channels: output channels (for PReLU).
        index: this layer's row in the stacked trunk outputs ``(L, B, H)``.
    """

    def __init__(self, conv: nn.Module, norm: nn.Module, channels: int, index: int) -> None:
        super().__init__()
        self.conv = conv
        self.norm = norm
        self.act = nn.PReLU(channels)
        self.index = index

    def forward(
        self,
        x: torch.Tensor,
        conv_hidden: torch.Tensor | None,
        norm_hidden: torch.Tensor | None,
        inverse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Apply the layer.

        Args:
            x: ``(B, C_in, H, W)``.
            conv_hidden: ``(L, B, H_c)`` trunk outputs of every layer, ``(L, U, H_c)`` for
                ``U`` groups of samples with equal conditions, or ``None``.
            norm_hidden: ``(L, B, H_n)`` trunk outputs of every layer, or ``None``.
            inverse: ``(B,)`` group of each sample when ``conv_hidden`` has ``U`` rows.

        Returns:
            ``(B, C_out, H, W)``.
        """
        ch = None if conv_hidden is None else conv_hidden[self.index]
        nh = None if norm_hidden is None else norm_hidden[self.index]
        return self.act(self.norm(self.conv(x, ch, inverse), nh))


class MCMBlock(nn.Module):
    """Two :class:`MCMLayer` in a row: one level of an encoder or of the decoder."""

    def __init__(self, first: MCMLayer, second: MCMLayer) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(
        self,
        x: torch.Tensor,
        conv_hidden: torch.Tensor | None,
        norm_hidden: torch.Tensor | None,
        inverse: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H, W)`` (see :meth:`MCMLayer.forward`)."""
        x = self.first(x, conv_hidden, norm_hidden, inverse)
        return self.second(x, conv_hidden, norm_hidden, inverse)
