"""A folder as ``mrsisr predict`` writes it, made without a model (fast)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr import kspace
from mrsisr.report.collect import MASK_DESCRIPTION, describe_map, describe_sd

GRID = (20, 24)  # rectangular: a swapped axis shows in the page
SLICES = 6
LAMS = (0.0, 0.03, 0.1)
METS = {"Gln": (10, 12), "tCho": (9, 16)}


@dataclass
class PredictFolder:
    folder: Path
    t1: Path
    sr: dict[str, np.ndarray]  # met -> (L, X, Y, S) as written
    sd: dict[str, np.ndarray]
    mask: np.ndarray
    affine: np.ndarray


def _save(path: Path, data: np.ndarray, affine: np.ndarray, description: str) -> None:
    img = nib.Nifti1Image(np.asarray(data), affine)
    img.header["descrip"] = description.encode()
    nib.save(img, str(path))


def make_predict_folder(root: Path, seed: int = 0) -> PredictFolder:
    rng = np.random.default_rng(seed)
    affine = np.diag([3.0, 3.5, 4.0, 1.0])
    folder = root / "sr"
    folder.mkdir(parents=True)
    mask = np.zeros((*GRID, SLICES), bool)
    mask[3:-3, 2:-4, :] = True
    srs, sds = {}, {}
    for met, n in METS.items():
        base = rng.random((*n, SLICES)) * 5 + 1
        zf = np.moveaxis(kspace.zero_fill(np.moveaxis(base, 2, 0), GRID), 0, 2)
        maps, spreads = [], []
        for lam in LAMS:
            detail = rng.normal(size=(*GRID, SLICES)) * (0.2 + 3 * lam)
            # data-consistent with the measurement, as predict writes it
            sr = kspace.data_consistency(np.moveaxis(zf + detail, 2, 0), np.moveaxis(base, 2, 0))
            sr = np.moveaxis(sr, 0, 2).astype(np.float32)
            sd = (np.abs(rng.normal(size=sr.shape)) * (0.1 + lam)).astype(np.float32)
            name = f"sr_{met}_lam{lam:g}"
            _save(folder / f"{name}.nii.gz", sr, affine, describe_map(met, n, (lam,)))
            _save(folder / f"{name}_sd.nii.gz", sd, affine, describe_sd("tta", met, n, (lam,)))
            maps.append(sr)
            spreads.append(sd)
        srs[met], sds[met] = np.stack(maps), np.stack(spreads)
    _save(folder / "mask.nii.gz", mask.astype(np.uint8), affine, MASK_DESCRIPTION)
    t1 = root / "t1.nii.gz"
    x = np.linspace(0, 1, GRID[0])[:, None, None]
    _save(t1, (100 * x + np.zeros((*GRID, SLICES))).astype(np.float32), affine, "T1")
    return PredictFolder(folder, t1, srs, sds, mask, affine)
