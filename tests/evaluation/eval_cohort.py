"""A small cohort whose maps follow the anatomy, and tiny model files (shared test helpers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from mrsisr.checkpoint import save_model
from mrsisr.data.cohort import Manifest, Patient, write_manifest, write_patient
from mrsisr.metabolites import Metabolite
from mrsisr.nn.variants import build_generator

METS = (Metabolite.NAA, Metabolite.Gln)


def write_cohort(
    root: Path,
    patients: int = 3,
    grid: int = 32,
    slices: int = 3,
    prefix: str = "P",
    voxel_mm: float = 3.4,
) -> Path:
    """Smooth positive maps correlated with T1, a disc-shaped quality mask, ``P0..`` (or
    ``prefix``), in-plane voxels of ``voxel_mm``."""
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[:grid, :grid] - (grid - 1) / 2
    disc = np.repeat(((yy**2 + xx**2) < (0.4 * grid) ** 2)[:, :, None], slices, axis=2)
    ids = tuple(f"{prefix}{i}" for i in range(patients))
    for pid in ids:
        t1 = gaussian_filter(rng.random((grid, grid, slices)), sigma=(2.0, 2.0, 0)) * 4 + 0.5
        flair = gaussian_filter(rng.random((grid, grid, slices)), sigma=(2.0, 2.0, 0)) * 4 + 0.5
        maps = {
            met: ((k + 1.0) * t1 + gaussian_filter(rng.random(t1.shape), (1.5, 1.5, 0))) * disc
            for k, met in enumerate(METS)
        }
        patient = Patient(
            id=pid,
            maps={m: v.astype(np.float32) for m, v in maps.items()},
            t1=t1.astype(np.float32),
            flair=flair.astype(np.float32),
            mask=disc,
            affine=np.diag([voxel_mm, voxel_mm, 3.4, 1.0]),
        )
        write_patient(root, patient)
    write_manifest(root, Manifest(ids, METS, "mM", 7.0, "mrsisr evaluation tests"))
    return root


TINY = {
    "grid": [32, 32],
    "channels": [4, 8, 16],
    "mlp_depth": 2,
    "filter_latent": 8,
    "norm_latent": 8,
}


def save_tiny_model(path: Path, variant: str, split, n_choices=(8, 12)) -> Path:
    """An untrained tiny generator with the metadata a training run records."""
    model = build_generator(variant, **TINY)
    meta = {"split": split.to_dict(), "n_choices": list(n_choices), "fold": 0}
    save_model(path, model, variant, TINY, meta)
    return path
