"""A real-like test set: patients of the shifted preset whose maps disagree with the training
simulator the way real maps do.

Measured on a real 3T subject (docs/self-check.md): tissue explains little of a real map's
fine structure, smooth variation follows no tissue boundary, a bright lipid-like rim lies
along the brain edge, and the voxel noise is heavier-tailed and stronger than the fit's
CRLB suggests. Each patient of this set is simulated by the ``shifted`` preset and then, per
metabolite, given those four effects, each drawn from its own range (:class:`RealLikeRanges`).
The ranges are assumptions chosen to resemble that one subject's statistics, not fitted to
it. The set is a **test set**: no design choice of the package is tuned on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mrsisr.data.cohort import Patient
from mrsisr.sim.anatomy import SmoothField
from mrsisr.sim.tissue import NOISE_SD_MM

__all__ = ["RealLikeRanges", "make_real_like"]


@dataclass(frozen=True)
class RealLikeRanges:
    """The ranges each effect is drawn from, uniformly, per metabolite (assumptions)."""

    contrast: tuple[float, float] = (0.0, 0.5)
    """Share of the simulated map's deviation from its mean kept: 0 is no tissue contrast."""
    variation: tuple[float, float] = (0.1, 0.3)
    """SD of a smooth multiplicative field that follows no tissue (relative to 1)."""
    variation_mm: tuple[float, float] = (25.0, 60.0)
    """Its correlation length (mm)."""
    blobs: tuple[int, int] = (1, 4)
    """Number of Gaussian blobs (deep grey matter, cerebellum-like regional differences)."""
    blob_amplitude: tuple[float, float] = (-0.4, 0.4)
    """Blob height, relative to the map's mean in the mask."""
    blob_mm: tuple[float, float] = (8.0, 20.0)
    """Blob SD (mm)."""
    rim: tuple[float, float] = (0.3, 1.5)
    """Height of the lipid-like rim at the brain edge, relative to the map's mean."""
    rim_mm: tuple[float, float] = (3.0, 8.0)
    """Its decay length into the brain (mm)."""
    lipid: tuple[float, float] = (0.5, 3.0)
    """Height of the signal just outside the brain (scalp lipids leaking into the fit),
    relative to the map's mean; the maps are not 0 outside the brain, as real maps are not."""
    lipid_mm: tuple[float, float] = (4.0, 12.0)
    """Its decay length away from the brain (mm)."""
    noise: tuple[float, float] = (1.0, 2.5)
    """Noise SD as a multiple of the simulator's (:data:`~mrsisr.sim.tissue.NOISE_SD_MM`)."""
    noise_dof: tuple[float, float] = (2.5, 5.0)
    """Degrees of freedom of the Student-t voxel noise (heavy tails)."""
    noise_variation: tuple[float, float] = (0.2, 0.6)
    """SD of the smooth spatial variation of the noise SD (relative to 1)."""
    outliers: tuple[float, float] = (0.005, 0.02)
    """Share of voxels with a fit outlier of 3-6 noise SDs."""


def make_real_like(
    patient: Patient, rng: np.random.Generator, ranges: RealLikeRanges | None = None
) -> tuple[Patient, dict]:
    """Give a simulated patient's maps the statistics of real maps (see the module).

    Args:
        patient: a simulated patient with noiseless maps (0 outside its mask).
        rng: the generator of every draw.
        ranges: the ranges to draw from.

    Returns:
        The patient with new ``maps`` (noisy, >= 0, *not* 0 outside the mask: a lipid-like
        signal outside the brain and noise everywhere) and ``noiseless`` maps (the same
        before noise), and the record of what was drawn per metabolite.
    """
    ranges = ranges or RealLikeRanges()
    if not patient.noiseless:
        raise ValueError(f"{patient.id}: make_real_like needs the noiseless maps")
    mask = np.asarray(patient.mask, dtype=bool)
    shape = (int(mask.shape[0]), int(mask.shape[1]), int(mask.shape[2]))
    spacing = np.sqrt((patient.affine[:3, :3] ** 2).sum(axis=0))
    # mm from the brain edge (holes of a quality mask are not edges)
    brain = ndimage.binary_fill_holes(mask)
    depth = ndimage.distance_transform_edt(brain, sampling=spacing)
    outside = ndimage.distance_transform_edt(~brain, sampling=spacing)  # mm beyond the edge
    points = _world_points(shape, patient.affine)

    def field(length: float) -> np.ndarray:
        values = SmoothField.random(rng, length).on_grid(shape, patient.affine).reshape(shape)
        return (values - values[mask].mean()) / max(float(values[mask].std()), 1e-12)

    maps, clean, record = {}, {}, {}
    for met, noiseless in patient.noiseless.items():
        c = np.asarray(noiseless, dtype=np.float64)
        mean = float(c[mask].mean())
        keep = rng.uniform(*ranges.contrast)
        c = mean + keep * (c - mean)
        variation = rng.uniform(*ranges.variation)
        c = c * np.clip(1 + variation * field(rng.uniform(*ranges.variation_mm)), 0.2, None)
        for _ in range(int(rng.integers(ranges.blobs[0], ranges.blobs[1] + 1))):
            inside = np.flatnonzero(mask)
            centre = points[inside[int(rng.integers(len(inside)))]]
            width = rng.uniform(*ranges.blob_mm)
            distance = ((points - centre) ** 2).sum(axis=1).reshape(shape)
            c = c + rng.uniform(*ranges.blob_amplitude) * mean * np.exp(-distance / (2 * width**2))
        rim = rng.uniform(*ranges.rim)
        rim_mm = rng.uniform(*ranges.rim_mm)
        c = np.maximum(c + rim * mean * np.exp(-(depth - spacing[0] / 2) / rim_mm), 0.0)
        lipid = rng.uniform(*ranges.lipid)
        lipid_mm = rng.uniform(*ranges.lipid_mm)
        c = np.where(brain, c, lipid * mean * np.exp(-(outside - spacing[0] / 2) / lipid_mm))
        sd = NOISE_SD_MM[met] * rng.uniform(*ranges.noise)
        sd_map = sd * np.clip(1 + rng.uniform(*ranges.noise_variation) * field(40.0), 0.3, None)
        dof = rng.uniform(*ranges.noise_dof)
        unit = rng.standard_t(dof, shape) / np.sqrt(dof / (dof - 2))
        outliers = rng.random(shape) < rng.uniform(*ranges.outliers)
        unit = unit + outliers * rng.choice([-1, 1], shape) * rng.uniform(3, 6, shape)
        noisy = np.maximum(c + sd_map * unit, 0.0)
        maps[met] = noisy.astype(np.float32)
        clean[met] = c.astype(np.float32)
        record[met.value] = {
            "contrast_kept": keep,
            "variation_sd": variation,
            "rim_relative": rim,
            "rim_mm": rim_mm,
            "lipid_relative": lipid,
            "lipid_mm": lipid_mm,
            "noise_sd_mm": sd,
            "noise_dof": dof,
        }
    changed = Patient(
        id=patient.id,
        maps=maps,
        t1=patient.t1,
        flair=patient.flair,
        mask=patient.mask,
        affine=patient.affine,
        anatomy_upsample=patient.anatomy_upsample,
        noiseless=clean,
    )
    return changed, record


def _world_points(shape: tuple[int, ...], affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of every voxel centre, ``(X * Y * Z, 3)``."""
    index = np.indices(shape).reshape(3, -1).T.astype(np.float64)
    return index @ affine[:3, :3].T + affine[:3, 3]
