"""Regression guard: the batches of the default loaders are those of main before mixed
native grids existed (digests first computed with the code of main at commit aa31ffd)."""

from __future__ import annotations

import hashlib

from test_dataset import make_patient
from test_sampler import small_patients

from mrsisr.data.dataset import MRSIDataset
from mrsisr.data.sampler import GroupedBatchSampler, make_loader, set_loader_epoch

MIXED_SHA256 = "3316821c850acc28a02803a2f7bd6f038638968f95c2d8cec21dbd805cd22a16"
GROUPED_SHA256 = "54d92c90f17358baaaedca6a68003911698bca8ed60c61bd9a81a55ccebb617f"
GRIDS_SHA256 = "14ef93bfbd2f5206426f272b52f76ccfd9706cbf8f6e6600b945a4d30ceee316"
GRIDS_GROUPED_SHA256 = "d63ce9d4db10bd4d8f26bcdbd8f5fe08561e31ef12501696b4b5a1325e5065a7"
FIELDS = ("lr", "t1", "flair", "mask", "hr", "n", "met", "lam", "scale", "patient", "slice")


def digest_of(loader, epoch: int) -> str:
    """SHA-256 of every field of every batch of one epoch of a loader."""
    digest = hashlib.sha256()
    set_loader_epoch(loader, epoch)
    for batch in loader:
        for name in (*FIELDS, "present", "window"):
            digest.update(getattr(batch, name).numpy().tobytes())
    return digest.hexdigest()


def test_default_mixed_batches_are_those_before_native_grids() -> None:
    dataset = MRSIDataset([make_patient("A01", seed=4)], augment=True, seed=3)
    assert digest_of(make_loader(dataset, 8, seed=2), 1) == MIXED_SHA256


def test_grouped_batches_are_those_before_native_grids() -> None:
    dataset = MRSIDataset(small_patients(), augment=True, seed=1)
    loader = make_loader(dataset, 4, sampler=GroupedBatchSampler(dataset, 4, seed=5))
    assert digest_of(loader, 2) == GROUPED_SHA256


def test_batches_on_other_grids_are_those_before_native_grids() -> None:
    dataset = MRSIDataset(small_patients(), augment=True, grids=[(33, 33), (24, 40)], seed=1)
    assert digest_of(make_loader(dataset, 4, seed=5), 1) == GRIDS_SHA256
    grouped = make_loader(dataset, 4, sampler=GroupedBatchSampler(dataset, 4, seed=6))
    assert digest_of(grouped, 1) == GRIDS_GROUPED_SHA256
