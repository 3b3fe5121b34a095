"""The paper's glioma phantom (the simulator ``paper`` of ``mrsisr phantom``): one patient of the
in-silico glioma cohort of the reproduction, a stand-in for the paper's 15 patients at 7 T.

Each patient is built in four steps:

1. **Anatomy** (:mod:`mrsisr.sim.anatomy`): the MNI152 template through the patient's own
   random geometry, sampled on a fine grid (``fine`` times the MRSI grid in-plane, the same
   field of view; 1.1 mm for 64 x 64 at 3.4 mm), slice by slice with a slice profile.
2. **Glioma** (:mod:`mrsisr.sim.tumour`): necrotic core, enhancing rim and oedema.
3. **True maps** (:mod:`mrsisr.sim.tissue`): each voxel a mixture of compartments times
   their concentrations, with a smooth per-patient bias and per-metabolite scale.
4. **Acquisition** (:mod:`mrsisr.sim.mrsi`): k-space truncation of the fine maps to the
   MRSI grid (:func:`mrsisr.kspace.degrade`, so the maps carry the blur and ringing of a
   finite acquisition), quantification noise per metabolite, then quality filtering: voxels
   near the skull, with broad lines (inferior slices) or with low SNR are rejected, and the
   stored maps are 0 outside the quality mask, as in the paper's data.

T1 and FLAIR are stored on the fine grid (their own affine); :class:`~mrsisr.data.cohort.
Cohort` resamples them onto the MRSI grid when loading. A label volume gives the dominant
compartment of each MRSI voxel (:data:`mrsisr.sim.mrsi.LABELS`).
"""

from __future__ import annotations

import logging

import numpy as np

from mrsisr.data.cohort import Patient
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.anatomy import Atlas, PatientWarp, SmoothField, load_atlas
from mrsisr.sim.mrsi import PhantomGeometry, SimulatedPatient, masked, quality_mask, to_mrsi_grid
from mrsisr.sim.tissue import (
    FLAIR_INTENSITY,
    HEALTHY_MM,
    LESION_FACTOR,
    NOISE_SD_MM,
    T1_INTENSITY,
    Compartment,
)
from mrsisr.sim.tumour import Tumour

__all__ = ["simulate_patient"]

log = logging.getLogger(__name__)

# The metabolites whose singlets dominate a spectrum's SNR.
_SNR_METABOLITES = (Metabolite.NAA, Metabolite.tCr, Metabolite.tCho)


def _compartments(
    atlas: Atlas, atlas_points: np.ndarray, tumour: Tumour
) -> tuple[dict[Compartment, np.ndarray], np.ndarray]:
    """Fraction of each compartment at template points (they sum to the brain fraction), and
    the template T1 there."""
    gm, wm, csf, t1 = atlas.sample_many(("gm", "wm", "csf", "t1"), atlas_points)
    lesion = tumour.fractions(atlas_points)
    parenchyma = gm + wm
    enhancing, necrosis = lesion.enhancing * parenchyma, lesion.necrosis * parenchyma
    keep = 1.0 - lesion.enhancing - lesion.necrosis
    gm, wm = gm * keep, wm * keep
    oedema_wm, oedema_gm = wm * lesion.oedema, gm * lesion.oedema * 0.5  # spreads in WM
    fractions = {
        Compartment.csf: csf,
        Compartment.gm: gm - oedema_gm,
        Compartment.wm: wm - oedema_wm,
        Compartment.oedema: oedema_wm + oedema_gm,
        Compartment.enhancing: enhancing,
        Compartment.necrosis: necrosis,
    }
    return fractions, t1


def _concentration(met: Metabolite, frac: dict[Compartment, np.ndarray]) -> np.ndarray:
    """Partial-volume mixture of the compartments' concentrations (mM)."""
    c_gm, c_wm = HEALTHY_MM[met]
    f_oedema, f_enhancing, f_necrosis = LESION_FACTOR[met]
    return (
        frac[Compartment.gm] * c_gm
        + frac[Compartment.wm] * c_wm
        + frac[Compartment.oedema] * c_wm * f_oedema
        + frac[Compartment.enhancing] * c_wm * f_enhancing
        + frac[Compartment.necrosis] * c_wm * f_necrosis
    )


