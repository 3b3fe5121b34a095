"""Modality dropout in MRSIDataset: which images a sample keeps, drawn on a stream of its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_dataset import make_patient
from torch.utils.data import DataLoader

from mrsisr.data.dataset import IMAGE_SETS, MRSIDataset

PROBS = (0.4, 0.3, 0.2, 0.1)


@pytest.fixture(scope="module")
def patients():
    return [make_patient(f"p{i}", seed=i) for i in range(3)]


def test_by_default_every_sample_has_both_images(patients):
    ds = MRSIDataset(patients, augment=True, seed=2)
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert batch.present.shape == (len(ds), 2) and batch.present.dtype == torch.bool
    assert batch.present.all()


def test_the_image_sets_follow_their_probabilities(patients):
    ds = MRSIDataset(patients, presence_probs=PROBS, seed=4)
    drawn = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        drawn += [tuple(ds[i].present.tolist()) for i in range(len(ds))]
    total = len(drawn)
    for image_set, p in zip(IMAGE_SETS, PROBS):
        share = drawn.count(image_set) / total
        assert abs(share - p) < 5 * np.sqrt(p * (1 - p) / total), image_set


def test_an_absent_image_is_zeros_and_a_present_one_is_untouched(patients):
    kept = MRSIDataset(patients, augment=True, seed=9)
    dropped = MRSIDataset(patients, augment=True, seed=9, presence_probs=PROBS)
    seen = set()
    for index in range(len(kept)):
        a, b = kept[index], dropped[index]
        for name, present in zip(("t1", "flair"), b.present.tolist()):
            expected = getattr(a, name) if present else torch.zeros_like(getattr(a, name))
            assert torch.equal(getattr(b, name), expected), (index, name)
        seen.add(tuple(b.present.tolist()))
        # Dropout draws on its own stream: everything else is the sample without dropout.
        for name in ("lr", "hr", "mask", "n", "lam", "scale", "met", "slice", "patient"):
            assert torch.equal(getattr(a, name), getattr(b, name)), (index, name)
    assert seen == set(IMAGE_SETS)


def test_the_draws_are_reproducible_and_reseeded_per_epoch(patients):
    a = MRSIDataset(patients, presence_probs=PROBS, seed=1)
    b = MRSIDataset(patients, presence_probs=PROBS, seed=1)

    def flags(ds):
        return [tuple(ds[i].present.tolist()) for i in range(len(ds))]

    first = flags(a)
    assert first == flags(b)
    a.set_epoch(1)
    assert flags(a) != first


@pytest.mark.parametrize(
    "probs", [(0.5, 0.5, 0.5, 0.0), (1.0, 0.0, 0.0), (1.2, -0.2, 0.0, 0.0), (0.25,) * 3]
)
def test_bad_probabilities_are_refused(patients, probs):
    with pytest.raises(ValueError, match="presence_probs must be 4 probabilities"):
        MRSIDataset(patients, presence_probs=probs)
