"""Patients of several native grids in one dataset (a merged cohort): ``n`` scaled to each
grid, and every batch of one grid, drawn per batch, under every sampler."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from test_dataset import make_patient
from torch.utils.data import BatchSampler, DistributedSampler

from mrsisr.data.dataset import MRSIDataset, SampleKey, SliceRule, scale_n
from mrsisr.data.sampler import (
    GridBatchSampler,
    GroupedBatchSampler,
    batch_grid,
    batch_native_grid,
    make_loader,
    one_grid_batches,
    set_loader_epoch,
)
from mrsisr.kspace import degrade, zero_fill
from mrsisr.metabolites import METABOLITES

COARSE, FINE = (32, 32), (64, 64)
METS = METABOLITES[:2]


RULE = SliceRule(min_fraction=0.3)  # 5 slices of each patient


def patients_of_two_grids() -> list:
    """Two patients on a 32 x 32 grid and one on a 64 x 64 grid (one field of view)."""
    coarse = [make_patient(f"c{i}", (32, 32, 7), seed=i, metabolites=METS) for i in range(2)]
    return [*coarse, make_patient("f0", (64, 64, 7), seed=7, metabolites=METS)]


def two_grids(**options) -> MRSIDataset:
    """A dataset of :func:`patients_of_two_grids` (2/3 of its samples on 32 x 32)."""
    return MRSIDataset(patients_of_two_grids(), slice_rule=RULE, **options)


@pytest.fixture(scope="module")
def mixed() -> MRSIDataset:
    return two_grids(n_choices=[8, 12, 16], augment=True, seed=2)


def test_scale_n_keeps_the_resolution_factor_rounding_half_up() -> None:
    assert scale_n((16, 16), (128, 128), (64, 64)) == (32, 32)
    assert scale_n((8, 32), (128, 128), (64, 64)) == (16, 64)
    assert scale_n((9, 15), (96, 96), (64, 64)) == (14, 23)  # 13.5 and 22.5, half up
    assert scale_n((16, 10), (64, 64), (64, 64)) == (16, 10)
    assert scale_n((1, 3), (32, 32), (64, 64)) == (1, 2)  # at least 1


def test_the_dataset_knows_its_native_grids_and_their_samples(mixed) -> None:
    assert mixed.native_grids == (COARSE, FINE) and mixed.mixed_grids
    assert mixed.grid == COARSE  # n_choices are given for the smallest grid by default
    assert sum(mixed.native_samples) == len(mixed)
    counted = Counter(mixed.native_grid_of(i) for i in range(len(mixed)))
    assert (counted[COARSE], counted[FINE]) == mixed.native_samples
    assert mixed.native_samples == (20, 10)
    single = MRSIDataset(patients_of_two_grids()[:2])
    assert single.native_grids == (COARSE,) and not single.mixed_grids
    assert two_grids(model_grid=FINE).grid == FINE


def test_a_patient_of_a_finer_grid_is_acquired_at_n_scaled_to_its_grid(mixed) -> None:
    fine = [i for i in range(len(mixed)) if mixed.native_grid_of(i) == FINE]
    for index in fine[:: max(1, len(fine) // 5)]:
        case = mixed.case(SampleKey(index, n=16))
        assert case.n == (32, 32)  # n 16 for the 32 grid is n 32 on the 64 grid
        assert case.zero_filled.shape == case.target.shape == case.mask.shape == FINE
        expected = zero_fill(degrade(case.target, (32, 32)), FINE)
        np.testing.assert_allclose(case.zero_filled, expected, atol=1e-9)
        drawn = mixed.case(index)
        assert drawn.n[0] in (16, 24, 32) and drawn.n[0] == drawn.n[1]
        assert tuple(mixed[index].lr.shape[-2:]) == FINE
    coarse = next(i for i in range(len(mixed)) if mixed.native_grid_of(i) == COARSE)
    assert mixed.case(SampleKey(coarse, n=16)).n == (16, 16)


def test_validation_at_every_n_scales_n_per_grid() -> None:
    val = two_grids(n_choices=[8, 16], expand_n=True, deterministic=True)
    for index in range(len(val)):
        _, n = val.group_of(index)
        factor = 2 if val.native_grid_of(index) == FINE else 1
        assert val.case(index).n == (n[0] * factor, n[1] * factor)


def test_every_mixed_batch_holds_one_native_grid_drawn_per_batch(mixed) -> None:
    loader = make_loader(mixed, 4, seed=3)
    assert isinstance(loader.batch_sampler, GridBatchSampler)
    for epoch in (0, 1):
        set_loader_epoch(loader, epoch)
        batches = list(loader)
        assert len(batches) == len(loader) == -(-len(mixed) // 4)
        shapes = [tuple(b.lr.shape[-2:]) for b in batches]
        assert shapes == [batch_native_grid(mixed, 3, epoch, b) for b in range(len(batches))]
        assert set(shapes) == {COARSE, FINE}
        for batch, shape in zip(batches, shapes):
            assert batch.lr.shape[0] == 4  # full batches: a grid drawn often starts again
            factor = 2 if shape == FINE else 1
            assert set(batch.n[:, 0].tolist()) <= {8 * factor, 12 * factor, 16 * factor}


def test_the_native_grid_draw_is_reproducible_independent_and_proportional(mixed) -> None:
    draws = [batch_native_grid(mixed, 5, 1, b) for b in range(3000)]
    assert draws == [batch_native_grid(mixed, 5, 1, b) for b in range(3000)]
    assert draws != [batch_native_grid(mixed, 5, 2, b) for b in range(3000)]
    assert draws != [batch_native_grid(mixed, 6, 1, b) for b in range(3000)]
    share = mixed.native_samples[1] / len(mixed)
    assert abs(draws.count(FINE) / len(draws) - share) < 0.03
    # Only the grids a rank holds may be drawn; one grid: nothing to draw.
    assert {batch_native_grid(mixed, 5, 1, b, {FINE}) for b in range(50)} == {FINE}
    assert batch_native_grid(MRSIDataset(patients_of_two_grids()[:2]), 5, 1, 0) is None


def test_the_draw_leaves_the_sample_order_and_the_other_draws_alone(mixed) -> None:
    """A batch takes the next samples of its grid in the sample sampler's order, and a
    sample's draws (n, lambda, augmentation) depend on its index only."""
    loader = make_loader(mixed, 4, seed=3)
    set_loader_epoch(loader, 1)
    keys = list(loader.batch_sampler)
    order = [int(i) for i in loader.batch_sampler.batches.sampler]
    for grid in (COARSE, FINE):
        mine = [i for i in order if mixed.native_grid_of(i) == grid]
        taken = [k.item for batch in keys for k in batch if mixed.native_grid_of(k.item) == grid]
        assert taken == [mine[j % len(mine)] for j in range(len(taken))]


