"""Random T1 and FLAIR images for the randomised simulator, SynthSeg-style.

An image is synthesised from the tissue fractions of a patient on the fine grid: a mean
intensity per tissue and per lesion shell (drawn per patient, :class:`ImageContrast`), an
optional synthetic skull and scalp, a small rigid misregistration from the MRSI grid, the
partial-volume blur of a random acquisition resolution (thick slices along a random axis), a
smooth multiplicative bias field, a gamma transform and noise. Skull-stripped images are
zero outside the (misregistered) brain.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from mrsisr.sim.anatomy import SmoothField
from mrsisr.sim.presets import ContrastRanges, Range, Tissue, TissueRanges

__all__ = ["ImageContrast", "Misregistration", "Skull", "synthesise"]

_FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))


@dataclass(frozen=True)
class Misregistration:
    """A small rigid motion of the images relative to the MRSI grid (about its centre).

    Args:
        shift_mm: ``(3,)`` translation.
        rotation_deg: ``(3,)`` rotations about x, y, z.
    """

    shift_mm: np.ndarray
    rotation_deg: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, ranges: ContrastRanges) -> Misregistration:
        """Draw each component's magnitude from its range, with a random sign."""
        shift = np.array([ranges.shift_mm.draw_signed(rng) for _ in range(3)])
        return cls(shift, np.array([ranges.rotation_deg.draw_signed(rng) for _ in range(3)]))

    def apply(self, volume: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Resample ``volume`` (on the grid of ``affine``) as seen after the motion."""
        rotation = Rotation.from_euler("xyz", self.rotation_deg, degrees=True).as_matrix()
        centre = affine[:3, :3] @ (np.array(volume.shape) - 1) / 2 + affine[:3, 3]
        # World point x shows what was at R (x - c) + c + t: in voxel indices, i -> A^-1 ...
        linear = np.linalg.inv(affine[:3, :3]) @ rotation @ affine[:3, :3]
        world_offset = rotation @ (affine[:3, 3] - centre) + centre + self.shift_mm
        offset = np.linalg.solve(affine[:3, :3], world_offset - affine[:3, 3])
        return ndimage.affine_transform(volume, linear, offset, order=1, mode="nearest")


@dataclass(frozen=True)
class Skull:
    """A synthetic skull and scalp around the brain of an image that is not skull-stripped.

    Args:
        gap_mm: extra-cerebral CSF between the brain and the bone.
        bone_mm: bone thickness (dark on both images).
        scalp_mm: scalp thickness (fat: bright on T1).
    """

    gap_mm: float
    bone_mm: float
    scalp_mm: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Skull:
        """Draw thicknesses: gap 1-4 mm, bone 4-8 mm, scalp 3-8 mm."""
        return cls(float(rng.uniform(1, 4)), float(rng.uniform(4, 8)), float(rng.uniform(3, 8)))

    def layers(self, brain: np.ndarray, spacing: np.ndarray) -> tuple[np.ndarray, ...]:
        """Masks ``(gap, bone, scalp)`` outside a boolean brain volume."""
        distance = ndimage.distance_transform_edt(~brain, sampling=spacing)
        edges = np.cumsum([0.0, self.gap_mm, self.bone_mm, self.scalp_mm])
        return tuple((distance > a) & (distance <= b) for a, b in itertools.pairwise(edges))


@dataclass(frozen=True)
class ImageContrast:
    """The drawn contrast and acquisition of one image.

    Args:
        tissue: mean intensity of CSF, GM and WM.
        bone: intensity of the skull; scalp: of the scalp.
        bias_sd: strength of the log bias field; bias: the field itself.
        gamma: exponent of the gamma transform.
        noise_sd: noise level relative to the 99.5th percentile.
        resolution_mm: ``(3,)`` acquisition resolution per axis.
    """

    tissue: tuple[float, float, float]
    bone: float
    scalp: float
    bias_sd: float
    bias: SmoothField
    gamma: float
    noise_sd: float
    resolution_mm: tuple[float, float, float]

    @classmethod
    def random(
        cls, rng: np.random.Generator, means: TissueRanges, ranges: ContrastRanges, scalp: Range
    ) -> ImageContrast:
        """Draw one image's contrast from the tissue ``means`` and the shared ``ranges``."""
        csf, gm, wm = (float(means[t].draw(rng)) for t in Tissue)
        resolution = [float(ranges.inplane_mm.draw(rng)) for _ in range(3)]
        resolution[int(rng.integers(3))] = float(ranges.thick_mm.draw(rng))
        x_mm, y_mm, z_mm = resolution
        return cls(
            tissue=(csf, gm, wm),
            bone=float(rng.uniform(0.0, 0.15)),
            scalp=float(scalp.draw(rng)),
            bias_sd=float(ranges.bias_sd.draw(rng)),
            bias=SmoothField.random(rng, float(ranges.bias_length_mm.draw(rng))),
            gamma=float(np.exp(ranges.log_gamma.draw_signed(rng))),
            noise_sd=float(ranges.noise_sd.draw(rng)),
            resolution_mm=(x_mm, y_mm, z_mm),
        )

    @property
    def reference(self) -> float:
        """The mean of GM and WM intensity, the unit of lesion intensities."""
        return 0.5 * (self.tissue[1] + self.tissue[2])


def synthesise(
    rng: np.random.Generator,
    contrast: ImageContrast,
    tissue: tuple[np.ndarray, np.ndarray, np.ndarray],
    lesions: list[tuple[np.ndarray, float]],
    grid: tuple[tuple[int, int, int], np.ndarray],
    skull: Skull | None,
    motion: Misregistration,
) -> np.ndarray:
    """One image on the fine grid, ``(X, Y, Z)`` float32, non-negative.

    Args:
        rng: random generator (noise).
        contrast: the image's drawn contrast.
        tissue: CSF, GM and WM fractions, each flat ``(X * Y * Z,)``.
        lesions: ``(weight, relative intensity)`` of each lesion shell that shows on this
            image, in drawing order; the weight (flat) replaces that much of the voxel.
        grid: shape and affine of the fine grid.
        skull: the skull to add, or ``None`` for a skull-stripped image.
        motion: the misregistration to apply.
    """
    shape, affine = grid
    mixture = sum(f * mu for f, mu in zip(tissue, contrast.tissue))
    for weight, level in lesions:
        mixture = (1.0 - weight) * mixture + weight * level * contrast.reference
    csf, gm, wm = tissue
    brain_fraction = (csf + gm + wm).reshape(shape)
    image = np.asarray(mixture, dtype=np.float32).reshape(shape)
    brain = brain_fraction > 0.5
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    if skull is not None:
        gap, bone, scalp = skull.layers(brain, spacing)
        outside = 1.0 - np.clip(brain_fraction, 0.0, 1.0)
        layers = gap * contrast.tissue[0] + bone * contrast.bone + scalp * contrast.scalp
        image = image + outside * layers.astype(np.float32)
    image = motion.apply(image, affine)
    sigmas = [
        np.sqrt(max(r**2 - s**2, 0.0)) * _FWHM_TO_SIGMA / s
        for r, s in zip(contrast.resolution_mm, spacing)
    ]
    image = ndimage.gaussian_filter(image, sigmas, mode="nearest")
    image *= np.exp(contrast.bias_sd * contrast.bias.on_grid(shape, affine)).reshape(shape)
    image = np.maximum(image, 0.0)
    top = float(np.percentile(image[image > 0], 99.5)) if np.any(image > 0) else 1.0
    image = (image / max(top, 1e-6)) ** contrast.gamma
    noise = rng.normal(0.0, contrast.noise_sd, shape)
    image = np.abs(image + noise)
    if skull is None:  # skull-stripped: zero outside the brain, which moved with the image
        image = np.where(motion.apply(brain.astype(np.float32), affine) > 0.5, image, 0.0)
    return image.astype(np.float32)
