"""Brain anatomy for the in-silico cohort: the MNI152 template, warped per patient.

The anatomy is the MNI152 2009c symmetric template (T1 image, grey- and white-matter
probability maps, 1 mm) that nilearn ships inside its wheel, so it loads offline. CSF is the
brain mask (template T1 > 0.2, nilearn's definition) minus grey and white matter, clipped.

Each patient is the template seen through its own random geometry (:class:`PatientWarp`):
a scale (head size), an in-plane rotation, a shift and a smooth random displacement field,
so that no two patients share anatomy.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from mrsisr.data.nifti import load_volume
from mrsisr.errors import UserError

__all__ = ["Atlas", "PatientWarp", "SmoothField", "load_atlas"]

log = logging.getLogger(__name__)

# File names of the 1 mm template in nilearn's package data (nilearn.datasets.data).
_TEMPLATE_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
_BRAIN_THRESHOLD = 0.2  # nilearn's load_mni152_brain_mask threshold on the [0, 1] T1


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (it is cached)
class Atlas:
    """Template volumes on one grid, each ``(X, Y, Z)`` float32 in ``[0, 1]``.

    Args:
        t1: T1-weighted template image (skull-stripped).
        gm: grey-matter probability.
        wm: white-matter probability.
        csf: cerebrospinal-fluid probability (brain mask minus GM and WM).
        brain: brain mask as 0/1.
        affine: 4x4 voxel-to-world (MNI, mm) affine.
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    csf: np.ndarray
    brain: np.ndarray
    affine: np.ndarray

    def sample(self, name: str, points: np.ndarray) -> np.ndarray:
        """Linearly interpolate volume ``name`` at world points ``(3, M)``; 0 outside."""
        return self.sample_many((name,), points)[0]

    def sample_many(self, names: tuple[str, ...], points: np.ndarray) -> list[np.ndarray]:
        """:meth:`sample` of several volumes at the same points (the index is computed once)."""
        inverse = np.linalg.inv(self.affine)
        index = inverse[:3, :3] @ points + inverse[:3, 3:4]
        return [
            ndimage.map_coordinates(getattr(self, name), index, order=1, mode="constant")
            for name in names
        ]


