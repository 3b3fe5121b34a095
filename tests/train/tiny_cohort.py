"""A tiny cohort in the cohort format, for the training and ``mrsisr train`` tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from mrsisr.data.cohort import Cohort, Manifest, Patient, write_manifest, write_patient
from mrsisr.data.splits import fold_split
from mrsisr.metabolites import Metabolite

TINY_METABOLITES = (Metabolite.NAA, Metabolite.Gln)


FIELD_OF_VIEW_MM = 96.0
"""In-plane field of view of every tiny cohort (3 mm voxels on the default 32 x 32 grid)."""


def write_tiny_cohort(
    root: Path,
    patients: int = 3,
    grid: int = 32,
    slices: int = 4,
    noiseless: bool = False,
    prefix: str = "p",
) -> Path:
    """Smooth random maps, anatomy and a disc mask for ``patients`` patients ``<prefix>0``,
    ... over a 96 mm field of view; with ``noiseless``, the smooth maps are the noiseless
    ones and the maps get noise (SD 1)."""
    rng = np.random.default_rng(7)
    noise = np.random.default_rng(8)
    yy, xx = np.mgrid[:grid, :grid] - (grid - 1) / 2
    disc = (yy**2 + xx**2) < (0.42 * grid) ** 2
    mask = np.repeat(disc[:, :, None], slices, axis=2)
    ids = [f"{prefix}{i}" for i in range(patients)]
    voxel = FIELD_OF_VIEW_MM / grid
    for pid in ids:

        def smooth(offset: float) -> np.ndarray:
            field = gaussian_filter(rng.random((grid, grid, slices)), sigma=(2.5, 2.5, 0))
            return ((field - field.min()) * 10 + offset).astype(np.float32)

        maps = {met: smooth(1.0) * mask for met in TINY_METABOLITES}
        clean = dict(maps) if noiseless else {}
        if noiseless:
            maps = {
                m: (v + noise.normal(0, 1, v.shape) * mask).astype(np.float32)
                for m, v in maps.items()
            }
        patient = Patient(
            id=pid,
            maps=maps,
            t1=smooth(0.5),
            flair=smooth(0.5),
            mask=mask,
            affine=np.diag([voxel, voxel, 8.0, 1.0]),
            noiseless=clean,
        )
        write_patient(root, patient)
    manifest = Manifest(
        patients=tuple(ids),
        metabolites=TINY_METABOLITES,
        units="mM",
        field_strength_t=3.0,
        provenance="mrsisr training tests",
    )
    write_manifest(root, manifest)
    return root


def both_grids(cohort: Cohort) -> tuple[str, int]:
    """The ``data.split_seed`` override and the fold (of the tiny configuration's 3) whose
    training and validation patients hold both grids of a merged cohort of tiny cohorts of
    prefixes ``p`` and ``q``."""
    for seed in range(50):
        for fold in range(3):
            split = fold_split(cohort.patients, 3, seed, fold)
            if all({p[0] for p in part} == {"p", "q"} for part in (split.train, split.val)):
                return f"data.split_seed={seed}", fold
    raise AssertionError("no split trains and validates on both grids")
