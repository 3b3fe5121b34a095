"""The MRSI side every simulator shares: the grid, a simulated patient and its labels,
k-space truncation onto the grid, and the quality mask.

A simulator builds a patient's truth, T1 and FLAIR on a fine grid (``fine`` times the MRSI
grid in-plane, the same field of view: :meth:`PhantomGeometry.fine_grid`), truncates the
truth's k-space to the MRSI grid (:func:`to_mrsi_grid`, so the maps carry the blur and
ringing of a finite acquisition), adds noise, and keeps the voxels whose spectra would pass
the paper's quality filter (:func:`quality_mask`); maps are 0 outside it (:func:`masked`).
The label volume of a :class:`SimulatedPatient` gives the dominant compartment of each MRSI
voxel (values index :data:`LABELS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from mrsisr.data.cohort import Patient
from mrsisr.data.resample import upsampled_grid
from mrsisr.kspace import degrade
from mrsisr.metabolites import Metabolite
from mrsisr.sim.anatomy import SmoothField
from mrsisr.sim.tissue import Compartment

__all__ = [
    "LABELS",
    "TUMOUR_CORE_LABELS",
    "TUMOUR_LABELS",
    "PhantomGeometry",
    "SimulatedPatient",
    "masked",
    "quality_mask",
    "to_mrsi_grid",
]

# Quality filtering thresholds of the paper's data (SNR < 2.5 or FWHM > 0.15 ppm rejected).
MIN_SNR = 2.5
MAX_FWHM_PPM = 0.15
# Assumption: spectral SNR of a white-matter voxel of good shim, and its linewidth.
WM_SNR = 25.0
BASE_FWHM_PPM = 0.075
# Assumption: a voxel is kept only if at least this much of its point-spread function is brain.
MIN_BRAIN_FRACTION = 0.8

# Names of the label values: label = index.
LABELS: tuple[str, ...] = ("background", *(c.value for c in Compartment))
TUMOUR_LABELS: tuple[int, ...] = tuple(
    LABELS.index(c.value) for c in (Compartment.oedema, Compartment.enhancing, Compartment.necrosis)
)
"""Labels of the whole lesion: oedema, enhancing tumour and necrosis."""
TUMOUR_CORE_LABELS: tuple[int, ...] = tuple(
    LABELS.index(c.value) for c in (Compartment.enhancing, Compartment.necrosis)
)
"""Labels of the tumour core: enhancing tumour and necrosis."""


@dataclass(frozen=True)
class PhantomGeometry:
    """The MRSI grid of the phantom: ``grid x grid`` in-plane over ``fov_mm``, axial slices.

    Args:
        grid: in-plane matrix ``N`` (64 in the paper).
        slices: number of axial slices.
        fov_mm: in-plane field of view (64 x 3.4 mm by default).
        slice_mm: slice thickness and spacing.
        fine: in-plane multiple of the grid on which the truth and T1/FLAIR are built.
        centre_mm: world point at voxel ``(N // 2, N // 2, slices // 2)``.
    """

    grid: int = 64
    slices: int = 36
    fov_mm: float = 217.6
    slice_mm: float = 3.4
    fine: int = 3
    centre_mm: tuple[float, float, float] = (0.0, -18.0, 15.0)

    def __post_init__(self) -> None:
        for name in ("grid", "slices", "fine"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.grid < 8:
            raise ValueError(f"grid must be at least 8, got {self.grid}")
        if not (self.fov_mm > 0 and self.slice_mm > 0):
            raise ValueError("fov_mm and slice_mm must be positive")

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(N, N, slices)``."""
        return (self.grid, self.grid, self.slices)

    def affine(self) -> np.ndarray:
        """4x4 voxel-to-world affine of the MRSI grid (RAS, mm)."""
        voxel = np.array([self.fov_mm / self.grid, self.fov_mm / self.grid, self.slice_mm])
        affine = np.diag([*voxel, 1.0])
        centre_index = np.array([self.grid // 2, self.grid // 2, self.slices // 2])
        affine[:3, 3] = np.asarray(self.centre_mm) - voxel * centre_index
        return affine

    def fine_grid(self) -> tuple[tuple[int, int, int], np.ndarray]:
        """Shape and affine of the fine grid (truth, T1 and FLAIR)."""
        return upsampled_grid(self.shape, self.affine(), self.fine)


class SimulatedPatient(NamedTuple):
    """A phantom patient: the cohort-format :class:`Patient` (T1/FLAIR on the fine grid,
    ``anatomy_upsample = fine``; ``patient.noiseless`` holds the maps before noise) and the
    dominant compartment of each MRSI voxel."""

    patient: Patient
    labels: np.ndarray


def to_mrsi_grid(fine: np.ndarray, grid: int) -> np.ndarray:
    """k-space truncation of a fine volume ``(F, F, Z)`` to ``(grid, grid, Z)``."""
    return np.moveaxis(degrade(np.moveaxis(fine, 2, 0), grid), 0, 2).astype(np.float32)


def quality_mask(
    rng: np.random.Generator,
    brain: np.ndarray,
    signal: np.ndarray,
    atlas_z: np.ndarray,
    grid: tuple[tuple[int, int, int], np.ndarray],
) -> np.ndarray:
    """Voxels whose spectra pass quality filtering, on the MRSI grid ``(N, N, Z)``.

    Args:
        rng: random generator (the shim field).
        brain: PSF-weighted brain fraction ``(N, N, Z)``.
        signal: tNAA + tCr + tCho without noise, relative to white matter, ``(N, N, Z)``.
        atlas_z: template z (mm) of the voxels, flat (inferior slices shim worse).
        grid: shape and affine of the MRSI grid.
    """
    # Near the skull: too little brain in the voxel's PSF, or at the edge of the brain.
    inside = ndimage.binary_erosion(brain >= 0.5, structure=np.ones((3, 3, 1), dtype=bool))
    # Assumption: broader lines in inferior slices (air-tissue interfaces) and a smooth shim.
    inferior = 1.2 * np.clip((-5.0 - atlas_z) / 40.0, 0.0, 1.0) ** 1.5
    shim = SmoothField.random(rng, length=40.0).on_grid(*grid)
    fwhm = (BASE_FWHM_PPM * (1 + 0.15 * shim) + 0.1 * inferior).reshape(brain.shape)
    snr = WM_SNR * signal * BASE_FWHM_PPM / fwhm
    good = (fwhm <= MAX_FWHM_PPM) & (snr >= MIN_SNR)
    return inside & (brain >= MIN_BRAIN_FRACTION) & good


def masked(maps: dict[Metabolite, np.ndarray], mask: np.ndarray) -> dict[Metabolite, np.ndarray]:
    """The maps with every voxel outside the quality mask set to 0, as float32."""
    return {met: np.where(mask, volume, 0.0).astype(np.float32) for met, volume in maps.items()}
