"""Blocks: per-sample convolutions (grouped == loop), stacked MLPs, identity initialisation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mrsisr.nn.blocks import (
    AMLayerNorm2d,
    ConditionalInstanceNorm2d,
    FilterScalingConv2d,
    HyperConv2d,
    per_sample_conv2d,
)
from mrsisr.nn.conditioning import StackedMLP


@pytest.mark.parametrize(
    ("batch", "c_in", "c_out", "size"), [(1, 2, 8, (8, 8)), (5, 7, 3, (9, 12))]
)
def test_grouped_convolution_equals_the_per_sample_loop(batch, c_in, c_out, size) -> None:
    gen = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, c_in, *size, generator=gen)
    w = torch.randn(batch, c_out, c_in, 3, 3, generator=gen)
    grouped = per_sample_conv2d(x, w, "grouped")
    loop = per_sample_conv2d(x, w, "loop")
    torch.testing.assert_close(grouped, loop, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loop[-1:], F.conv2d(x[-1:], w[-1], padding=1))


@pytest.mark.parametrize("cls", [FilterScalingConv2d, HyperConv2d])
def test_conditioned_convs_same_numbers_and_gradients_for_both_impls(cls) -> None:
    torch.manual_seed(0)
    grouped = cls(3, 4, hidden=5, impl="grouped")
    loop = cls(3, 4, hidden=5, impl="loop")
    loop.load_state_dict(grouped.state_dict())
    with torch.no_grad():
        for conv in (grouped, loop):  # leave the identity initialisation
            conv.head.weight.copy_(
                torch.linspace(-1, 1, conv.head.weight.numel()).view_as(conv.head.weight)
            )
    x = torch.randn(3, 3, 10, 6)
    hidden = torch.randn(3, 5)
    outs = []
    for conv in (grouped, loop):
        out = conv(x, hidden)
        out.square().sum().backward()
        outs.append((out, [p.grad.clone() for p in conv.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-5, rtol=1e-5)
    for g, lo in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(g, lo, atol=1e-4, rtol=1e-4)


def test_filter_scaling_scales_each_filter_per_sample() -> None:
    torch.manual_seed(1)
    conv = FilterScalingConv2d(2, 3, hidden=4)
    x = torch.randn(2, 2, 7, 7)
    hidden = torch.randn(2, 4)
    torch.testing.assert_close(conv(x, hidden), F.conv2d(x, conv.weight, padding=1))  # scales 1
    with torch.no_grad():
        conv.head.weight.normal_()
    scale = conv.head(hidden).view(2, 3, 2, 1, 1)
    for b in range(2):
        expected = F.conv2d(x[b : b + 1], scale[b] * conv.weight, padding=1)
        torch.testing.assert_close(conv(x, hidden)[b : b + 1], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", [ConditionalInstanceNorm2d(6, 8), AMLayerNorm2d(6, 8)])
def test_conditional_norms_start_as_instance_norm(norm: nn.Module) -> None:
    x = torch.randn(3, 6, 5, 4) * 3 + 1
    torch.testing.assert_close(norm(x, torch.randn(3, 8)), F.instance_norm(x))


def test_stacked_mlp_equals_independent_linear_stacks() -> None:
    torch.manual_seed(2)
    mlp = StackedMLP(4, [3, 6, 5])
    x = torch.randn(2, 3)
    out = mlp(x)
    assert out.shape == (4, 2, 5)
    for copy in range(4):
        h = x
        for w, b in zip(mlp.weights, mlp.biases):
            h = F.leaky_relu(h @ w[copy] + b[copy], 0.2)
        torch.testing.assert_close(out[copy], h)
    # Per-copy inputs (L, B, in) give the same as the shared input repeated.
    torch.testing.assert_close(mlp(x.expand(4, 2, 3)), out)
