"""The generator on grids other than its own (issue 25): n encoded relative to the grid,
sides that are not multiples of the pooling factor, exact data consistency on every grid."""

from __future__ import annotations

import pytest
import torch
from nn_inputs import make_inputs, perturb_

from mrsisr.kspace import degrade
from mrsisr.nn.conditioning import encode_n
from mrsisr.nn.config import GeneratorConfig
from mrsisr.nn.dc import DataConsistency
from mrsisr.nn.variants import build_generator

OWN = (32, 32)
SMALL = {"grid": OWN, "channels": (4, 8, 16), "mlp_depth": 2, "filter_latent": 8}
N = torch.tensor([[16, 16], [24, 21], [32, 42]])


@pytest.mark.parametrize("encoding", ["grid", "range", "fourier"])
def test_n_is_encoded_relative_to_the_grid(encoding: str) -> None:
    """n on a grid twice the trained one is seen as n / 2 on the trained grid (the same
    factor n / N); on the model's own grid nothing changes."""
    cfg = GeneratorConfig(grid=(64, 64), n_encoding=encoding, n_range=(16, 32))
    twice = encode_n(N, cfg, torch.float64, grid=(128, 128))
    torch.testing.assert_close(twice, encode_n(N.double() / 2, cfg, torch.float64))
    own = encode_n(N, cfg, torch.float64, grid=(64, 64))
    torch.testing.assert_close(own, encode_n(N, cfg, torch.float64), rtol=0, atol=0)
    if encoding == "grid":  # n / N per axis of a rectangular grid
        torch.testing.assert_close(
            encode_n(N, cfg, torch.float64, grid=(64, 84)), N.double() / torch.tensor([64, 84])
        )


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return perturb_(build_generator("full", **SMALL).eval(), scale=0.1)


def assert_consistent(out: torch.Tensor, lr: torch.Tensor, sizes: torch.Tensor) -> None:
    """``degrade(out, n) == degrade(lr, n)`` for every sample (float32 precision)."""
    for b, size in enumerate(sizes.tolist()):
        torch.testing.assert_close(
            degrade(out[b, 0].double(), size),
            degrade(lr[b, 0].double(), size),
            atol=1e-5,
            rtol=1e-5,
        )


@pytest.mark.parametrize(
    ("grid", "n"),
    [
        ((33, 45), [(16, 21), (33, 9)]),  # odd: padded to 36 x 48 inside
        ((64, 84), [(32, 42), (16, 16)]),  # 84 is a multiple of 4 (3 levels)
        ((20, 30), [(10, 15), (7, 29)]),  # smaller than the model's grid
        ((6, 10), [(2, 5), (6, 3)]),  # a bottleneck of 2 x 3
    ],
)
def test_forward_on_another_grid_is_data_consistent_and_masked(model, grid, n) -> None:
    lr, t1, flair, mask, sizes, met, lam = make_inputs(2, grid, seed=1, n=n)
    with torch.no_grad():
        out = model(lr, t1, flair, mask, sizes, met, lam)
        everywhere = model(lr, t1, flair, torch.ones_like(mask), sizes, met, lam)
    assert out.shape == (2, 1, *grid) and torch.isfinite(out).all()
    assert (out[mask == 0] == 0).all()
    torch.testing.assert_close(out, everywhere * mask)
    assert_consistent(everywhere, lr, sizes)  # without a mask, the output is consistent


def test_the_network_acts_on_other_grids_per_sample(model) -> None:
    """A batch on another grid gives each sample what it gives alone (no cross-talk from the
    padding), and the conditions still act."""
    inputs = make_inputs(3, (33, 45), seed=2, n=[(16, 21), (16, 21), (12, 30)])
    with torch.no_grad():
        batch = model(*inputs)
        alone = torch.cat([model(*(x[b : b + 1] for x in inputs)) for b in range(3)])
        other_lam = model(*inputs[:-1], inputs[-1] + 0.05)
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=1e-5)
    assert (batch - other_lam).abs().max() > 1e-4


def test_data_consistency_module_on_another_grid() -> None:
    dc = DataConsistency(OWN)
    lr, *_, sizes, _, _ = make_inputs(2, (25, 38), seed=3, n=[(12, 19), (25, 7)])
    x = torch.rand(2, 1, 25, 38)
    assert_consistent(dc(x, lr, sizes), lr, sizes)


def test_a_grid_beyond_the_limit_is_refused(model) -> None:
    inputs = make_inputs(1, (8, 8), seed=4, n=[(4, 4)])
    big = [torch.zeros(1, 1, 300, 8) for _ in range(4)]
    with pytest.raises(ValueError, match="lr must be on a grid of 2 to 256 voxels per axis"):
        model(*big, *inputs[4:])