@pytest.mark.parametrize("rank", [0, 1])
def test_sharded_mixed_batches_hold_one_grid_and_match_across_ranks(mixed, rank) -> None:
    """Under torchrun each rank's batch ``b`` is of the grid drawn for ``b`` on every rank."""
    shard = DistributedSampler(mixed, num_replicas=2, rank=rank, seed=4)
    sampler = GridBatchSampler(mixed, BatchSampler(shard, 3, False), seed=4)
    sampler.set_epoch(2)
    batches = list(sampler)
    assert len(batches) == len(BatchSampler(shard, 3, False))
    for b, batch in enumerate(batches):
        grids = {mixed.native_grid_of(k.item) for k in batch}
        assert grids == {batch_native_grid(mixed, 4, 2, b)}
    mine = set(shard)
    assert all(k.item in mine for batch in batches for k in batch)  # the rank's share


@pytest.mark.parametrize("num_replicas", [1, 2])
def test_grouped_batches_hold_one_native_grid(mixed, num_replicas) -> None:
    for rank in range(num_replicas):
        sampler = GroupedBatchSampler(mixed, 3, seed=1, num_replicas=num_replicas, rank=rank)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        for batch in batches:
            assert len({mixed.native_grid_of(k.item) for k in batch}) == 1
            assert len({k.n for k in batch}) == 1 and all(k.grid is None for k in batch)
    every = [k.item for batch in GroupedBatchSampler(mixed, 3, seed=1) for k in batch]
    assert sorted(every) == list(range(len(mixed)))  # every sample once


def test_data_grids_apply_to_the_patients_of_the_model_grid_only() -> None:
    dataset = two_grids(grids=[COARSE, (24, 40)], seed=1)
    loader = make_loader(dataset, 4, seed=8)
    shapes = Counter()
    for b, batch in enumerate(loader):
        native = batch_native_grid(dataset, 8, 0, b)
        expected = batch_grid(dataset, 8, 0, b) if native == COARSE else FINE
        assert tuple(batch.lr.shape[-2:]) == expected
        shapes[expected] += 1
    assert set(shapes) == {COARSE, (24, 40), FINE}
    for batch in GroupedBatchSampler(dataset, 4, seed=2):
        native = dataset.native_grid_of(batch[0].item)
        assert (native == FINE) == (batch[0].grid is None)


def test_validation_batches_hold_one_native_grid() -> None:
    val = two_grids(expand_n=True, deterministic=True)
    share = range(1, len(val), 2)
    batches = one_grid_batches(val, share, 5)
    assert sorted(i for batch in batches for i in batch) == list(share)
    assert all(len({val.native_grid_of(i) for i in batch}) == 1 for batch in batches)
    assert all(1 <= len(batch) <= 5 for batch in batches)
    single = MRSIDataset(patients_of_two_grids()[:2], expand_n=True, deterministic=True)
    indices = list(range(0, len(single), 3))
    assert one_grid_batches(single, indices, 4) == [
        indices[i : i + 4] for i in range(0, len(indices), 4)
    ]


def test_the_native_grid_draw_is_independent_of_the_output_grid_draw() -> None:
    """Two streams: which native grid a batch holds says nothing of the ``data.grids`` draw
    that its samples of the model's grid would get."""
    dataset = two_grids(grids=[COARSE, (24, 40)], seed=1)
    batches = range(4000)
    fine = np.array([batch_native_grid(dataset, 9, 0, b) == FINE for b in batches])
    wide = np.array([batch_grid(dataset, 9, 0, b) == (24, 40) for b in batches])
    assert abs(fine.mean() - 1 / 3) < 0.03 and abs(wide.mean() - 1 / 2) < 0.03
    assert abs((fine & wide).mean() - fine.mean() * wide.mean()) < 0.02
