"""The shipped weights: they load, say what they are, and beat k-space zero-filling.

Regression guard for the model file that `mrsisr predict` and `mrsisr demo` use by default.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from mrsisr import kspace
from mrsisr.checkpoint import read_info
from mrsisr.data.phantom import make_phantom_cohort
from mrsisr.inference import Predictor, Volume
from mrsisr.metabolites import Metabolite
from mrsisr.weights import DEFAULT_MODEL

pytestmark = pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="no shipped weights")


def test_shipped_file_is_the_full_model_and_small() -> None:
    info = read_info(DEFAULT_MODEL)
    assert info.variant == "full"
    assert info.config["grid"] == [64, 64]
    assert DEFAULT_MODEL.stat().st_size <= 30_000_000
    card = (DEFAULT_MODEL.parent / "MODEL_CARD.md").read_text()
    assert "Trained on simulated data only" in card


def masked_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    inside = mask > 0
    data_range = target[inside].max() - target[inside].min()
    return float(10 * np.log10(data_range**2 / np.mean((pred[inside] - target[inside]) ** 2)))


@pytest.mark.parametrize("n", [16, 32])
def test_shipped_model_beats_zero_filling_on_an_unseen_patient(tmp_path: Path, n: int) -> None:
    # Seed 99: not the seed of the training cohort (0), so this patient was never seen.
    root = make_phantom_cohort(tmp_path / "cohort", patients=1, seed=99, grid=64, slices=6)
    folder = root / "P01"
    load = nib.load
    met = load(folder / "met_Ins.nii.gz")
    hr = np.asarray(met.dataobj, dtype=np.float64)
    mask = np.asarray(load(folder / "mask.nii.gz").dataobj) > 0
    lr = np.moveaxis(kspace.degrade(np.moveaxis(hr, 2, 0), n), 0, 2)
    zero_filled = np.moveaxis(kspace.zero_fill(np.moveaxis(lr, 2, 0), 64), 0, 2)

    predictor = Predictor.from_file(DEFAULT_MODEL, device="cpu")
    t1, flair = (load(folder / f"{name}.nii.gz") for name in ("t1", "flair"))
    anatomy = predictor.prepare_anatomy(
        Volume(np.asarray(t1.dataobj, dtype=np.float32), t1.affine),
        Volume(np.asarray(flair.dataobj, dtype=np.float32), flair.affine),
        hr.shape,
        met.affine,
        mask=Volume(mask.astype(np.float32), met.affine),
    )
    sr = predictor.super_resolve(lr, Metabolite.Ins, anatomy, sharpness=(0.0,))[0]

    used = mask.any(axis=(0, 1))
    gain = masked_psnr(sr[..., used], hr[..., used], mask[..., used]) - masked_psnr(
        zero_filled[..., used], hr[..., used], mask[..., used]
    )
    assert gain > 2.0, f"shipped model only {gain:.2f} dB better than zero-filling at n={n}"
