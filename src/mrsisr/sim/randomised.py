"""The randomised simulator: a patient whose anatomy, contrast and metabolism are all drawn.

``simulate_randomised_patient(pid, rng, geometry, settings)`` builds one patient in the
cohort format, like :func:`mrsisr.sim.glioma.simulate_patient` (the paper's phantom,
kept for the reproduction), but every choice is drawn from the ranges of
:class:`~mrsisr.sim.presets.SimulatorSettings`:

1. **Anatomy**: the MNI152 template through an anisotropic scale, rotation, tilt, shift and a
   stronger smooth deformation (:class:`RandomWarp`), with enlarged or shrunk ventricles and
   cortical atrophy, and 0-3 lesions of random kind, size, shape and place
   (:mod:`mrsisr.sim.lesions`).
2. **Images** (:mod:`mrsisr.sim.contrast`): T1 and FLAIR synthesised from the tissue
   fractions with random intensities, skull or not, misregistration, resolution, bias, gamma
   and noise.
3. **Metabolism**: per metabolite, grey- and white-matter concentrations drawn around a random
   mix of two literature tables, lesion factors drawn per lesion, smooth fields that follow
   no anatomy, a noise level per metabolite.
4. **Acquisition**: as the paper's phantom: k-space truncation to the MRSI grid, noise,
   quality mask (:func:`mrsisr.sim.mrsi.quality_mask`), maps 0 outside it.
5. **Realism** (only with ``settings.realism``, the ``realistic`` preset): weaker tissue
   contrast, variation that follows no tissue, a lipid-like rim, heavier and varying noise,
   values kept outside the mask for some patients (:mod:`mrsisr.sim.realistic`), drawn
   from a generator of their own.

The drawn values are returned as a JSON-ready record (``phantom_params.json`` in the cohort).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from mrsisr.data.cohort import Patient
from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.sim.anatomy import Atlas, SmoothField, load_atlas
from mrsisr.sim.contrast import ImageContrast, Misregistration, Skull, synthesise
from mrsisr.sim.lesions import Lesion
from mrsisr.sim.mrsi import (
    PhantomGeometry,
    SimulatedPatient,
    masked,
    quality_mask,
    to_mrsi_grid,
)
from mrsisr.sim.presets import Range, SimulatorSettings
from mrsisr.sim.realistic import RealismDraw, apply_effects
from mrsisr.sim.tissue import HEALTHY_MM, NOISE_SD_MM

__all__ = [
    "LITERATURE_MM",
    "RandomWarp",
    "metabolite_truth",
    "shown_lesions",
    "simulate_randomised_patient",
]

log = logging.getLogger(__name__)
M = Metabolite

_Shells = tuple[np.ndarray, np.ndarray, np.ndarray]  # a lesion's (core, solid, halo) weights

# Healthy (GM, WM) concentrations (mM) from two literature tables; a patient's centre is a
# random mix of the two. First: the meta-analysis of healthy controls tabulated by the
# MRS-Digital-Phantom project, which the paper's phantom uses (mrsisr.sim.tissue.HEALTHY_MM)
# for all but Glu and Gln. Second: Pouwels & Frahm, MRM 39:53 (1998), with tNAA = NAA + NAAG.
# Glycine, in neither: Ganji et al., MRM 2016 (HEALTHY_MM), in both.
LITERATURE_MM: tuple[MappingProxyType[Metabolite, tuple[float, float]], ...] = (
    MappingProxyType({**HEALTHY_MM, M.Gln: (2.43, 2.47), M.Glu: (8.07, 8.30)}),
    MappingProxyType(
        {
            **HEALTHY_MM,
            M.tCho: (1.17, 1.70),
            M.tCr: (6.70, 5.63),
            M.NAA: (9.30, 10.24),
            M.Ins: (4.35, 3.67),
        }
    ),
)
_SNR_METABOLITES = (M.NAA, M.tCr, M.tCho)
_FIELD_WAVES = 24  # plane waves of a metabolic field: enough not to look like stripes
_T1_SCALP, _FLAIR_SCALP = Range(0.6, 1.0), Range(0.3, 0.8)


@functools.lru_cache(maxsize=2)
def _atlas_extras(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """CSF smoothed over ~2 mm (where atrophy acts) and the centre (mm) of the ventricles."""
    near = ndimage.gaussian_filter(atlas.csf, 2.0)
    index = np.array(np.nonzero(atlas.csf > 0.5), dtype=np.float64)
    points = atlas.affine[:3, :3] @ index + atlas.affine[:3, 3:4]
    central = (np.abs(points[0]) < 25) & (points[1] > -45) & (points[1] < 30)
    central &= (points[2] > -5) & (points[2] < 35)
    centre = points[:, central].mean(axis=1) if central.any() else np.array([0.0, -10.0, 15.0])
    return near.astype(np.float32), centre


@dataclass(frozen=True)
class RandomWarp:
    """Where a patient point lies in the template: ``q = V(L^-1 (p - t) + a d(p))``.

    Args:
        linear: ``(3, 3)`` rotation times anisotropic scale ``L``.
        shift_mm: ``(3,)`` translation ``t``.
        displacement: three smooth fields ``d``, amplitude ``a`` = ``amplitude_mm``.
        amplitude_mm: standard deviation of each displacement component.
        ventricles: ventricle change ``v`` of ``V(q) = c + (q - c)(1 - v g(q))``, ``g`` a
            Gaussian about the ventricles' centre ``c``.
        centre_mm: ``c``.
    """

    linear: np.ndarray
    shift_mm: np.ndarray
    displacement: tuple[SmoothField, SmoothField, SmoothField]
    amplitude_mm: float
    ventricles: float
    centre_mm: np.ndarray

    _WIDTH_MM = np.array([20.0, 32.0, 16.0])  # extent of g about the lateral ventricles

    @classmethod
    def random(
        cls, rng: np.random.Generator, settings: SimulatorSettings, centre_mm: np.ndarray
    ) -> RandomWarp:
        """Draw a warp from ``settings.anatomy``."""
        a = settings.anatomy
        angles = [
            a.tilt_deg.draw_signed(rng),
            a.tilt_deg.draw_signed(rng),
            a.rotation_deg.draw(rng),
        ]
        rotation = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
        length = float(a.warp_length_mm.draw(rng))
        return cls(
            linear=rotation @ np.diag(a.scale.draw(rng, 3)),
            shift_mm=np.array([a.shift_mm.draw_signed(rng) for _ in range(3)]) * [1, 1, 0.5],
            displacement=SmoothField.random_displacement(rng, length),
            amplitude_mm=float(a.warp_mm.draw(rng)),
            ventricles=float(a.ventricles.draw(rng)),
            centre_mm=np.asarray(centre_mm, dtype=np.float64),
        )

    def grid_to_atlas(self, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
        """Template points ``(3, X * Y * Z)`` of the voxel centres of a grid (C order)."""
        index = np.indices(shape, dtype=np.float32).reshape(3, -1)
        inverse = np.linalg.inv(self.linear)
        linear = inverse @ np.asarray(affine)[:3, :3]
        offset = inverse @ (np.asarray(affine)[:3, 3] - self.shift_mm)
        q = linear.astype(np.float32) @ index + offset.astype(np.float32)[:, None]
        for axis, field in enumerate(self.displacement):
            q[axis] += self.amplitude_mm * field.on_grid(shape, affine)
        rel = q - self.centre_mm.astype(np.float32)[:, None]
        g = np.exp(-0.5 * ((rel / self._WIDTH_MM.astype(np.float32)[:, None]) ** 2).sum(axis=0))
        return self.centre_mm.astype(np.float32)[:, None] + rel * (1.0 - self.ventricles * g)

    def z_of(self, points: np.ndarray) -> np.ndarray:
        """Approximate patient z (mm) of template points ``(3, K)`` (no displacement)."""
        return (self.linear @ points + self.shift_mm[:, None])[2]


def _tissue(atlas: Atlas, points: np.ndarray, atrophy: float) -> tuple[np.ndarray, ...]:
    """CSF, GM and WM fractions at template points after atrophy, and the brain fraction."""
    gm, wm, csf = atlas.sample_many(("gm", "wm", "csf"), points)
    near_volume, _ = _atlas_extras(atlas)
    index = np.linalg.inv(atlas.affine)[:3, :3] @ points + np.linalg.inv(atlas.affine)[:3, 3:4]
    near = ndimage.map_coordinates(near_volume, index, order=1, mode="constant")
    lost = atrophy * np.clip(2.0 * near, 0.0, 1.0)
    csf = csf + (gm + wm) * lost
    return csf, gm * (1.0 - lost), wm * (1.0 - lost)


def _healthy_mm(rng: np.random.Generator, settings: SimulatorSettings) -> dict[Metabolite, tuple]:
    """Per metabolite, the patient's (CSF, GM, WM) concentrations (mM)."""
    m = settings.metabolism
    out = {}
    for met in METABOLITES:
        w = float(m.literature_mix.draw(rng))
        gm, wm = (w * a + (1 - w) * b for a, b in zip(LITERATURE_MM[0][met], LITERATURE_MM[1][met]))
        gm *= np.exp(m.tissue_log_spread.draw_signed(rng))
        wm *= np.exp(m.tissue_log_spread.draw_signed(rng))
        out[met] = (float(m.csf_fraction.draw(rng)) * wm, float(gm), float(wm))
    return out


