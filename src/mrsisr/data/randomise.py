"""Settings of the randomised simulator: every range it draws from, and its named presets.

The randomised simulator (:mod:`mrsisr.data.randomised`) follows the domain randomisation of
SynthSeg and SynthSR (Billot et al., Medical Image Analysis 2023; Iglesias et al., Science
Advances 2023): each patient draws its own anatomy, image contrast and metabolism from wide
ranges, so that a network cannot learn one fixed rule between the images and the maps.

Two presets (:class:`Preset`):

* ``training`` (:data:`TRAINING`): the ranges a model is trained on.
* ``shifted`` (:data:`SHIFTED`): a test set drawn with settings training never used: another
  contrast family (a contrast-enhanced T1 with less dark CSF, incompletely suppressed CSF on
  FLAIR, stronger bias fields and gamma, thicker slices), other lesion kinds (cysts,
  demyelinating lesions) and other metabolite relations (grey/white-matter ratios and smooth
  fields beyond the training spread). The fields listed in :data:`SHIFTED_FIELDS` are disjoint from
  training's (tested); the others are shared.

Every range is documented, with its reason, in ``docs/data-pipeline.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, overload

import numpy as np

from mrsisr.metabolites import Metabolite
from mrsisr.options import StrEnum

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "PRESETS",
    "SHIFTED",
    "SHIFTED_FIELDS",
    "TRAINING",
    "AnatomyRanges",
    "ContrastRanges",
    "LesionKind",
    "MetabolismRanges",
    "Preset",
    "Range",
    "SimulatorSettings",
    "Tissue",
    "TissueRanges",
]

M = Metabolite


@dataclass(frozen=True)
class Range:
    """A closed interval ``[low, high]`` that values are drawn from uniformly.

    Args:
        low: lower bound.
        high: upper bound (``>= low``; equal bounds give a constant).
    """

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low <= self.high):
            raise ValueError(f"Range needs finite low <= high, got [{self.low}, {self.high}]")

    @overload
    def draw(self, rng: np.random.Generator, size: None = None) -> float: ...
    @overload
    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray: ...
    def draw(self, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
        """One value (``size=None``) or ``size`` values, uniform in the interval."""
        values = rng.uniform(self.low, self.high, size)
        return float(values) if size is None else values

    def draw_signed(self, rng: np.random.Generator) -> float:
        """A magnitude drawn from the interval with a random sign (for ``|x|`` ranges)."""
        return float(rng.choice((-1.0, 1.0))) * self.draw(rng)

    def contains(self, value: float) -> bool:
        """Whether ``low <= value <= high`` (with float32 slack)."""
        eps = 1e-6 * max(1.0, abs(self.low), abs(self.high))
        return self.low - eps <= value <= self.high + eps

    def overlaps(self, other: Range) -> bool:
        """Whether the two intervals share a point."""
        return self.low <= other.high and other.low <= self.high


class Tissue(StrEnum):
    """The healthy tissue classes images are synthesised from."""

    csf = "csf"
    gm = "gm"
    wm = "wm"


class LesionKind(StrEnum):
    """Kinds of lesion; each has its own shape, image and metabolic pattern
    (:data:`mrsisr.data.lesions.LESION_PATTERNS`)."""

    glioma = "glioma"  # necrotic core, solid tumour, infiltrated oedema; visible and metabolic
    flair_only = "flair_only"  # FLAIR hyperintensity with normal metabolism (gliosis, WMH)
    metabolic_only = "metabolic_only"  # metabolic change with normal images (infiltration)
    cyst = "cyst"  # fluid-filled cavity, enhancing wall: no metabolites inside
    demyelinating = "demyelinating"  # enhancing, FLAIR-bright; tCho, Ins, Glu up, NAA down


@dataclass(frozen=True)
class TissueRanges:
    """One :class:`Range` per healthy tissue; ``ranges[Tissue.gm]`` reads one."""

    csf: Range
    gm: Range
    wm: Range

    def __getitem__(self, tissue: Tissue) -> Range:
        return getattr(self, Tissue(tissue).value)


@dataclass(frozen=True)
class ContrastRanges:
    """How a patient's T1 and FLAIR images are synthesised from its tissue fractions.

    Intensities are on a [0, 1] scale before bias, gamma and noise; the orderings overlap on
    purpose (grey matter may be brighter than white matter on "T1").

    Args:
        t1: mean intensity of each tissue on the T1 channel.
        flair: mean intensity of each tissue on the FLAIR channel.
        bias_sd: standard deviation of the log bias field (0.2: about ±20 %).
        bias_length_mm: correlation length of the bias field.
        log_gamma: ``|log gamma|``; intensities become ``x ** gamma`` (random sign).
        noise_sd: Gaussian noise, as a fraction of the image's 99.5th percentile.
        inplane_mm: acquisition resolution of the two thin axes.
        thick_mm: acquisition resolution of the thick (slice) axis, itself drawn among the
            three axes: the partial-volume blur of a thick-slice 2-D acquisition.
        skull_prob: probability that an image keeps a synthetic skull and scalp (is not
            skull-stripped).
        shift_mm: ``|shift|`` per axis of the images relative to the MRSI grid.
        rotation_deg: ``|rotation|`` about each axis of the images relative to the MRSI grid.
    """

    t1: TissueRanges = TissueRanges(Range(0.02, 0.40), Range(0.30, 0.80), Range(0.50, 1.00))
    flair: TissueRanges = TissueRanges(Range(0.00, 0.25), Range(0.35, 0.80), Range(0.25, 0.70))
    bias_sd: Range = Range(0.0, 0.25)
    bias_length_mm: Range = Range(50.0, 120.0)
    log_gamma: Range = Range(0.0, 0.3)
    noise_sd: Range = Range(0.0, 0.04)
    inplane_mm: Range = Range(1.0, 2.0)
    thick_mm: Range = Range(1.0, 5.0)
    skull_prob: float = 0.3
    shift_mm: Range = Range(0.0, 2.5)
    rotation_deg: Range = Range(0.0, 2.5)


@dataclass(frozen=True)
class AnatomyRanges:
    """How a patient's anatomy departs from the MNI152 template.

    Args:
        scale: head size per axis relative to the template (anisotropic).
        rotation_deg: in-plane (axial) rotation.
        tilt_deg: ``|rotation|`` about the two in-plane axes (head tilt and nod).
        shift_mm: ``|shift|`` per axis.
        warp_mm: amplitude (standard deviation per component) of the smooth deformation.
        warp_length_mm: its correlation length (smaller: more local deformation).
        ventricles: ventricle change; > 0 enlarges the ventricles (up to 1 / (1 - v) times
            at their centre), < 0 shrinks them.
        atrophy: fraction of the tissue next to CSF that becomes CSF (widened sulci).
        lesions: smallest and largest number of lesions (inclusive).
        lesion_kinds: the kinds a lesion is drawn from (uniformly).
    """

    scale: Range = Range(0.88, 1.12)
    rotation_deg: Range = Range(-15.0, 15.0)
    tilt_deg: Range = Range(0.0, 6.0)
    shift_mm: Range = Range(0.0, 8.0)
    warp_mm: Range = Range(2.0, 6.0)
    warp_length_mm: Range = Range(15.0, 40.0)
    ventricles: Range = Range(-0.2, 0.45)
    atrophy: Range = Range(0.0, 0.5)
    lesions: tuple[int, int] = (0, 3)
    lesion_kinds: tuple[LesionKind, ...] = (
        LesionKind.glioma,
        LesionKind.flair_only,
        LesionKind.metabolic_only,
    )


@dataclass(frozen=True)
class MetabolismRanges:
    """How a patient's metabolite maps are drawn.

    Args:
        literature_mix: weight of the first of the two literature tables
            (:data:`mrsisr.data.randomised.LITERATURE_MM`) in a patient's healthy centre.
        tissue_log_spread: ``|log factor|`` of each tissue's concentration around that
            centre, drawn per patient, metabolite and tissue (0.2: about ±22 %).
        csf_fraction: CSF concentration as a fraction of the white-matter one.
        field_amplitude: standard deviation of a metabolite's own smooth field.
        common_amplitude: standard deviation of the smooth field shared by all metabolites.
        field_length_mm: correlation length of the smooth fields (not tied to anatomy).
        noise_factor: multiple of the reference noise (:data:`mrsisr.data.tissue.NOISE_SD_MM`)
            per metabolite: SNR drawn per patient and metabolite.
        global_scale: concentration scale of the patient (quantification reference).
    """

    literature_mix: Range = Range(0.0, 1.0)
    tissue_log_spread: Range = Range(0.0, 0.2)
    csf_fraction: Range = Range(0.0, 0.05)
    field_amplitude: Range = Range(0.0, 0.2)
    common_amplitude: Range = Range(0.0, 0.12)
    field_length_mm: Range = Range(25.0, 80.0)
    noise_factor: Range = Range(0.5, 2.0)
    global_scale: Range = Range(0.85, 1.15)


@dataclass(frozen=True)
class SimulatorSettings:
    """Every range of the randomised simulator.

    Args:
        name: the preset's name (recorded in the cohort's provenance).
        contrast: image contrast and acquisition of T1 and FLAIR.
        anatomy: geometry, atrophy and lesions.
        metabolism: concentrations, fields and noise of the maps.
    """

    name: str = "custom"
    contrast: ContrastRanges = field(default_factory=ContrastRanges)
    anatomy: AnatomyRanges = field(default_factory=AnatomyRanges)
    metabolism: MetabolismRanges = field(default_factory=MetabolismRanges)

    def ranges(self) -> dict[str, Range]:
        """Every :class:`Range` by dotted name (``"contrast.t1.csf"``, ``"anatomy.scale"``)."""
        return _ranges(self, "")


def _ranges(obj: DataclassInstance | type[DataclassInstance], prefix: str) -> dict[str, Range]:
    out: dict[str, Range] = {}
    for item in fields(obj):
        member = getattr(obj, item.name)
        if isinstance(member, Range):
            out[prefix + item.name] = member
        elif is_dataclass(member):
            out.update(_ranges(member, f"{prefix}{item.name}."))
    return out


class Preset(StrEnum):
    """Named simulator settings."""

    training = "training"
    shifted = "shifted"


TRAINING = SimulatorSettings(name=Preset.training.value)

SHIFTED = SimulatorSettings(
    name=Preset.shifted.value,
    contrast=ContrastRanges(
        # Another contrast family: a contrast-enhanced T1 (lesions brighter than tissue, see
        # mrsisr.data.lesions) with less dark CSF, FLAIR with incomplete CSF suppression (as
        # B1 inhomogeneity gives at 7 T), stronger bias and gamma, thicker slices.
        t1=TissueRanges(Range(0.42, 0.55), Range(0.30, 0.80), Range(0.50, 1.00)),
        flair=TissueRanges(Range(0.28, 0.40), Range(0.35, 0.80), Range(0.25, 0.70)),
        bias_sd=Range(0.30, 0.40),
        log_gamma=Range(0.35, 0.45),
        thick_mm=Range(5.5, 7.0),
    ),
    anatomy=AnatomyRanges(lesions=(1, 3), lesion_kinds=(LesionKind.cyst, LesionKind.demyelinating)),
    metabolism=MetabolismRanges(
        tissue_log_spread=Range(0.25, 0.35),
        field_amplitude=Range(0.22, 0.30),
        field_length_mm=Range(14.0, 22.0),
    ),
)

PRESETS: MappingProxyType[Preset, SimulatorSettings] = MappingProxyType(
    {Preset.training: TRAINING, Preset.shifted: SHIFTED}
)

SHIFTED_FIELDS: tuple[str, ...] = (
    "contrast.t1.csf",
    "contrast.flair.csf",
    "contrast.bias_sd",
    "contrast.log_gamma",
    "contrast.thick_mm",
    "metabolism.tissue_log_spread",
    "metabolism.field_amplitude",
    "metabolism.field_length_mm",
)
"""The ranges of :data:`SHIFTED` that do not overlap :data:`TRAINING`'s (and the lesion
kinds, which are disjoint sets)."""
