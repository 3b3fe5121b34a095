"""Batched data consistency against the k-space reference, in float32."""

from __future__ import annotations

import pytest
import torch

from mrsisr.kspace import data_consistency, degrade, zero_fill
from mrsisr.nn.dc import DataConsistency

# (grid, per-sample n): odd, even, rectangular n; square, rectangular and odd grids.
CASES = [
    ((64, 64), [(16, 16), (17, 17), (2, 64), (33, 20)]),
    ((48, 80), [(48, 80), (7, 31), (24, 2), (13, 50)]),
    ((37, 20), [(1, 1), (36, 19), (5, 8)]),
]


@pytest.mark.parametrize(("grid", "ns"), CASES)
def test_matches_kspace_reference_and_keeps_the_measurement(grid, ns) -> None:
    gen = torch.Generator().manual_seed(len(ns))
    batch = len(ns)
    hr = torch.rand(batch, 1, *grid, generator=gen, dtype=torch.float64)
    x = torch.randn(batch, 1, *grid, generator=gen, dtype=torch.float64)
    measured = [degrade(hr[b], n) for b, n in enumerate(ns)]
    lr = torch.stack([zero_fill(m, grid) for m in measured])
    dc = DataConsistency(grid)
    out = dc(x.float(), lr.float(), torch.tensor(ns))
    assert out.dtype == torch.float32 and out.shape == x.shape
    for b, n in enumerate(ns):
        reference = data_consistency(x[b], measured[b])
        torch.testing.assert_close(out[b].double(), reference, atol=2e-5, rtol=0)
        # Degrading the output gives back the measurement, to float32 precision.
        torch.testing.assert_close(degrade(out[b].double(), n), measured[b], atol=2e-5, rtol=0)


def test_is_idempotent_and_leaves_consistent_maps_alone() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 1, 32, 32, generator=gen)
    lr = torch.randn(2, 1, 32, 32, generator=gen)
    n = torch.tensor([[9, 12], [32, 32]])
    dc = DataConsistency(32)
    once = dc(x, lr, n)
    torch.testing.assert_close(dc(once, lr, n), once, atol=1e-5, rtol=0)
    torch.testing.assert_close(once[1], lr[1], atol=1e-5, rtol=0)  # n = N: all of k-space


def test_matrices_are_buffers_not_parameters_nor_state() -> None:
    dc = DataConsistency((16, 24))
    assert list(dc.parameters()) == []
    assert dc.state_dict() == {}
    assert dc.proj_y.shape == (16, 16, 16) and dc.proj_x.shape == (24, 24, 24)
    assert dc.proj_y.dtype == torch.float32
