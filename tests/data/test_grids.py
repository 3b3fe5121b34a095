"""Training on other output grids: samples cropped or padded to a batch's grid, one per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_augment import window_of
from test_dataset import make_patient
from test_noiseless_target import with_noiseless
from test_sampler import small_patients
from torch.utils.data import default_collate

from mrsisr.data.dataset import MRSIDataset, SampleKey, clip_n, noiseless_target
from mrsisr.data.sampler import (
    GridBatchSampler,
    GroupedBatchSampler,
    batch_grid,
    make_loader,
    set_loader_epoch,
)
from mrsisr.kspace import degrade, zero_fill
from mrsisr.metabolites import METABOLITES

GRIDS = [(32, 32), (24, 40)]


def cohort_slice(patient, met: int, z: int, noiseless: bool = False) -> np.ndarray:
    """The unaugmented float64 slice of one map, read from the patient itself."""
    maps = patient.noiseless if noiseless else patient.maps
    return np.asarray(maps[METABOLITES[met]][:, :, z], dtype=np.float64)


@pytest.fixture(scope="module")
def patients():
    return [make_patient(f"p{i}", seed=i) for i in range(2)]


@pytest.mark.parametrize("grid", [(24, 40), (40, 24), (17, 33), (48, 48)])
def test_a_sample_on_another_grid_is_a_true_acquisition_of_the_cropped_or_padded_slice(
    patients, grid
):
    dataset = MRSIDataset(patients, n_choices=[8, (10, 14), 16], grids=[grid], seed=1)
    for index in range(0, len(dataset), 11):
        case = dataset.case(SampleKey(index, grid=grid))
        sample = dataset[SampleKey(index, grid=grid)]
        assert all(t.shape == (1, *grid) for t in (sample.lr, sample.hr, sample.t1, sample.mask))
        assert sample.flair.shape == (1, *grid)
        measured = window_of(cohort_slice(patients[case.patient], case.met, case.slice), grid)
        assert case.n == clip_n(case.n, grid)
        expected = zero_fill(degrade(measured, case.n), grid)
        np.testing.assert_allclose(case.zero_filled, expected, atol=1e-9)
        np.testing.assert_array_equal(case.target, measured)
        mask = window_of(patients[case.patient].mask[:, :, case.slice].astype(float), grid)
        np.testing.assert_array_equal(case.mask, mask > 0.5)


def test_the_noiseless_target_is_made_from_the_slices_on_the_sample_grid():
    patients = [with_noiseless(f"p{i}", i) for i in range(2)]
    dataset = MRSIDataset(patients, n_choices=[12], grids=[(24, 40)], target="noiseless", seed=2)
    for index in (0, 5, 17):
        case = dataset.case(SampleKey(index, grid=(24, 40)))
        patient = patients[case.patient]
        measured = window_of(cohort_slice(patient, case.met, case.slice), (24, 40))
        clean = window_of(cohort_slice(patient, case.met, case.slice, noiseless=True), (24, 40))
        np.testing.assert_allclose(
            case.target, noiseless_target(measured, clean, case.n), atol=1e-9
        )


def test_n_is_clipped_to_the_grid_per_axis(patients):
    dataset = MRSIDataset(patients, n_choices=[32], grids=[(24, 40)], seed=0)
    assert dataset.case(SampleKey(3, grid=(24, 40))).n == (24, 32)
    assert dataset.case(SampleKey(3, n=(30, 34), grid=(24, 40))).n == (24, 34)
    assert dataset.case(SampleKey(3)).n == (32, 32)
    assert clip_n((16, 42), (64, 32)) == (16, 32)


def test_augmented_samples_of_a_square_cohort_have_the_shape_of_a_rectangular_grid():
    """Quarter turns act on the square cohort grid, before the crop or pad."""
    dataset = MRSIDataset(small_patients(), grids=[(24, 40)], augment=True, seed=3)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            sample = dataset[SampleKey(index, grid=(24, 40))]
            assert sample.lr.shape == sample.hr.shape == sample.mask.shape == (1, 24, 40)
            assert sample.t1.shape == sample.flair.shape == (1, 24, 40)


def test_without_other_grids_a_sample_is_the_sample_of_the_cohort_grid(patients):
    """Pinned against the code before ``grids`` by the existing dataset tests; here the
    default, the cohort grid named and the cohort grid imposed give the same bytes."""
    plain = MRSIDataset(patients, augment=True, seed=5)
    named = MRSIDataset(patients, augment=True, grids=[plain.grid], seed=5)
    assert not plain.other_grids and not named.other_grids
    for index in (0, 9, 30):
        a, b, c = plain[index], named[index], plain[SampleKey(index, grid=plain.grid)]
        for x, y, z in zip(a, b, c):
            assert torch.equal(x, y) and torch.equal(x, z)
    assert type(make_loader(plain, 4).batch_sampler) is not GridBatchSampler


@pytest.mark.parametrize("grids", [[], [(0, 32)], [(32,)]])
def test_grids_must_be_pairs_of_positive_sizes(patients, grids):
    with pytest.raises(ValueError, match="grid"):
        MRSIDataset(patients, grids=grids)


@pytest.fixture(scope="module")
def square():
    return MRSIDataset(small_patients(), grids=GRIDS, augment=True, seed=0)


def test_grouped_batches_share_one_grid_drawn_per_batch_reproducibly(square):
    sampler = GroupedBatchSampler(square, batch_size=3, seed=1)
    sampler.set_epoch(2)
    batches = list(sampler)
    grids = [batch[0].grid for batch in batches]
    assert all({key.grid for key in batch} == {grid} for batch, grid in zip(batches, grids))
    assert grids == [batch_grid(square, 1, 2, b) for b in range(len(batches))]
    assert set(grids) == set(GRIDS)
    again = GroupedBatchSampler(square, batch_size=3, seed=1)
    again.set_epoch(2)
    assert list(again) == batches
    other_epochs = [[batch_grid(square, 1, e, b) for b in range(len(batches))] for e in (0, 1)]
    assert grids not in other_epochs
    stacked = default_collate([square[key] for key in batches[0]])
    assert stacked.lr.shape[-2:] == grids[0]


def test_grid_draws_leave_the_grouping_and_n_draws_unchanged(square):
    plain = MRSIDataset(small_patients(), augment=True, seed=0)
    with_grids = list(GroupedBatchSampler(square, batch_size=3, seed=4))
    without = list(GroupedBatchSampler(plain, batch_size=3, seed=4))
    assert [[k._replace(grid=None) for k in b] for b in with_grids] == without


def test_mixed_batches_share_one_grid_and_do_not_depend_on_workers(square):
    def batches(workers: int):
        loader = make_loader(square, 4, num_workers=workers, seed=6)
        set_loader_epoch(loader, 1)
        return list(loader)

    loader = make_loader(square, 4, seed=6)
    assert isinstance(loader.batch_sampler, GridBatchSampler)
    main, worker = batches(0), batches(1)
    assert len(main) == len(loader)
    shapes = {tuple(b.lr.shape[-2:]) for b in main}
    assert shapes == set(GRIDS)
    assert [tuple(b.hr.shape[-2:]) for b in main] == [
        batch_grid(square, 6, 1, i) for i in range(len(main))
    ]
    for a, b in zip(main, worker):
        assert all(torch.equal(x, y) for x, y in zip(a, b) if x is not None)
    keys = [key.item for batch in loader.batch_sampler for key in batch]
    assert sorted(keys) == list(range(len(square)))