def shown_lesions(
    lesions: list[Lesion],
    shells: Sequence[_Shells],
    parenchyma: np.ndarray,
    channel: int,
) -> list[tuple[np.ndarray, float]]:
    """The ``(weight, relative intensity)`` of every lesion shell visible on an image.

    Args:
        lesions: the patient's lesions.
        shells: their ``(core, solid, halo)`` weights at the image's points.
        parenchyma: GM + WM fraction there (lesions replace tissue, not CSF).
        channel: 0 for T1, 1 for FLAIR.
    """
    return [
        (weight * parenchyma, level)
        for lesion, weights in zip(lesions, shells)
        for weight, level in zip(weights, (lesion.t1, lesion.flair)[channel])
        if level is not None
    ]


def metabolite_truth(
    met: Metabolite,
    healthy: tuple[float, float, float],
    tissue: tuple[np.ndarray, np.ndarray, np.ndarray],
    lesions: list[Lesion],
    shells: Sequence[_Shells],
) -> np.ndarray:
    """Noiseless concentration (mM) of one metabolite at points of the fine grid.

    The partial-volume mixture of the healthy (CSF, GM, WM) concentrations, multiplied by
    ``1 + sum_s w_s (f_s - 1)`` for each lesion (shell weights ``w_s``, factors ``f_s``).
    """
    (csf, gm, wm), (c_csf, c_gm, c_wm) = tissue, healthy
    truth = csf * c_csf + gm * c_gm + wm * c_wm
    for lesion, weights in zip(lesions, shells):
        change = sum(w * (f - 1.0) for w, f in zip(weights, lesion.factors[met]))
        truth = truth * (1.0 + change)
    return np.asarray(truth, dtype=np.float32)


