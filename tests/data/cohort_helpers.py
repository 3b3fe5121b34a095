"""Helpers of the data tests: small synthetic cohorts written with the cohort API."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrsisr.data.cohort import Manifest, Patient, write_manifest, write_patient
from mrsisr.metabolites import Metabolite

SHAPE = (8, 7, 3)  # odd sizes catch swapped axes
METS = (Metabolite.tCho, Metabolite.NAA)


def mrsi_affine(voxel_mm: float = 3.4) -> np.ndarray:
    """An oblique MRSI grid: 3.4 mm in-plane (or ``voxel_mm``), 4 mm slices, rotated and
    shifted."""
    angle = np.deg2rad(12.0)
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([voxel_mm, voxel_mm, 4.0])
    affine[:3, 3] = [-10.0, 5.0, 20.0]
    return affine


def synthetic_patient(
    pid: str,
    seed: int,
    shape: tuple[int, int, int] = SHAPE,
    noiseless: bool = False,
    voxel_mm: float = 3.4,
) -> Patient:
    """A patient with random maps and images on the MRSI grid (and noiseless maps, if asked)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) > 0.3
    maps = {m: (rng.random(shape) * 5 * mask).astype(np.float32) for m in METS}
    t1, flair = (rng.random(shape).astype(np.float32) for _ in range(2))
    clean = {m: v.copy() for m, v in maps.items()} if noiseless else {}
    return Patient(pid, maps, t1, flair, mask, mrsi_affine(voxel_mm), noiseless=clean)


def write_cohort(
    root: Path,
    ids: tuple[str, ...],
    *,
    shape: tuple[int, int, int] = SHAPE,
    noiseless: bool = False,
    voxel_mm: float = 3.4,
    **manifest: object,
) -> Path:
    """A valid cohort of synthetic patients ``ids`` on ``shape`` with in-plane voxels of
    ``voxel_mm``; ``manifest`` overrides the manifest's metabolites, units, field strength,
    provenance or anatomy_upsample."""
    for i, pid in enumerate(ids):
        patient = synthetic_patient(pid, i, shape, noiseless, voxel_mm)
        write_patient(root, patient, anatomy_affine=patient.affine)
    fields: dict = {"metabolites": METS, "units": "mM", "field_strength_t": 7.0}
    write_manifest(
        root, Manifest(patients=ids, **{"provenance": "synthetic test data", **fields, **manifest})
    )
    return root


def write_synthetic_cohort(root: Path) -> Path:
    """A valid two-patient cohort of synthetic volumes."""
    return write_cohort(root, ("A01", "A02"))
