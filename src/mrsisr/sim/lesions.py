"""Random lesions of the randomised simulator: kinds, shapes, image and metabolic patterns.

A lesion has the geometry of :class:`mrsisr.sim.tumour.Tumour` (an irregular ball in
template space) and three nested shells: a *core* (necrosis, fluid), a *solid* part and a
*halo* (oedema, infiltration). Each kind (:class:`~mrsisr.sim.presets.LesionKind`) has a
:class:`LesionPattern`: ranges of its size and, per shell, of its T1 and FLAIR intensities
and of the factor each metabolite is multiplied by. A patient's lesion draws its own values
from them, so the relation between what the images show and what the maps hold changes
from lesion to lesion: a FLAIR-only lesion has normal metabolism, a metabolic-only lesion
is invisible on the images.

Intensities are relative to the patient's mean of grey- and white-matter intensity of that
image; metabolic factors multiply the healthy concentration and are drawn log-uniformly.
Every pattern is an assumption shaped on the qualitative literature (glioma: tCho, Gly, Ins
up, NAA and tCr down; demyelination: tCho, Ins and Glu up, NAA down), not measured values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

import numpy as np

from mrsisr.metabolites import METABOLITES, Metabolite
from mrsisr.options import StrEnum
from mrsisr.sim.anatomy import Atlas, SmoothField
from mrsisr.sim.presets import LesionKind, Range
from mrsisr.sim.tumour import LesionFractions, Tumour, _depth_map

__all__ = ["LESION_PATTERNS", "Lesion", "LesionPattern", "Shell"]

_T = TypeVar("_T")

M = Metabolite
R = Range


class Shell(StrEnum):
    """The nested parts of a lesion, inner to outer."""

    core = "core"
    solid = "solid"
    halo = "halo"


def _factors(**ranges: tuple[float, float]) -> MappingProxyType[Metabolite, Range]:
    return MappingProxyType({M(name): R(*bounds) for name, bounds in ranges.items()})


_NONE: MappingProxyType[Metabolite, Range] = MappingProxyType({})
_IRREGULARITY = R(0.2, 0.4)
_VOID = _factors(**{m.value: (0.0, 0.1) for m in METABOLITES})  # fluid: no metabolites


@dataclass(frozen=True)
class LesionPattern:
    """Ranges of one lesion kind.

    Args:
        radius_mm: radius of the solid part (core included).
        rim_mm: thickness of the solid part around the core; ``None``: no core.
        core_prob: probability that a lesion of this kind has a core.
        halo: reach of the halo beyond the solid part, as a multiple of the radius.
        irregularity: weight of the smooth fields that make the shape irregular.
        t1: per shell, the T1 intensity relative to the mean of GM and WM; absent: unchanged.
        flair: per shell, the FLAIR intensity, likewise.
        metabolism: per shell, the factor of each metabolite; absent: 1 (normal).
    """

    radius_mm: Range
    rim_mm: Range | None
    core_prob: float
    halo: Range
    irregularity: Range = _IRREGULARITY
    t1: MappingProxyType[Shell, Range] = field(default_factory=lambda: MappingProxyType({}))
    flair: MappingProxyType[Shell, Range] = field(default_factory=lambda: MappingProxyType({}))
    metabolism: MappingProxyType[Shell, MappingProxyType[Metabolite, Range]] = field(
        default_factory=lambda: MappingProxyType({})
    )


S = Shell
LESION_PATTERNS: MappingProxyType[LesionKind, LesionPattern] = MappingProxyType(
    {
        LesionKind.glioma: LesionPattern(
            radius_mm=R(8.0, 22.0),
            rim_mm=R(3.0, 7.0),
            core_prob=0.8,
            halo=R(0.5, 1.3),
            t1=MappingProxyType(
                {S.core: R(0.1, 0.45), S.solid: R(0.45, 0.8), S.halo: R(0.7, 0.95)}
            ),
            flair=MappingProxyType(
                {S.core: R(0.5, 1.2), S.solid: R(1.1, 1.6), S.halo: R(1.3, 2.0)}
            ),
            metabolism=MappingProxyType(
                {
                    S.core: _factors(**{m.value: (0.05, 0.4) for m in METABOLITES}),
                    S.solid: _factors(
                        tCho=(1.5, 3.5),
                        tCr=(0.4, 0.9),
                        NAA=(0.1, 0.5),
                        Gly=(3.0, 12.0),
                        Gln=(1.2, 3.0),
                        Glu=(0.5, 1.1),
                        Ins=(1.0, 2.2),
                    ),
                    S.halo: _factors(
                        tCho=(1.0, 1.5),
                        tCr=(0.8, 1.0),
                        NAA=(0.5, 0.95),
                        Gly=(1.0, 2.5),
                        Gln=(1.0, 1.6),
                        Glu=(0.8, 1.0),
                        Ins=(1.0, 1.5),
                    ),
                }
            ),
        ),
        LesionKind.flair_only: LesionPattern(
            radius_mm=R(4.0, 15.0),
            rim_mm=None,
            core_prob=0.0,
            halo=R(0.2, 0.8),
            t1=MappingProxyType({S.solid: R(0.75, 1.0)}),
            flair=MappingProxyType({S.solid: R(1.3, 2.0), S.halo: R(1.1, 1.5)}),
        ),
        LesionKind.metabolic_only: LesionPattern(
            radius_mm=R(6.0, 20.0),
            rim_mm=None,
            core_prob=0.0,
            halo=R(0.3, 1.0),
            metabolism=MappingProxyType(
                {
                    S.solid: _factors(**{m.value: (0.3, 3.0) for m in METABOLITES}),
                    S.halo: _factors(**{m.value: (0.7, 1.4) for m in METABOLITES}),
                }
            ),
        ),
        LesionKind.cyst: LesionPattern(
            radius_mm=R(6.0, 16.0),
            rim_mm=R(1.0, 2.0),
            core_prob=1.0,
            halo=R(0.1, 0.3),
            irregularity=R(0.05, 0.15),
            t1=MappingProxyType({S.core: R(0.05, 0.3), S.solid: R(1.1, 1.5)}),  # enhancing wall
            flair=MappingProxyType({S.core: R(0.05, 0.3), S.solid: R(1.0, 1.4)}),
            metabolism=MappingProxyType({S.core: _VOID, S.solid: _factors(NAA=(0.5, 0.8))}),
        ),
        LesionKind.demyelinating: LesionPattern(
            radius_mm=R(5.0, 14.0),
            rim_mm=None,
            core_prob=0.0,
            halo=R(0.3, 0.8),
            t1=MappingProxyType({S.solid: R(1.1, 1.5)}),  # active, enhancing plaque
            flair=MappingProxyType({S.solid: R(1.4, 2.0), S.halo: R(1.1, 1.4)}),
            metabolism=MappingProxyType(
                {
                    S.solid: _factors(
                        tCho=(1.3, 2.0),
                        NAA=(0.5, 0.8),
                        Ins=(1.3, 2.0),
                        Glu=(1.2, 1.6),
                        Gln=(1.0, 1.5),
                        tCr=(0.9, 1.1),
                    ),
                    S.halo: _factors(NAA=(0.8, 0.95), Ins=(1.0, 1.3)),
                }
            ),
        ),
    }
)


def _per_shell(values: Iterable[_T]) -> tuple[_T, _T, _T]:
    """The values of the three shells ``(core, solid, halo)``, in :class:`Shell` order."""
    core, solid, halo = values
    return core, solid, halo


def _log_uniform(rng: np.random.Generator, bounds: Range) -> float:
    if bounds.low <= 0.0:
        return float(bounds.draw(rng))
    return float(np.exp(rng.uniform(np.log(bounds.low), np.log(bounds.high))))


@dataclass(frozen=True)
class Lesion:
    """One drawn lesion.

    Args:
        kind: its kind.
        geometry: shape and place, in template coordinates (core = ``necrosis``, solid =
            ``enhancing``, halo = ``oedema`` of :class:`~mrsisr.sim.tumour.LesionFractions`).
        t1: per shell, its relative T1 intensity, or ``None`` for unchanged.
        flair: per shell, its relative FLAIR intensity, or ``None``.
        factors: per metabolite, the factor of each shell ``(core, solid, halo)``.
    """

    kind: LesionKind
    geometry: Tumour
    t1: tuple[float | None, float | None, float | None]
    flair: tuple[float | None, float | None, float | None]
    factors: MappingProxyType[Metabolite, tuple[float, float, float]]

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        kind: LesionKind,
        atlas: Atlas,
        z_of: Callable[[np.ndarray], np.ndarray],
        z_range_mm: tuple[float, float],
    ) -> Lesion:
        """Draw a lesion of ``kind`` anywhere in the brain within the imaged slab.

        Args:
            rng: random generator.
            kind: the lesion kind.
            atlas: the template (its brain mask places the lesion).
            z_of: callable mapping template points ``(3, K)`` to patient z (mm), ``(K,)``.
            z_range_mm: the patient-space z range of the imaged slab.
        """
        pattern = LESION_PATTERNS[kind]
        radius = float(pattern.radius_mm.draw(rng))
        depth, affine = _depth_map(atlas)
        deep = depth >= max(4.0, 0.5 * radius)
        points = affine[:3, :3] @ np.array(np.nonzero(deep), dtype=np.float64) + affine[:3, 3:4]
        z = z_of(points)
        low, high = z_range_mm
        margin = min(radius / 2, (high - low) / 4)
        candidates = np.flatnonzero((z >= low + margin) & (z <= high - margin))
        if candidates.size == 0:
            candidates = np.arange(points.shape[1])
        centre = points[:, rng.choice(candidates)] + rng.uniform(-1.0, 1.0, 3)
        has_core = pattern.rim_mm is not None and rng.random() < pattern.core_prob
        rim = float(pattern.rim_mm.draw(rng)) if has_core and pattern.rim_mm else 0.0
        geometry = Tumour(
            centre_mm=centre,
            radius_mm=radius,
            rim_mm=min(rim, 0.8 * radius),
            oedema_mm=float(pattern.halo.draw(rng)) * radius,
            shape=SmoothField.random(rng, length=0.6 * radius),
            oedema_shape=SmoothField.random(rng, length=radius),
            irregularity=float(pattern.irregularity.draw(rng)),
        )

        def levels(
            table: MappingProxyType[Shell, Range],
        ) -> tuple[float | None, float | None, float | None]:
            return _per_shell(float(table[s].draw(rng)) if s in table else None for s in Shell)

        t1, flair = levels(pattern.t1), levels(pattern.flair)
        factors = {
            met: _per_shell(
                _log_uniform(rng, pattern.metabolism[s][met])
                if s in pattern.metabolism and met in pattern.metabolism[s]
                else 1.0
                for s in Shell
            )
            for met in METABOLITES
        }
        return cls(kind, geometry, t1, flair, MappingProxyType(factors))

    def shells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights ``(core, solid, halo)`` at template points ``(3, K)``, each ``(K,)``."""
        f: LesionFractions = self.geometry.fractions(points)
        return f.necrosis, f.enhancing, f.oedema

    @property
    def visible(self) -> bool:
        """Whether the lesion changes the T1 or FLAIR image."""
        return any(v is not None for v in (*self.t1, *self.flair))

    @property
    def metabolic(self) -> bool:
        """Whether the lesion changes any metabolite."""
        return any(f != 1.0 for factors in self.factors.values() for f in factors)
