"""A high-grade glioma for the in-silico cohort: necrotic core, enhancing rim, oedema.

The tumour lives in template (MNI) space, so it moves with the patient's anatomy. Its shape
is a ball made irregular by a smooth random field: with ``r`` the distance to the centre,
the solid tumour is where ``1 - r / R + a f(q) > 0``, the necrotic core the same shape
shrunk by the thickness of the enhancing rim, and the oedema a wider, softer level set of a
second field. Edges are sigmoids about 1.5 mm wide, which gives partial-volume fractions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import ndimage

from mrsisr.sim.anatomy import Atlas, PatientWarp, SmoothField

__all__ = ["LesionFractions", "Tumour"]

_EDGE_MM = 1.5  # width of the tumour's boundary


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class LesionFractions(NamedTuple):
    """Per-point weights in ``[0, 1]`` of the lesion compartments, each ``(M,)``."""

    enhancing: np.ndarray
    necrosis: np.ndarray
    oedema: np.ndarray


@functools.lru_cache(maxsize=1)
def _depth_map(atlas: Atlas) -> tuple[np.ndarray, np.ndarray]:
    """Distance (mm) to the outside of the brain on a 2 mm grid, and that grid's affine."""
    brain = atlas.brain[::2, ::2, ::2] > 0.5
    spacing = 2.0 * np.abs(np.diag(atlas.affine)[:3])
    affine = atlas.affine.copy()
    affine[:3, :3] *= 2.0
    return ndimage.distance_transform_edt(brain, sampling=spacing), affine


@dataclass(frozen=True)
class Tumour:
    """Geometry of one tumour, in template coordinates (mm).

    Args:
        centre_mm: ``(3,)`` centre.
        radius_mm: radius of the solid tumour (enhancing rim and necrotic core).
        rim_mm: thickness of the enhancing rim around the necrotic core (0: no necrosis).
        oedema_mm: how far the oedema reaches beyond the solid tumour.
        shape: field that makes the boundary irregular.
        oedema_shape: field that makes the oedema irregular.
        irregularity: weight of ``shape`` and ``oedema_shape``.
    """

    centre_mm: np.ndarray
    radius_mm: float
    rim_mm: float
    oedema_mm: float
    shape: SmoothField
    oedema_shape: SmoothField
    irregularity: float

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        atlas: Atlas,
        warp: PatientWarp,
        z_range_mm: tuple[float, float],
    ) -> Tumour:
        """Draw a tumour centred in white matter, deep enough to stay inside the brain.

        Args:
            rng: random generator.
            atlas: the template (its white matter and brain mask choose the centre).
            warp: the patient's geometry.
            z_range_mm: patient-space z range the centre must lie in (the imaged slab).
        """
        radius = float(rng.uniform(10.0, 22.0))
        depth, affine = _depth_map(atlas)
        deep = depth >= 6.0
        points = affine[:3, :3] @ np.array(np.nonzero(deep), dtype=np.float64) + affine[:3, 3:4]
        depth = depth[deep]
        z = warp.from_atlas(points)[2]
        wm = atlas.sample("wm", points)
        low, high = z_range_mm
        margin = min(radius / 2, (high - low) / 4)
        in_slab = (z >= low + margin) & (z <= high - margin)
        for min_depth, min_wm in ((radius + 6.0, 0.6), (radius / 2 + 4, 0.5), (6.0, 0.3)):
            candidates = np.flatnonzero(in_slab & (depth >= min_depth) & (wm >= min_wm))
            if candidates.size:
                break
        else:
            candidates = np.arange(depth.size)
        centre = points[:, rng.choice(candidates)] + rng.uniform(-1.0, 1.0, 3)
        return cls(
            centre_mm=centre,
            radius_mm=radius,
            rim_mm=float(rng.uniform(3.0, 7.0)) if rng.random() < 0.8 else 0.0,
            oedema_mm=float(rng.uniform(0.6, 1.3)) * radius,
            shape=SmoothField.random(rng, length=0.6 * radius),
            oedema_shape=SmoothField.random(rng, length=radius),
            irregularity=float(rng.uniform(0.25, 0.4)),
        )

    def fractions(self, points: np.ndarray) -> LesionFractions:
        """Lesion weights at template points ``(3, M)``; they sum to at most 1."""
        empty = np.zeros(points.shape[1], dtype=np.float32)
        r = np.linalg.norm(points - self.centre_mm[:, None].astype(points.dtype), axis=0)
        reach = self.radius_mm + self.oedema_mm
        # Fields are bounded by |f| <= sqrt(2K), but beyond 2x the reach every weight is ~0.
        near = np.flatnonzero(r < 2.0 * reach)
        if near.size == 0:
            return LesionFractions(empty, empty.copy(), empty.copy())
        points, r = points[:, near], r[near]
        a = self.irregularity
        solid_level = 1.0 - r / self.radius_mm + a * self.shape(points)
        solid = _sigmoid(solid_level * self.radius_mm / _EDGE_MM)
        if self.rim_mm > 0:
            core_level = solid_level - self.rim_mm / self.radius_mm
            necrosis = _sigmoid(core_level * self.radius_mm / _EDGE_MM)
        else:
            necrosis = np.zeros_like(solid)
        oedema_level = 1.0 - r / reach + a * self.oedema_shape(points)
        oedema = np.clip(_sigmoid(oedema_level * reach / (2 * _EDGE_MM)) - solid, 0.0, 1.0)
        out = LesionFractions(empty, empty.copy(), empty.copy())
        for full, part in zip(out, (solid - necrosis, necrosis, oedema)):
            full[near] = part
        return out