def _anatomy_images(
    rng: np.random.Generator,
    template_t1: np.ndarray,
    frac: dict[Compartment, np.ndarray],
    grid: tuple[tuple[int, int, int], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Skull-stripped T1 (the template's own contrast, lesions added) and FLAIR, flat.

    Args:
        rng: random generator (bias fields and noise).
        template_t1: the template T1 at the voxels of ``grid``, flat.
        frac: compartment fractions there.
        grid: shape and affine of the image grid.
    """
    lesion = sum(frac[c] for c in T1_INTENSITY)
    t1 = template_t1 * np.clip(1.0 - lesion, 0.0, 1.0)
    t1 += sum(frac[c] * T1_INTENSITY[c] for c in T1_INTENSITY)
    flair = sum(frac[c] * FLAIR_INTENSITY[c] for c in Compartment)
    brain = sum(frac.values()) > 0.5
    images = []
    for image in (t1, flair):  # Assumption: 5 % smooth bias field, 1.5 % noise.
        bias = 1.0 + 0.05 * SmoothField.random(rng, length=80.0).on_grid(*grid)
        noisy = image * bias + rng.normal(0.0, 0.015, np.shape(image)).astype(np.float32)
        images.append(np.where(brain, np.maximum(noisy, 0.0), 0.0).astype(np.float32))
    return images[0], images[1]


def _acquire_maps(
    rng: np.random.Generator, fractions: dict[Compartment, np.ndarray], geometry: PhantomGeometry
) -> tuple[dict[Metabolite, np.ndarray], dict[Metabolite, np.ndarray], np.ndarray]:
    """Quantified maps on the MRSI grid from k-space-truncated compartment fractions.

    Returns:
        The noisy, non-negative maps (mM), the same maps before noise, and the noiseless
        tNAA + tCr + tCho relative to white matter (what the spectral SNR of a voxel scales
        with).
    """
    grid = (geometry.shape, geometry.affine())
    # Assumption: per-patient variation, smooth on the scale of centimetres: a bias shared by
    # all maps (8 %), one per metabolite (4 %) and a global scale per metabolite (6 %). Being
    # smooth, they are applied on the MRSI grid, after the k-space truncation.
    common = 1.0 + 0.08 * SmoothField.random(rng, length=70.0).on_grid(*grid)
    maps, clean, signal = {}, {}, np.zeros(geometry.shape, dtype=np.float32)
    for met in METABOLITES:
        own = 1.0 + 0.04 * SmoothField.random(rng, length=50.0).on_grid(*grid)
        scale = float(np.clip(rng.normal(1.0, 0.06), 0.8, 1.2))
        noiseless = _concentration(met, fractions) * (common * own * scale).reshape(grid[0])
        if met in _SNR_METABOLITES:
            signal += noiseless / sum(HEALTHY_MM[m][1] for m in _SNR_METABOLITES)
        noisy = noiseless + rng.normal(0.0, NOISE_SD_MM[met], geometry.shape)
        maps[met] = np.maximum(noisy, 0.0).astype(np.float32)  # quantified values are >= 0
        clean[met] = noiseless.astype(np.float32)
    return maps, clean, signal


def simulate_patient(
    patient_id: str, rng: np.random.Generator, geometry: PhantomGeometry
) -> SimulatedPatient:
    """Simulate one patient of the in-silico cohort.

    Args:
        patient_id: the id to give the patient.
        rng: its random generator (every random choice of the patient comes from it).
        geometry: the MRSI grid.

    Returns:
        The patient, with maps (mM, 0 outside the mask) on the MRSI grid ``(N, N, Z)`` and
        T1/FLAIR on the fine grid ``(fine N, fine N, Z)``, and its label volume.
    """
    atlas = load_atlas(geometry.slice_mm)
    warp = PatientWarp.random(rng)
    affine = geometry.affine()
    z_low = float(affine[2, 3] - geometry.slice_mm / 2)
    tumour = Tumour.random(rng, atlas, warp, (z_low, z_low + geometry.slices * geometry.slice_mm))
    fine_shape, fine_affine = geometry.fine_grid()
    atlas_points = warp.grid_to_atlas(fine_shape, fine_affine)
    frac, template_t1 = _compartments(atlas, atlas_points, tumour)
    t1, flair = _anatomy_images(rng, template_t1, frac, (fine_shape, fine_affine))

    # k-space truncation is linear: truncate each compartment once, then mix concentrations.
    fractions = {c: to_mrsi_grid(f.reshape(fine_shape), geometry.grid) for c, f in frac.items()}
    maps, noiseless, signal = _acquire_maps(rng, fractions, geometry)
    first, *rest = fractions.values()
    brain = sum(rest, start=first)
    atlas_z = warp.grid_to_atlas(geometry.shape, affine)[2]
    mask = quality_mask(rng, brain, signal, atlas_z, (geometry.shape, affine))
    maps, noiseless = masked(maps, mask), masked(noiseless, mask)

    stacked = np.stack([fractions[c] for c in Compartment])
    labels = np.where(brain >= 0.5, 1 + np.argmax(stacked, axis=0), 0).astype(np.uint8)
    log.debug("%s: tumour r=%.0f mm at %s", patient_id, tumour.radius_mm, tumour.centre_mm)
    patient = Patient(
        id=patient_id,
        maps=maps,
        t1=t1.reshape(fine_shape),
        flair=flair.reshape(fine_shape),
        mask=mask,
        affine=affine,
        anatomy_upsample=geometry.fine,
        noiseless=noiseless,
    )
    return SimulatedPatient(patient=patient, labels=labels)