def _template_paths() -> dict[str, Path]:
    """Locate nilearn's bundled template without importing nilearn (a slow import)."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or spec.origin is None:
        raise UserError(
            "the in-silico phantom needs the MNI152 template of nilearn, an optional "
            "dependency: pip install 'mrsisr[sim]'"
        )
    folder = Path(spec.origin).parent / "datasets" / "data"
    return {key: folder / name for key, name in _TEMPLATE_FILES.items()}


def _load_template() -> tuple[dict[str, np.ndarray], np.ndarray]:
    paths = _template_paths()
    if all(p.is_file() for p in paths.values()):
        loaded = {key: load_volume(path) for key, path in paths.items()}
        return {key: v for key, (v, _) in loaded.items()}, loaded["t1"][1]
    # Layout of nilearn changed: fall back on its public (slower) loaders.
    from nilearn import datasets

    images = {
        "t1": datasets.load_mni152_template(resolution=1),
        "gm": datasets.load_mni152_gm_template(resolution=1),
        "wm": datasets.load_mni152_wm_template(resolution=1),
    }
    volumes = {k: np.asarray(img.get_fdata(), dtype=np.float32) for k, img in images.items()}
    return volumes, np.asarray(images["t1"].affine, dtype=np.float64)


@functools.lru_cache(maxsize=4)
def load_atlas(slice_mm: float = 0.0) -> Atlas:
    """The MNI152 template, optionally averaged over the thickness of an MRSI slice.

    Args:
        slice_mm: thickness (mm) of the slices it will be sampled for; the volumes are
            smoothed along the third axis by a Gaussian of the same variance as a box of
            that width (a slice profile). 0 keeps the 1 mm template.

    Returns:
        The cached :class:`Atlas` (do not modify its arrays).
    """
    volumes, affine = _load_template()
    # Crop to the brain (plus a margin for the slice profile), then scale each volume to [0, 1].
    inside = volumes["t1"] > _BRAIN_THRESHOLD * float(volumes["t1"].max())
    spans = [np.flatnonzero(inside.any(axis=tuple({0, 1, 2} - {a}))) for a in range(3)]
    low = np.array([max(int(span[0]) - 8, 0) for span in spans])
    high = np.array([int(span[-1]) + 9 for span in spans])
    box = tuple(slice(a, b) for a, b in zip(low, high))
    volumes = {k: v[box] / max(float(v.max()), 1e-6) for k, v in volumes.items()}
    affine = affine.copy()
    affine[:3, 3] += affine[:3, :3] @ low
    brain = (volumes["t1"] > _BRAIN_THRESHOLD).astype(np.float32)
    gm = np.clip(volumes["gm"], 0, 1) * brain
    wm = np.clip(volumes["wm"], 0, 1) * brain
    excess = np.maximum(gm + wm - 1.0, 0.0)  # keep fractions summing to <= 1
    gm, wm = gm - excess / 2, wm - excess / 2
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    atlas = {"t1": volumes["t1"] * brain, "gm": gm, "wm": wm, "csf": csf, "brain": brain}
    if slice_mm > 0:
        sigma = slice_mm / np.sqrt(12.0) / abs(float(affine[2, 2]))
        atlas = {  # the brain mask only serves to place tumours: no need to smooth it
            k: v if k == "brain" else ndimage.gaussian_filter1d(v, sigma, axis=2, output=np.float32)
            for k, v in atlas.items()
        }
    log.debug("loaded MNI152 atlas %s, slice profile %.1f mm", gm.shape, slice_mm)
    return Atlas(**{k: v.astype(np.float32, copy=False) for k, v in atlas.items()}, affine=affine)


@dataclass(frozen=True)
class SmoothField:
    """A smooth random field of unit variance: a sum of random plane waves.

    Random Fourier features of a Gaussian kernel: ``f(p) = sqrt(2 / K) sum_k
    cos(w_k . p + phi_k)`` with ``w_k ~ N(0, I / length^2)``, so ``f`` is smooth on the scale
    ``length`` (mm) and cheap to evaluate anywhere.

    Args:
        freqs: ``(K, 3)`` angular frequencies (rad / mm).
        phases: ``(K,)`` phases.
    """

    freqs: np.ndarray
    phases: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, length: float, waves: int = 8) -> SmoothField:
        """Draw a field with correlation length ``length`` (mm) from ``waves`` plane waves."""
        return cls(rng.normal(0.0, 1.0 / length, (waves, 3)), rng.uniform(0, 2 * np.pi, waves))

    @classmethod
    def random_displacement(
        cls, rng: np.random.Generator, length: float
    ) -> tuple[SmoothField, SmoothField, SmoothField]:
        """Three independent fields, one per axis ``(x, y, z)``, drawn in that order."""
        return cls.random(rng, length), cls.random(rng, length), cls.random(rng, length)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Values at world points ``(3, M)``, shape ``(M,)`` float32."""
        phase = self.freqs.astype(np.float32) @ points.astype(np.float32)
        phase += self.phases.astype(np.float32)[:, None]
        return np.sqrt(2.0 / len(self.phases)) * np.cos(phase).sum(axis=0)

    def on_grid(self, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
        """Values at the voxel centres of a grid, flattened in C order, shape ``(X * Y * Z,)``.

        Equal to ``self(points)`` for the grid's points, but each wave is a product of one
        complex exponential per axis (the phase is linear in the voxel index), which turns
        the sum over waves into one matrix product instead of a cosine per point and wave.
        """
        steps = self.freqs @ np.asarray(affine, dtype=np.float64)[:3, :3]  # (K, 3) rad / voxel
        start = np.exp(1j * (self.freqs @ np.asarray(affine)[:3, 3] + self.phases))
        axes = [np.exp(1j * np.outer(steps[:, a], np.arange(n))) for a, n in enumerate(shape)]
        plane = (start[:, None, None] * axes[0][:, :, None] * axes[1][:, None, :]).reshape(
            len(self.phases), -1
        )
        values = (plane.T @ axes[2]).real  # (X * Y, Z)
        return (np.sqrt(2.0 / len(self.phases)) * values).astype(np.float32).ravel()


@dataclass(frozen=True)
class PatientWarp:
    """Where a point of a patient's head lies in the template: ``q = R^T (p - t) / s + d(p)``.

    Args:
        scale: head size relative to the template.
        angle_deg: in-plane (axial) rotation.
        shift_mm: ``(3,)`` translation.
        displacement: three smooth fields, the displacement components.
        amplitude_mm: standard deviation of each displacement component.
    """

    scale: float
    angle_deg: float
    shift_mm: np.ndarray
    displacement: tuple[SmoothField, SmoothField, SmoothField]
    amplitude_mm: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> PatientWarp:
        """A plausible patient: head size ±8 %, rotation ±10°, shift ±6 mm, 3 mm warps."""
        return cls(
            scale=float(rng.uniform(0.92, 1.08)),
            angle_deg=float(rng.uniform(-10.0, 10.0)),
            shift_mm=rng.uniform(-6.0, 6.0, 3) * np.array([1.0, 1.0, 0.5]),
            displacement=SmoothField.random_displacement(rng, length=25.0),
            amplitude_mm=3.0,
        )

    def rotation(self) -> np.ndarray:
        """The 3x3 in-plane rotation ``R``."""
        a = np.deg2rad(self.angle_deg)
        return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1]])

    def to_atlas(self, points: np.ndarray) -> np.ndarray:
        """Map patient world points ``(3, M)`` to template world points ``(3, M)``."""
        linear = self.rotation().T / self.scale
        out = linear @ (points - self.shift_mm[:, None])
        for axis, field in enumerate(self.displacement):
            out[axis] += self.amplitude_mm * field(points)
        return out

    def grid_to_atlas(self, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
        """:meth:`to_atlas` of the voxel centres of a grid (C order), faster; ``(3, M)``."""
        index = np.indices(shape, dtype=np.float32).reshape(3, -1)
        linear = (self.rotation().T / self.scale) @ np.asarray(affine)[:3, :3]
        offset = (self.rotation().T / self.scale) @ (np.asarray(affine)[:3, 3] - self.shift_mm)
        out = linear.astype(np.float32) @ index + offset.astype(np.float32)[:, None]
        for axis, field in enumerate(self.displacement):
            out[axis] += self.amplitude_mm * field.on_grid(shape, affine)
        return out

    def from_atlas(self, points: np.ndarray) -> np.ndarray:
        """Approximate inverse of :meth:`to_atlas` that ignores the small displacement."""
        return self.scale * self.rotation() @ points + self.shift_mm[:, None]
