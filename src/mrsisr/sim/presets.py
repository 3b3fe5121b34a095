"""Settings of the randomised simulator: every range it draws from, and its named presets.

The randomised simulator (:mod:`mrsisr.sim.randomised`) follows the domain randomisation of
SynthSeg and SynthSR (Billot et al., Medical Image Analysis 2023; Iglesias et al., Science
Advances 2023): each patient draws its own anatomy, image contrast and metabolism from wide
ranges, so that a network cannot learn one fixed rule between the images and the maps.

Three presets (:class:`Preset`):

* ``training`` (:data:`TRAINING`): the ranges a model is trained on.
* ``realistic`` (:data:`REALISTIC`): ``training`` widened toward what real maps show
  (:class:`RealismRanges`: weak tissue contrast, variation that follows no tissue, a
  lipid-like rim, heavy-tailed and spatially varying noise, fit outliers, signal outside
  the brain), each effect drawn per patient or metabolite from none to strong.
* ``shifted`` (:data:`SHIFTED`): a test set drawn with settings training never used: another
  contrast family (a contrast-enhanced T1 with less dark CSF, incompletely suppressed CSF on
  FLAIR, stronger bias fields and gamma, thicker slices), other lesion kinds (cysts,
  demyelinating lesions) and other metabolite relations (grey/white-matter ratios and smooth
  fields beyond the training spread). The fields listed in :data:`SHIFTED_FIELDS` are disjoint from
  training's (tested); the others are shared.

Every range is documented, with its reason, in ``docs/data-pipeline.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, overload

import numpy as np

from mrsisr.metabolites import Metabolite
from mrsisr.options import StrEnum

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "PRESETS",
    "REALISTIC",
    "SHIFTED",
    "SHIFTED_FIELDS",
    "TRAINING",
    "AnatomyRanges",
    "ContrastRanges",
    "LesionKind",
    "MetabolismRanges",
    "Preset",
    "Range",
    "RealismRanges",
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
    (:data:`mrsisr.sim.lesions.LESION_PATTERNS`)."""

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
            (:data:`mrsisr.sim.randomised.LITERATURE_MM`) in a patient's healthy centre.
        tissue_log_spread: ``|log factor|`` of each tissue's concentration around that
            centre, drawn per patient, metabolite and tissue (0.2: about ±22 %).
        csf_fraction: CSF concentration as a fraction of the white-matter one.
        field_amplitude: standard deviation of a metabolite's own smooth field.
        common_amplitude: standard deviation of the smooth field shared by all metabolites.
        field_length_mm: correlation length of the smooth fields (not tied to anatomy).
        noise_factor: multiple of the reference noise (:data:`mrsisr.sim.tissue.NOISE_SD_MM`)
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
class RealismRanges:
    """How far a patient's maps depart from the tissue model, toward real maps.

    Every effect is 0 ("none") at the low end of its range, so a range of ``[0, 0]`` turns it
    off; a patient gets none of them with probability ``plain_prob`` (it then equals the
    ``training`` patient its other draws make). Per-metabolite effects are drawn for each
    metabolite; per-patient ones once. The sources of the ranges are in
    ``docs/data-pipeline.md``.

    Args:
        plain_prob: probability that a patient gets none of the effects.
        contrast_loss: per metabolite, the share of the grey/white-matter difference of the
            healthy concentrations that is removed (1: no grey/white contrast).
        csf_fill: per metabolite, the share of the gap between CSF and tissue that is filled
            (1: CSF as bright as tissue).
        gradient: per metabolite, relative change over 100 mm of a linear gradient along a
            random direction (shared by the patient's metabolites), random sign.
        blobs: per patient, smallest and largest number of Gaussian blobs (regional
            differences such as deep grey matter or cerebellum), placed anywhere in the brain.
        blob_amplitude: per metabolite and blob, ``|height|`` relative to the map's mean in
            the brain, random sign.
        blob_mm: per blob, its standard deviation (mm).
        rim: per patient, height of the lipid-like rim at the brain edge, relative to the
            map's mean in the brain ...
        rim_share: ... times this share, per metabolite (lipids overlap some resonances more).
        rim_mm: per patient, the rim's decay length into the brain (mm).
        outside: per patient, height of the lipid-like signal just outside the brain edge,
            relative to the map's mean (times the metabolite's ``rim_share``).
        outside_mm: its decay length away from the brain (mm).
        outside_prob: probability that a patient's maps keep their values outside the quality
            mask (lipid-like signal and noise, as real maps); otherwise they are 0 there.
        noise_excess: per metabolite, the noise SD is multiplied by ``1 + excess`` (voxel
            noise above what the fit's CRLB suggests).
        tail: per metabolite, ``1 / dof`` of the Student-t voxel noise (0: Gaussian).
        outliers: per metabolite, share of voxels with a fit outlier ...
        outlier_sd: ... of this many local noise SDs, random sign.
        snr_variation: per patient, SD of the log of a smooth map that multiplies the noise SD
            (spatially varying SNR) ...
        snr_length_mm: ... and its correlation length (mm).
    """

    plain_prob: float = 0.15
    contrast_loss: Range = Range(0.0, 1.0)
    csf_fill: Range = Range(0.0, 0.6)
    gradient: Range = Range(0.0, 0.3)
    blobs: tuple[int, int] = (0, 4)
    blob_amplitude: Range = Range(0.0, 0.4)
    blob_mm: Range = Range(6.0, 20.0)
    rim: Range = Range(0.0, 1.5)
    rim_share: Range = Range(0.3, 1.0)
    rim_mm: Range = Range(2.0, 10.0)
    outside: Range = Range(0.0, 3.0)
    outside_mm: Range = Range(3.0, 12.0)
    outside_prob: float = 0.5
    noise_excess: Range = Range(0.0, 1.5)
    tail: Range = Range(0.0, 0.4)
    outliers: Range = Range(0.0, 0.02)
    outlier_sd: Range = Range(3.0, 8.0)
    snr_variation: Range = Range(0.0, 0.5)
    snr_length_mm: Range = Range(30.0, 80.0)

    def __post_init__(self) -> None:
        for name in ("plain_prob", "outside_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.blobs[0] <= self.blobs[1]:
            raise ValueError(f"blobs must be (low, high) with 0 <= low <= high, got {self.blobs}")
        if self.tail.high >= 0.5:
            raise ValueError(f"tail (1 / dof) must stay below 0.5 (finite variance): {self.tail}")
        for name in ("contrast_loss", "csf_fill"):
            if getattr(self, name).low < 0 or getattr(self, name).high > 1:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")

    MAGNITUDES: ClassVar[tuple[str, ...]] = (
        "contrast_loss",
        "csf_fill",
        "gradient",
        "blob_amplitude",
        "rim",
        "outside",
        "noise_excess",
        "tail",
        "outliers",
        "snr_variation",
    )
    """The ranges whose value 0 means "this effect is absent"."""

    def without(self, *names: str) -> RealismRanges:
        """The same ranges with the named magnitudes (default: all of :attr:`MAGNITUDES`)
        set to ``[0, 0]``, no blobs if ``blob_amplitude`` is among them, maps 0 outside the
        mask if ``outside`` is (``outside_prob = 0``), and every patient drawing the effects
        (``plain_prob = 0``), so that the drawn values are all "none"."""
        names = names or self.MAGNITUDES
        unknown = set(names) - set(self.MAGNITUDES)
        if unknown:
            raise ValueError(f"unknown effects {sorted(unknown)}; known: {self.MAGNITUDES}")
        changes: dict[str, Any] = {name: Range(0.0, 0.0) for name in names}
        if "blob_amplitude" in names:
            changes["blobs"] = (0, 0)
        if "outside" in names:
            changes["outside_prob"] = 0.0
        return replace(self, plain_prob=0.0, **changes)


@dataclass(frozen=True)
class SimulatorSettings:
    """Every range of the randomised simulator.

    Args:
        name: the preset's name (recorded in the cohort's provenance).
        contrast: image contrast and acquisition of T1 and FLAIR.
        anatomy: geometry, atrophy and lesions.
        metabolism: concentrations, fields and noise of the maps.
        realism: the departures of real maps from the tissue model; ``None`` (the
            ``training`` and ``shifted`` presets) draws nothing for them, so those presets'
            cohorts are unchanged byte for byte.
    """

    name: str = "custom"
    contrast: ContrastRanges = field(default_factory=ContrastRanges)
    anatomy: AnatomyRanges = field(default_factory=AnatomyRanges)
    metabolism: MetabolismRanges = field(default_factory=MetabolismRanges)
    realism: RealismRanges | None = None

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
    realistic = "realistic"


TRAINING = SimulatorSettings(name=Preset.training.value)

SHIFTED = SimulatorSettings(
    name=Preset.shifted.value,
    contrast=ContrastRanges(
        # Another contrast family: a contrast-enhanced T1 (lesions brighter than tissue, see
        # mrsisr.sim.lesions) with less dark CSF, FLAIR with incomplete CSF suppression (as
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

REALISTIC = SimulatorSettings(name=Preset.realistic.value, realism=RealismRanges())
"""``training``'s ranges plus every effect of :class:`RealismRanges` (training data for maps
like real ones; the simulator ``realistic`` of ``mrsisr phantom``)."""

PRESETS: MappingProxyType[Preset, SimulatorSettings] = MappingProxyType(
    {Preset.training: TRAINING, Preset.shifted: SHIFTED, Preset.realistic: REALISTIC}
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
