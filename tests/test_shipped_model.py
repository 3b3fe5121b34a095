"""The shipped weights: they load, say what they are, and beat k-space zero-filling.

Regression guard for the model file that `mrsisr predict` and `mrsisr demo` use by default:
on an unseen patient of the paper's phantom and of the shifted test preset (settings no
training used), with both images, one or none.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.checkpoint import TrainedRange, read_info
from mrsisr.inference import Predictor, Volume
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.cohort import make_phantom_cohort
from mrsisr.weights import DEFAULT_MODEL, SHIPPED_SHA256

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no shipped weights")


def test_shipped_file_is_the_pinned_one_and_its_header_has_the_metabolites() -> None:
    """A new model changes SHIPPED_SHA256 and the model card together (MODEL_CARD.md, File)."""
    assert hashlib.sha256(DEFAULT_MODEL.read_bytes()).hexdigest() == SHIPPED_SHA256
    info = read_info(DEFAULT_MODEL)
    assert info.metabolites == tuple(m.value for m in METABOLITES)
    assert info.trained == TrainedRange((8, 8), (64, 64), (64, 64), (56, 56), (128, 128))
    assert SHIPPED_SHA256 in (DEFAULT_MODEL.parent / "MODEL_CARD.md").read_text()


def test_shipped_file_is_the_full_model_with_presence_flags_stored_in_float16(
    predictor: Predictor,
) -> None:
    info = read_info(DEFAULT_MODEL)
    assert info.variant == "full" and info.config["presence"] is True
    assert info.config["grid"] == [64, 64]
    assert DEFAULT_MODEL.stat().st_size <= 16_000_000
    raw = DEFAULT_MODEL.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    dtypes = {v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {"F16"}
    card = (DEFAULT_MODEL.parent / "MODEL_CARD.md").read_text()
    assert "Trained on simulated data only" in card
    assert {p.dtype for p in predictor.model.parameters()} == {torch.float32}


def masked_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    inside = mask > 0
    data_range = target[inside].max() - target[inside].min()
    return float(10 * np.log10(data_range**2 / np.mean((pred[inside] - target[inside]) ** 2)))


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.from_file(DEFAULT_MODEL, device="cpu")


@pytest.fixture(scope="module", params=["paper", "shifted"])
def patient(request, tmp_path_factory) -> tuple[str, Path]:
    # Seed 99: not the seed of any training cohort (0), so this patient was never seen.
    root = make_phantom_cohort(
        tmp_path_factory.mktemp(request.param),
        patients=1,
        seed=99,
        grid=64,
        slices=6,
        simulator=request.param,
    )
    return request.param, next(p for p in sorted(root.iterdir()) if p.is_dir())


# Smallest gain over zero-filling (dB) each case must keep; measured on the shipped model
# (2026-12-02): paper Ins 3.4-5.5 dB with both images or T1 alone, 2.7-3.7 with FLAIR alone or
# none; shifted NAA and Ins 1.0-1.9 dB with any image set.
FLOORS = {
    "paper": {"both": 2.0, "t1": 2.0, "flair": 1.5, "none": 1.5},
    "shifted": {"both": 0.5, "t1": 0.5, "flair": 0.5, "none": 0.5},
}


@pytest.mark.slow
@pytest.mark.parametrize("images", ["both", "t1", "flair", "none"])
@pytest.mark.parametrize("n", [16, 32])
def test_shipped_model_beats_zero_filling_on_an_unseen_patient(
    predictor: Predictor, patient: tuple[str, Path], n: int, images: str
) -> None:
    simulator, folder = patient
    load = nib.load
    mask = np.asarray(load(folder / "mask.nii.gz").dataobj) > 0
    used = mask.any(axis=(0, 1))
    t1 = load(folder / "t1.nii.gz") if images in ("both", "t1") else None
    flair = load(folder / "flair.nii.gz") if images in ("both", "flair") else None
    floor = FLOORS[simulator][images]
    for met in (Metabolite.Ins, Metabolite.NAA):
        image = load(folder / f"met_{met.name}.nii.gz")
        hr = np.asarray(image.dataobj, dtype=np.float64)
        lr = np.moveaxis(kspace.degrade(np.moveaxis(hr, 2, 0), n), 0, 2)
        zero_filled = np.moveaxis(kspace.zero_fill(np.moveaxis(lr, 2, 0), 64), 0, 2)
        anatomy = predictor.prepare_anatomy(
            *(
                None if img is None else Volume(np.asarray(img.dataobj, np.float32), img.affine)
                for img in (t1, flair)
            ),
            hr.shape,
            image.affine,
            mask=Volume(mask.astype(np.float32), image.affine),
        )
        sr = predictor.super_resolve(lr, met, anatomy, sharpness=(0.0,))[0]
        gain = masked_psnr(sr[..., used], hr[..., used], mask[..., used]) - masked_psnr(
            zero_filled[..., used], hr[..., used], mask[..., used]
        )
        assert gain > floor, (
            f"{simulator} {met.name} n={n} {images}: only {gain:+.2f} dB over zero-filling"
        )
