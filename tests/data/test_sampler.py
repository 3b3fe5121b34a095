"""Batching: grouped (n, metabolite) batches, epoch shuffles and the loader factory."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from mrsisr.data.cohort import Patient
from mrsisr.data.dataset import MRSIDataset
from mrsisr.data.sampler import (
    EpochShuffleSampler,
    GroupedBatchSampler,
    make_loader,
    set_loader_epoch,
)
from mrsisr.metabolites import METABOLITES


def small_patients(count: int = 2, shape=(33, 33, 4)) -> list[Patient]:
    rng = np.random.default_rng(0)
    mask = np.zeros(shape, bool)
    mask[4:-4, 5:-5] = True
    return [
        Patient(
            id=f"p{i}",
            maps={m: rng.random(shape, dtype=np.float32) * mask for m in METABOLITES[:3]},
            t1=rng.random(shape, dtype=np.float32),
            flair=rng.random(shape, dtype=np.float32),
            mask=mask,
            affine=np.eye(4),
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def dataset() -> MRSIDataset:
    return MRSIDataset(small_patients(), seed=0)


def test_grouped_batches_share_n_and_metabolite_and_cover_every_sample(dataset):
    sampler = GroupedBatchSampler(dataset, batch_size=3, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert Counter(key.item for batch in batches for key in batch) == Counter(range(len(dataset)))
    for batch in batches:
        assert len({dataset.group_of(key.item) for key in batch}) == 1
        assert len({key.n for key in batch}) == 1
        assert batch[0].n in dataset.n_choices
    assert len({batch[0].n for batch in batches}) > 1  # n is drawn per batch


def test_loader_with_grouped_sampler_yields_uniform_batches(dataset):
    loader = make_loader(dataset, 4, sampler=GroupedBatchSampler(dataset, 4, seed=2))
    for batch in loader:
        assert (batch.n == batch.n[0]).all() and (batch.met == batch.met[0]).all()


def test_grouped_sampler_reshuffles_per_epoch_and_shards_ranks(dataset):
    sampler = GroupedBatchSampler(dataset, batch_size=4, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    sampler.set_epoch(0)
    assert list(sampler) == first
    ranks = [GroupedBatchSampler(dataset, 4, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    shards = [list(r) for r in ranks]
    assert len(shards[0]) == len(shards[1]) == len(first) // 2
    flat = [tuple(b) for shard in shards for b in shard]
    assert len(set(flat)) == len(flat) and set(flat) <= {tuple(b) for b in first}


def test_expand_n_groups_by_the_fixed_n(dataset):
    fixed = MRSIDataset(small_patients(1), n_choices=[8, 12], expand_n=True, deterministic=True)
    sampler = GroupedBatchSampler(fixed, batch_size=5, shuffle=False)
    assert len(sampler.groups) == 3 * 2
    for batch in sampler:
        assert len({fixed.group_of(k.item) for k in batch}) == 1
        assert all(fixed[k].n.tolist() == [k.n[0], k.n[1]] for k in batch)


def test_epoch_shuffle_is_a_reproducible_permutation_per_epoch():
    sampler = EpochShuffleSampler(range(50), seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(50)) and first != list(range(50))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_loader_epochs_are_reproducible_and_differ(dataset):
    loader = make_loader(dataset, batch_size=8, shuffle=True, seed=1)
    orders = []
    for epoch in (0, 1, 0):
        set_loader_epoch(loader, epoch)
        orders.append(torch.cat([b.hr for b in loader]))
    assert torch.equal(orders[0], orders[2]) and not torch.equal(orders[0], orders[1])
    plain = make_loader(dataset, batch_size=8, shuffle=False)
    assert torch.equal(next(iter(plain)).hr, torch.stack([dataset[i].hr for i in range(8)]))


def test_distributed_loader_uses_a_distributed_sampler(dataset, tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        loader = make_loader(dataset, batch_size=4, distributed=True, seed=2)
        assert isinstance(loader.sampler, DistributedSampler)
        set_loader_epoch(loader, 3)
        assert loader.sampler.epoch == 3 and dataset.epoch == 3
        assert sum(len(b.hr) for b in loader) == len(dataset)
    finally:
        dist.destroy_process_group()
        dataset.set_epoch(0)


def test_invalid_arguments_are_rejected(dataset):
    with pytest.raises(ValueError, match="batch_size"):
        GroupedBatchSampler(dataset, 0)
    with pytest.raises(ValueError, match="rank"):
        GroupedBatchSampler(dataset, 2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(dataset, 2, num_workers=-1)
