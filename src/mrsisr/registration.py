"""Misregistration between a metabolite map and its anatomical images: estimate and correct.

MRSI and MRI are acquired minutes apart; a head that moved a few millimetres between them
puts the anatomy's edges where the map has none, and a network guided by the anatomy then
draws the brain in the wrong place (1 mm already costs about 2 dB). The map itself says
where the brain was during the MRSI scan, at its own resolution, so the anatomy can be
aligned to it:

1. The anatomy (T1, FLAIR and the brain mask derived from them, on the output grid) predicts
   the map as a linear combination of the three images and a constant, each degraded to the
   map's resolution by the acquisition's own k-space truncation (:func:`mrsisr.kspace.
   degrade`), so the prediction is as blurred as the map.
2. The score of a candidate in-plane rigid motion of the anatomy is the fraction of the
   map's variance the prediction explains (R², a least-squares fit of the four weights),
   over the voxels where the map was measured.
3. Shifts are searched on a grid over ``±max_shift_mm``, then refined together with the
   rotation (Nelder-Mead). Translations act in k-space as phase
   ramps, exact for any sub-voxel shift; rotations resample the anatomy.

The result, :class:`Registration`, is the motion to apply to the anatomy, in the output
grid's voxel axes (millimetres and degrees about the field of view's centre);
:meth:`Registration.world` turns it into a world transform that moves an image's affine.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize

from mrsisr import kspace

__all__ = ["Registration", "estimate_registration"]

log = logging.getLogger(__name__)

MAX_SHIFT_MM = 12.0
"""Default search range of the in-plane shift, per axis."""
MAX_ROTATION_DEG = 4.0
"""Default search range of the in-plane rotation."""
_GRID_STEP_MM = 2.0
MAX_SLICES = 16
"""At most this many slices (those where the maps hold the most signal) enter the estimate:
the motion is in-plane and shared by the slices, and the cost grows with them."""


@dataclass(frozen=True)
class Registration:
    """An in-plane rigid motion of the anatomy that aligns it to the map.

    Args:
        shift_mm: ``(d0, d1)``: the shift along the output grid's voxel axes 0 and 1, in mm.
        rotation_deg: rotation about the field of view's centre, from axis 0 towards axis 1.
        score: R² of the anatomy-predicted map after the motion.
        aligned_score: R² without motion.
        centre: the rotation centre, a voxel index of the output grid ``(c0, c1)``.
        voxel_mm: in-plane voxel sizes of the output grid.
    """

    shift_mm: tuple[float, float]
    rotation_deg: float
    score: float
    aligned_score: float
    centre: tuple[float, float]
    voxel_mm: tuple[float, float]

    @property
    def shift_norm_mm(self) -> float:
        """Length of the shift, mm."""
        return float(np.hypot(*self.shift_mm))

    def voxel_transform(self) -> np.ndarray:
        """The 4x4 motion in output voxel coordinates: ``p -> c + R (p - c) + d``."""
        v = np.asarray(self.voxel_mm, dtype=np.float64)
        angle = np.deg2rad(self.rotation_deg)
        rotation_mm = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        rotation = rotation_mm * (1 / v)[:, None] * v[None, :]  # diag(1/v) R diag(v)
        centre = np.asarray(self.centre, dtype=np.float64)
        motion = np.eye(4)
        motion[:2, :2] = rotation
        motion[:2, 3] = centre - rotation @ centre + np.asarray(self.shift_mm) / v
        return motion

    def world(self, affine: np.ndarray) -> np.ndarray:
        """The motion as a 4x4 world transform, for the output grid of ``affine``.

        An image whose affine ``A`` becomes ``world(affine) @ A`` shows its content moved by
        the motion.
        """
        affine = np.asarray(affine, dtype=np.float64)
        return affine @ self.voxel_transform() @ np.linalg.inv(affine)

    def record(self) -> dict:
        """Plain JSON-serialisable values (the provenance sidecar)."""
        return {
            "shift_mm": [round(float(d), 3) for d in self.shift_mm],
            "rotation_deg": round(float(self.rotation_deg), 3),
            "score": round(float(self.score), 5),
            "aligned_score": round(float(self.aligned_score), 5),
            "axes": "output voxel axes 0 and 1; rotation from axis 0 towards axis 1",
        }


class _Problem:
    """The anatomy's features on the output grid and the maps, for scoring motions.

    Args:
        maps: measured maps, each ``(S, n_y, n_x)``.
        features: anatomical images on the output grid, ``(J, S, N_y, N_x)``.
        support: bool ``(S, n_y, n_x)``, the voxels that count.
        voxel_mm: in-plane voxel sizes of the output grid.
    """

    def __init__(
        self,
        maps: Sequence[np.ndarray],
        features: np.ndarray,
        support: np.ndarray,
        voxel_mm: tuple[float, float],
    ) -> None:
        self.features = features
        self.voxel_mm = np.asarray(voxel_mm, dtype=np.float64)
        grid = features.shape[-2:]
        n = support.shape[-2:]
        self.windows = tuple(kspace.kept_indices(N, m) for N, m in zip(grid, n))
        # frequencies of the kept window, in cycles per output voxel
        self.freqs = [(np.arange(N)[w] - N // 2) / N for N, w in zip(grid, self.windows)]
        self.centre = np.array([grid[0] // 2, grid[1] // 2], dtype=np.float64)
        self.support = support
        self.targets = np.stack([m[support] for m in maps], axis=1)  # (P, M)
        self.scale = float(np.sqrt(np.prod(n) / np.prod(grid)))
        self._spectra_of: dict[float, np.ndarray] = {}
        self._coefficients: list[np.ndarray] | None = None

    def _spectra(self, rotation_deg: float) -> np.ndarray:
        """Kept k-space window of the rotated features, ``(J, S, n_y, n_x)``."""
        key = round(float(rotation_deg), 6)
        if key not in self._spectra_of:
            rotated = self.features if key == 0 else self._rotate(key)
            if len(self._spectra_of) > 32:
                self._spectra_of.clear()
            self._spectra_of[key] = kspace.fft2c(rotated)[..., self.windows[0], self.windows[1]]
        return self._spectra_of[key]

    def _rotate(self, rotation_deg: float) -> np.ndarray:
        """Features rotated about the centre (content turned from axis 0 towards axis 1)."""
        motion = Registration(
            (0.0, 0.0),
            rotation_deg,
            0.0,
            0.0,
            (self.centre[0], self.centre[1]),
            (self.voxel_mm[0], self.voxel_mm[1]),
        ).voxel_transform()
        inverse = np.linalg.inv(motion[:2, :2])  # output voxel -> source voxel
        matrix = np.eye(3)
        matrix[1:, 1:] = inverse
        offset = (0.0, *(self.centre - inverse @ self.centre))
        if self._coefficients is None:  # cubic splines: interpolation blurs no rotation more
            self._coefficients = [ndimage.spline_filter(f, mode="nearest") for f in self.features]
        return np.stack(
            [
                ndimage.affine_transform(
                    c, matrix, offset=offset, order=3, mode="nearest", prefilter=False
                )
                for c in self._coefficients
            ]
        )

    def score(self, shift_mm: Sequence[float], rotation_deg: float) -> float:
        """Mean over the maps of the R² of their least-squares prediction by the moved,
        degraded features (and a constant)."""
        k = self._spectra(rotation_deg)
        d = np.asarray(shift_mm, dtype=np.float64) / self.voxel_mm  # output voxels
        ramp = np.exp(-2j * np.pi * np.add.outer(self.freqs[0] * d[0], self.freqs[1] * d[1]))
        predicted = kspace.ifft2c(k * ramp).real * self.scale  # (J, S, n_y, n_x)
        columns = np.stack([np.ones(len(self.targets)), *(p[self.support] for p in predicted)], 1)
        weights, *_ = np.linalg.lstsq(columns, self.targets, rcond=None)  # every map at once
        residual = np.sum((self.targets - columns @ weights) ** 2, axis=0)  # (M,)
        total = np.sum((self.targets - self.targets.mean(axis=0)) ** 2, axis=0)
        scores = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), 0.0)
        return float(np.mean(scores))


def estimate_registration(
    maps: np.ndarray | Sequence[np.ndarray],
    t1: np.ndarray,
    flair: np.ndarray,
    voxel_mm: Sequence[float],
    *,
    brain: np.ndarray | None = None,
    support: np.ndarray | None = None,
    max_shift_mm: float = MAX_SHIFT_MM,
    max_rotation_deg: float = MAX_ROTATION_DEG,
) -> Registration:
    """Estimate the in-plane rigid motion that aligns the anatomy to measured maps.

    Shifts are searched on a 2 mm grid over ``±max_shift_mm`` without rotation (a rotation
    of a few degrees barely moves the best shift), then shift and rotation are refined
    together by Nelder-Mead from the best grid point. Of a volume with more than
    :data:`MAX_SLICES` slices, the slices where the maps hold the most signal are used.

    Args:
        maps: the measured map ``(n_y, n_x, S)``, or several maps of one acquisition (the
            metabolites of a patient), which share the motion.
        t1: T1-weighted image on the output grid ``(N_y, N_x, S)``.
        flair: FLAIR image on the output grid ``(N_y, N_x, S)``.
        voxel_mm: in-plane voxel sizes of the output grid ``(v0, v1)``.
        brain: a brain mask on the output grid that moves with the anatomy (e.g. derived
            from T1 and FLAIR), a third feature; ``None`` to use T1 and FLAIR only.
        support: bool ``(n_y, n_x, S)``, where the maps were measured (default: everywhere).
        max_shift_mm: search range of the shift per axis, mm, ``> 0``.
        max_rotation_deg: search range of the rotation, degrees (0: shifts only).

    Returns:
        The :class:`Registration` (the motion to apply to the anatomy).

    Raises:
        ValueError: for mismatched shapes, or fewer than 10 measured voxels.
    """
    volumes = [maps] if isinstance(maps, np.ndarray) else list(maps)
    stacked = [np.moveaxis(np.asarray(m, dtype=np.float64), 2, 0) for m in volumes]
    shape = stacked[0].shape  # (S, n_y, n_x)
    images = [t1, flair] + ([brain] if brain is not None else [])
    features = np.stack([np.moveaxis(np.asarray(f, dtype=np.float64), 2, 0) for f in images])
    if any(m.shape != shape for m in stacked) or features.ndim != 4:
        raise ValueError("maps must be volumes (n_y, n_x, S) of one shape")
    if (
        features.shape[1] != shape[0]
        or shape[1] > features.shape[2]
        or shape[2] > features.shape[3]
    ):
        raise ValueError(
            f"anatomy of shape {np.shape(t1)} is not on the output grid of maps of shape "
            f"{np.shape(volumes[0])}"
        )
    mask = np.ones(shape, dtype=bool) if support is None else np.moveaxis(support, 2, 0)
    if mask.shape != shape:
        raise ValueError(f"support must have the maps' shape, got {mask.shape} (slices first)")
    if np.count_nonzero(mask) < 10:
        raise ValueError("fewer than 10 measured voxels: the registration cannot be estimated")
    if not max_shift_mm > 0 or not max_rotation_deg >= 0:
        raise ValueError("max_shift_mm must be > 0 and max_rotation_deg >= 0")
    if shape[0] > MAX_SLICES:
        energy = sum(np.sum(np.where(mask, m, 0.0) ** 2, axis=(1, 2)) for m in stacked)
        keep = np.sort(np.argsort(energy)[::-1][:MAX_SLICES])
        stacked, features, mask = [m[keep] for m in stacked], features[:, keep], mask[keep]
    v = (float(voxel_mm[0]), float(voxel_mm[1]))
    problem = _Problem(stacked, features, mask, v)

    steps = max(1, int(np.ceil(max_shift_mm / _GRID_STEP_MM)))
    shifts = np.linspace(-max_shift_mm, max_shift_mm, 2 * steps + 1)
    grid = [(problem.score((d0, d1), 0.0), d0, d1) for d0 in shifts for d1 in shifts]
    _, d0, d1 = max(grid)
    aligned = problem.score((0.0, 0.0), 0.0)
    rotate = max_rotation_deg > 0

    def loss(x: np.ndarray) -> float:
        angle = x[2] if rotate else 0.0
        if max(abs(x[0]), abs(x[1])) > max_shift_mm or abs(angle) > max_rotation_deg:
            return 1.0  # outside the search range: worse than any fit (R² <= 1)
        return -problem.score((x[0], x[1]), angle)

    start = np.array([d0, d1, 0.0])
    simplex = start + np.array([[0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    if not rotate:
        start, simplex = start[:2], simplex[:3, :2]
    result = optimize.minimize(
        loss,
        start,
        method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 0.01, "fatol": 1e-8, "maxiter": 400},
    )
    registration = Registration(
        shift_mm=(float(result.x[0]), float(result.x[1])),
        rotation_deg=float(result.x[2]) if rotate else 0.0,
        score=-float(result.fun),
        aligned_score=aligned,
        centre=(float(problem.centre[0]), float(problem.centre[1])),
        voxel_mm=v,
    )
    log.info(
        "registration of the anatomy to the map: shift %.2f, %.2f mm, rotation %.2f deg "
        "(R² %.4f; %.4f without motion)",
        *registration.shift_mm,
        registration.rotation_deg,
        registration.score,
        aligned,
    )
    return registration
