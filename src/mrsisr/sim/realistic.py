"""Effects of the ``realistic`` preset: maps that depart from the tissue model as real ones do.

The randomised simulator (:mod:`mrsisr.sim.randomised`) calls these with the
:class:`~mrsisr.sim.presets.RealismRanges` of its settings. Every draw comes from a
generator of its own (the patient's seed with a fourth word, 1), so the patient's other
draws are those of the ``training`` preset, and with every effect at 0 the patient is the
training patient, byte for byte (tested). The effects, in the order they are applied:

1. **Tissue contrast** (:meth:`RealismDraw.healthy`): the grey/white difference of the
   healthy concentrations shrunk, the CSF gap partly filled, per metabolite.
2. **Variation that follows no tissue** (:func:`apply_effects`): a linear gradient along a
   random direction and Gaussian blobs anywhere in the brain, per metabolite.
3. **A lipid-like rim**: added along the inside of the brain edge, and a lipid-like signal
   outside it, decaying with the distance from the edge.
4. **Noise**: the simulator's Gaussian noise made stronger, heavy-tailed (a Student-t scale
   mixture of the same draws), spatially varying, with occasional fit outliers.

The maps keep their values outside the quality mask with probability ``outside_prob``.
Nothing here reads the ``real-like`` test set's ranges (:mod:`mrsisr.sim.real_like`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.anatomy import SmoothField
from mrsisr.sim.presets import RealismRanges

__all__ = ["RealismDraw", "apply_effects", "brain_distances"]

_HUNDRED_MM = 100.0  # the gradient's unit length


@dataclass(frozen=True)
class RealismDraw:
    """The effects drawn for one patient (all 0 for a plain patient).

    Args:
        plain: the patient got none of the effects.
        per_metabolite: per metabolite, its drawn values (``contrast_loss``, ``csf_fill``,
            ``gradient``, ``blob_amplitudes``, ``rim_share``, ``noise_excess``, ``tail``,
            ``outliers``).
        direction: unit vector of the gradients.
        blob_mm: standard deviation of each blob.
        rim, rim_mm, outside, outside_mm: the lipid-like rim and the signal outside the brain.
        keep_outside: whether the maps keep their values outside the quality mask.
        snr_variation, snr_length_mm: the spatially varying noise SD.
        outlier_sd: the range of an outlier's size, in local noise SDs.
    """

    plain: bool
    per_metabolite: dict[Metabolite, dict[str, Any]]
    direction: np.ndarray
    blob_mm: tuple[float, ...]
    rim: float
    rim_mm: float
    outside: float
    outside_mm: float
    keep_outside: bool
    snr_variation: float
    snr_length_mm: float
    outlier_sd: tuple[float, float]

    @classmethod
    def random(cls, rng: np.random.Generator, ranges: RealismRanges) -> RealismDraw:
        """Draw every per-patient and per-metabolite value (the same number of draws
        whatever the outcome, so a patient's later draws do not depend on ``plain``)."""
        plain = bool(rng.random() < ranges.plain_prob)
        on = 0.0 if plain else 1.0
        direction = rng.normal(size=3)
        direction /= max(float(np.linalg.norm(direction)), 1e-12)
        count = int(rng.integers(ranges.blobs[0], ranges.blobs[1] + 1)) if not plain else 0
        blob_mm = tuple(float(ranges.blob_mm.draw(rng)) for _ in range(count))
        rim, rim_mm = on * ranges.rim.draw(rng), ranges.rim_mm.draw(rng)
        outside, outside_mm = on * ranges.outside.draw(rng), ranges.outside_mm.draw(rng)
        keep_outside = bool(rng.random() < ranges.outside_prob) and not plain
        snr_variation = on * ranges.snr_variation.draw(rng)
        snr_length_mm = ranges.snr_length_mm.draw(rng)
        per_metabolite = {
            met: {
                "contrast_loss": on * ranges.contrast_loss.draw(rng),
                "csf_fill": on * ranges.csf_fill.draw(rng),
                "gradient": on * ranges.gradient.draw_signed(rng),
                "blob_amplitudes": [on * ranges.blob_amplitude.draw_signed(rng) for _ in blob_mm],
                "rim_share": ranges.rim_share.draw(rng),
                "noise_excess": on * ranges.noise_excess.draw(rng),
                "tail": on * ranges.tail.draw(rng),
                "outliers": on * ranges.outliers.draw(rng),
            }
            for met in METABOLITES
        }
        return cls(
            plain=plain,
            per_metabolite=per_metabolite,
            direction=direction,
            blob_mm=blob_mm,
            rim=rim,
            rim_mm=rim_mm,
            outside=outside,
            outside_mm=outside_mm,
            keep_outside=keep_outside,
            snr_variation=snr_variation,
            snr_length_mm=snr_length_mm,
            outlier_sd=(ranges.outlier_sd.low, ranges.outlier_sd.high),
        )

    def healthy(
        self, met: Metabolite, csf_gm_wm: tuple[float, float, float]
    ) -> tuple[float, float, float]:
        """The (CSF, GM, WM) concentrations with the tissue contrast reduced: GM and WM move
        toward their mean by ``contrast_loss``, CSF toward it by ``csf_fill``."""
        drawn = self.per_metabolite[met]
        loss, fill = drawn["contrast_loss"], drawn["csf_fill"]
        if loss == 0 and fill == 0:
            return csf_gm_wm
        csf, gm, wm = csf_gm_wm
        tissue = 0.5 * (gm + wm)
        gm, wm = (tissue + (1.0 - loss) * (c - tissue) for c in (gm, wm))
        return csf + fill * (tissue - csf), gm, wm

    def record(self) -> dict[str, Any]:
        """The drawn values, JSON-ready (``phantom_params.json``)."""
        return {
            "plain": self.plain,
            "gradient_direction": self.direction.tolist(),
            "blob_mm": list(self.blob_mm),
            "rim": self.rim,
            "rim_mm": self.rim_mm,
            "outside": self.outside,
            "outside_mm": self.outside_mm,
            "keep_outside": self.keep_outside,
            "snr_variation": self.snr_variation,
            "snr_length_mm": self.snr_length_mm,
            "maps": {met.value: values for met, values in self.per_metabolite.items()},
        }


def brain_distances(brain: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) of every voxel centre from the brain edge: ``(depth, beyond)``.

    ``depth`` is the distance inside the brain to the nearest voxel outside it (0 outside),
    ``beyond`` the distance outside it to the nearest brain voxel (0 inside); both measured
    from the edge, half a voxel from either neighbour, so the voxels on either side are at
    half an in-plane voxel. Holes (ventricles) of the brain are not edges.
    """
    spacing = np.sqrt((np.asarray(affine)[:3, :3] ** 2).sum(axis=0))
    inside = ndimage.binary_fill_holes(brain)
    half = 0.5 * float(spacing[0])
    depth = ndimage.distance_transform_edt(inside, sampling=spacing) - half
    beyond = ndimage.distance_transform_edt(~inside, sampling=spacing) - half
    return np.where(inside, depth, 0.0), np.where(inside, 0.0, beyond)


def apply_effects(
    rng: np.random.Generator,
    draw: RealismDraw,
    noiseless: dict[Metabolite, np.ndarray],
    noise: dict[Metabolite, np.ndarray],
    brain: np.ndarray,
    grid: tuple[tuple[int, int, int], np.ndarray],
) -> tuple[dict[Metabolite, np.ndarray], dict[Metabolite, np.ndarray]]:
    """Steps 2-4 of the module on one patient's maps (on the MRSI grid).

    Args:
        rng: the realism generator (fields, blob centres, tails, outliers).
        draw: the patient's drawn effects.
        noiseless: per metabolite, the map before noise ``(X, Y, Z)``.
        noise: per metabolite, the simulator's Gaussian noise ``(X, Y, Z)``, SD ``sigma``.
        brain: bool ``(X, Y, Z)``, voxels whose PSF-weighted brain fraction is >= 0.5.
        grid: shape and affine of the MRSI grid.

    Returns:
        The new noiseless maps and noise; each map whose effects are all 0 is returned
        unchanged (the same array), so is everything of a plain patient.
    """
    shape, affine = grid
    if draw.plain or not brain.any():
        return noiseless, noise
    depth, beyond = brain_distances(brain, affine)
    inside = depth > 0
    index = np.indices(shape, dtype=np.float64).reshape(3, -1)
    points = (np.asarray(affine)[:3, :3] @ index + np.asarray(affine)[:3, 3:4]).T  # (V, 3)
    centre = points[brain.ravel()].mean(axis=0)
    along = ((points - centre) @ draw.direction).reshape(shape) / _HUNDRED_MM
    brain_voxels = np.flatnonzero(brain)
    blobs = []
    for width in draw.blob_mm:
        at = points[brain_voxels[int(rng.integers(len(brain_voxels)))]]
        blobs.append(np.exp(-((points - at) ** 2).sum(axis=1) / (2 * width**2)).reshape(shape))
    snr_field = np.ones(shape)
    if draw.snr_variation > 0:
        field = SmoothField.random(rng, draw.snr_length_mm, 24).on_grid(shape, affine)
        field = (field - field.mean()) / max(float(field.std()), 1e-12)
        snr_field = np.exp(draw.snr_variation * field.reshape(shape))
    rim_profile = np.where(inside, np.exp(-depth / draw.rim_mm), 0.0)
    outside_profile = np.where(inside, 0.0, np.exp(-beyond / draw.outside_mm))

    maps, noises = {}, {}
    for met, clean in noiseless.items():
        values = draw.per_metabolite[met]
        c = np.asarray(clean, dtype=np.float64)
        mean = float(c[brain].mean())
        share = values["rim_share"]
        added = [(a, blob) for a, blob in zip(values["blob_amplitudes"], blobs) if a]
        added += [(draw.rim * share, rim_profile), (draw.outside * share, outside_profile)]
        if values["gradient"] or any(a for a, _ in added):
            c = c * np.clip(1.0 + values["gradient"] * along, 0.2, None)
            for amplitude, profile in added:
                c = c + amplitude * mean * profile
            maps[met] = np.maximum(c, 0.0).astype(np.float32)
        else:
            maps[met] = clean
        e = noise[met]
        if values["noise_excess"] or draw.snr_variation:
            e = e * ((1.0 + values["noise_excess"]) * snr_field)
        if values["tail"] > 0:  # Student-t: a scale mixture of the same Gaussian draws
            dof = 1.0 / values["tail"]
            e = e * np.sqrt((dof - 2.0) / rng.chisquare(dof, shape))
        if values["outliers"] > 0:
            sigma = float(np.std(noise[met])) * (1.0 + values["noise_excess"]) * snr_field
            hit = rng.random(shape) < values["outliers"]
            size = rng.choice((-1.0, 1.0), shape) * rng.uniform(*draw.outlier_sd, shape)
            e = e + hit * size * sigma
        noises[met] = e
    return maps, noises