def simulate_randomised_patient(
    patient_id: str,
    rng: np.random.Generator,
    geometry: PhantomGeometry,
    settings: SimulatorSettings,
    realism_rng: np.random.Generator | None = None,
) -> tuple[SimulatedPatient, dict[str, Any]]:
    """Simulate one patient of a randomised cohort.

    Args:
        patient_id: the id to give the patient.
        rng: its random generator (every random choice of the patient comes from it, but
            those of ``settings.realism``).
        geometry: the MRSI grid.
        settings: the ranges to draw from (a preset of :mod:`mrsisr.sim.presets`).
        realism_rng: the generator of the effects of ``settings.realism`` (required with
            them): a stream of its own, so that every other draw is the ``training``
            preset's.

    Returns:
        The patient (maps in mM, 0 outside the mask, on the MRSI grid ``(N, N, Z)``, also
        before noise in ``noiseless``; T1 and FLAIR on the fine grid) with its label volume,
        and the record of what was drawn.
    """
    # The realistic preset's effects draw from a stream of their own, so every other draw is
    # the training preset's.
    realism = None
    if settings.realism is not None:
        if realism_rng is None:
            raise ValueError(f"settings {settings.name!r} have realism effects: give realism_rng")
        realism = RealismDraw.random(realism_rng, settings.realism)
    atlas = load_atlas(geometry.slice_mm)
    _, centre = _atlas_extras(atlas)
    warp = RandomWarp.random(rng, settings, centre)
    atrophy = float(settings.anatomy.atrophy.draw(rng))
    affine = geometry.affine()
    z_low = float(affine[2, 3] - geometry.slice_mm / 2)
    slab = (z_low, z_low + geometry.slices * geometry.slice_mm)
    low, high = settings.anatomy.lesions
    kinds = settings.anatomy.lesion_kinds
    lesions = [
        Lesion.random(rng, kinds[int(rng.integers(len(kinds)))], atlas, warp.z_of, slab)
        for _ in range(int(rng.integers(low, high + 1)))
    ]
    c = settings.contrast
    contrasts = (
        ImageContrast.random(rng, c.t1, c, _T1_SCALP),
        ImageContrast.random(rng, c.flair, c, _FLAIR_SCALP),
    )
    skull = Skull.random(rng) if rng.random() < c.skull_prob else None
    motion = Misregistration.random(rng, c)
    healthy = _healthy_mm(rng, settings)

    fine_shape, fine_affine = geometry.fine_grid()
    points = warp.grid_to_atlas(fine_shape, fine_affine)
    csf, gm, wm = _tissue(atlas, points, atrophy)
    parenchyma = gm + wm
    shells = [lesion.shells(points) for lesion in lesions]  # per lesion (core, solid, halo)
    images = [
        synthesise(
            rng,
            contrast,
            (csf, gm, wm),
            shown_lesions(lesions, shells, parenchyma, channel),
            (fine_shape, fine_affine),
            skull,
            motion,
        )
        for channel, contrast in enumerate(contrasts)
    ]

    # Truth on the fine grid, k-space truncated to the MRSI grid, then smooth fields and noise.
    m = settings.metabolism
    grid = (geometry.shape, affine)
    length = float(m.field_length_mm.draw(rng))
    common = 1.0 + m.common_amplitude.draw(rng) * SmoothField.random(
        rng, length, _FIELD_WAVES
    ).on_grid(*grid)
    scale = float(m.global_scale.draw(rng))
    noise, clean, drawn = {}, {}, {}
    signal = np.zeros(geometry.shape, dtype=np.float32)
    for met in METABOLITES:
        concentrations = healthy[met] if realism is None else realism.healthy(met, healthy[met])
        c_csf, c_gm, c_wm = concentrations
        truth = metabolite_truth(met, concentrations, (csf, gm, wm), lesions, shells)
        amplitude, noise_factor = (
            float(m.field_amplitude.draw(rng)),
            float(m.noise_factor.draw(rng)),
        )
        own = 1.0 + amplitude * SmoothField.random(rng, length, _FIELD_WAVES).on_grid(*grid)
        field = np.clip(common * own * scale, 0.1, None).reshape(geometry.shape)
        noiseless = to_mrsi_grid(truth.reshape(fine_shape), geometry.grid) * field
        if met in _SNR_METABOLITES:
            signal += noiseless / sum(LITERATURE_MM[0][x][1] for x in _SNR_METABOLITES)
        noise[met] = rng.normal(0.0, NOISE_SD_MM[met] * noise_factor, geometry.shape)
        clean[met] = noiseless
        drawn[met.value] = {
            "csf_gm_wm_mm": [c_csf, c_gm, c_wm],
            "field_amplitude": amplitude,
            "noise_sd_mm": NOISE_SD_MM[met] * noise_factor,
        }
    fine = geometry.fine
    blocks = [
        f.reshape(geometry.grid, fine, geometry.grid, fine, -1).mean(axis=(1, 3))
        for f in (csf, gm, wm)
    ]
    brain = to_mrsi_grid((csf + parenchyma).reshape(fine_shape), geometry.grid)
    atlas_z = warp.grid_to_atlas(geometry.shape, affine)[2]
    mask = quality_mask(rng, brain, signal, atlas_z, grid)
    labels = _labels(blocks, shells, parenchyma, geometry)
    if realism is not None and realism_rng is not None:
        clean, noise = apply_effects(realism_rng, realism, clean, noise, brain >= 0.5, grid)
    maps = {met: np.maximum(clean[met] + noise[met], 0.0).astype(np.float32) for met in clean}
    keep = realism is not None and realism.keep_outside
    patient = Patient(
        id=patient_id,
        maps=maps if keep else masked(maps, mask),
        t1=images[0],
        flair=images[1],
        mask=mask,
        affine=affine,
        anatomy_upsample=fine,
        noiseless={m: np.asarray(v, np.float32) for m, v in clean.items()}
        if keep
        else masked(clean, mask),
    )
    record = {
        "simulator": "randomised",
        "preset": settings.name,
        "anatomy": {
            "linear": warp.linear.tolist(),
            "shift_mm": warp.shift_mm.tolist(),
            "warp_mm": warp.amplitude_mm,
            "ventricles": warp.ventricles,
            "atrophy": atrophy,
        },
        "lesions": [
            {
                "kind": lesion.kind.value,
                "radius_mm": lesion.geometry.radius_mm,
                "centre_mm": lesion.geometry.centre_mm.tolist(),
                "visible": lesion.visible,
                "metabolic": lesion.metabolic,
                "t1": list(lesion.t1),
                "flair": list(lesion.flair),
                "factors": {met.value: list(f) for met, f in lesion.factors.items()},
            }
            for lesion in lesions
        ],
        "contrast": {
            name: {
                "tissue_csf_gm_wm": list(ct.tissue),
                "bias_sd": ct.bias_sd,
                "gamma": ct.gamma,
                "noise_sd": ct.noise_sd,
                "resolution_mm": list(ct.resolution_mm),
            }
            for name, ct in zip(("t1", "flair"), contrasts)
        },
        "skull": None if skull is None else vars(skull),
        "misregistration": {
            "shift_mm": motion.shift_mm.tolist(),
            "rotation_deg": motion.rotation_deg.tolist(),
        },
        "metabolism": {"field_length_mm": length, "global_scale": scale, "maps": drawn},
    }
    if realism is not None:
        record["realism"] = realism.record()
    log.debug("%s: %d lesions (%s)", patient_id, len(lesions), [x.kind.value for x in lesions])
    return SimulatedPatient(patient=patient, labels=labels), record


def _labels(
    blocks: list[np.ndarray],
    shells: Sequence[_Shells],
    parenchyma: np.ndarray,
    geometry: PhantomGeometry,
) -> np.ndarray:
    """Dominant compartment per MRSI voxel: 0 background, 1 CSF, 2 GM, 3 WM, 4 lesion halo,
    5 solid lesion, 6 lesion core (the label values of :data:`mrsisr.sim.mrsi.LABELS`)."""
    n, fine = geometry.grid, geometry.fine

    def block(x: np.ndarray) -> np.ndarray:
        return x.reshape(n, fine, n, fine, -1).mean(axis=(1, 3))

    lesion = [
        block(np.max([s[i] for s in shells], axis=0) * parenchyma) if shells else 0 * blocks[0]
        for i in (2, 1, 0)  # halo, solid, core
    ]
    healthy = [b * (1.0 - sum(lesion)) if i else b for i, b in enumerate(blocks)]
    stacked = np.stack([*healthy, *lesion])
    brain = sum(blocks)
    return np.where(brain >= 0.5, 1 + np.argmax(stacked, axis=0), 0).astype(np.uint8)
