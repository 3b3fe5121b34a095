"""Load patients once and keep the axial slices that cover enough brain, as float32 stacks.

The paper kept the 11–18 axial slices of each 64 x 64 x 39 volume "that have sufficient
voxels inside the brain". :class:`SliceRule` makes that rule explicit: a slice is used when
its mask covers at least ``min_fraction`` of the in-plane grid, or of the best-covered slice
of the same patient (``relative_to_best``, the default). The default, 80 % of the best slice,
keeps 16–17 of the 36 slices of a 64 x 64 in-silico phantom patient, in line with the paper.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, cast

import numpy as np

from mrsisr.data.normalise import normalise_anatomy
from mrsisr.metabolites import METABOLITES, Metabolite, parse_metabolite

if TYPE_CHECKING:
    from typing import TypeAlias

    from mrsisr.data.cohort import Cohort, Patient

    PatientSource: TypeAlias = (
        Cohort | str | os.PathLike[str] | Sequence[Patient] | Mapping[str, Patient]
    )
    """A cohort, the path of one, or in-memory patients (a sequence, or a mapping by id)."""

__all__ = ["SliceRule", "SliceStack", "load_slices"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SliceRule:
    """Which axial slices ``vol[:, :, z]`` of a patient are used.

    Args:
        min_fraction: smallest mask coverage of a used slice, in ``(0, 1]``.
        relative_to_best: measure coverage relative to the patient's best-covered slice
            (``True``) or as a fraction of the whole in-plane grid (``False``).
    """

    min_fraction: float = 0.8
    relative_to_best: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_fraction <= 1:
            raise ValueError(f"min_fraction must be in (0, 1], got {self.min_fraction}")

    @staticmethod
    def coverage(mask: np.ndarray) -> np.ndarray:
        """Fraction of the in-plane grid inside the mask, per slice: ``(X, Y, Z) -> (Z,)``."""
        mask = np.asarray(mask)
        if mask.ndim != 3:
            raise ValueError(f"mask must be a volume (X, Y, Z), got shape {mask.shape}")
        return (mask != 0).mean(axis=(0, 1))

    def select(self, mask: np.ndarray) -> tuple[int, ...]:
        """Indices ``z`` of the used slices of a ``(X, Y, Z)`` mask, ascending."""
        coverage = self.coverage(mask)
        reference = coverage.max() if self.relative_to_best else 1.0
        keep = (coverage > 0) & (coverage >= self.min_fraction * reference)
        return tuple(int(z) for z in np.flatnonzero(keep))


@dataclass(frozen=True)
class SliceStack:
    """The used slices of every selected patient, preprocessed, in memory.

    ``volumes[v]`` is a float32 array ``(M + 3, S_v, N_y, N_x)``: the ``M`` metabolite maps,
    then the normalised T1, FLAIR and the {0, 1} mask, for the ``S_v`` used slices of
    patient ``volume_patient[v]``; with ``noiseless``, ``M`` more channels follow: the
    noiseless maps. Pair ``p`` is slice ``pair_slice[p]`` of volume ``pair_volume[p]``.
    Patients may lie on different in-plane grids ``(N_y, N_x)`` (their native grids,
    :attr:`grids`); each volume keeps its own.
    """

    patient_ids: tuple[str, ...]
    metabolites: tuple[Metabolite, ...]
    slices: dict[str, tuple[int, ...]]
    volumes: tuple[np.ndarray, ...]
    volume_patient: tuple[int, ...]
    pair_volume: np.ndarray
    pair_slice: np.ndarray
    noiseless: bool = False

    @property
    def num_pairs(self) -> int:
        """Number of (patient, slice) pairs."""
        return len(self.pair_volume)

    @property
    def grids(self) -> tuple[tuple[int, int], ...]:
        """The distinct native in-plane grids ``(N_y, N_x)`` of the volumes, ascending."""
        return tuple(sorted({_grid_of(v) for v in self.volumes}))

    def pair_grid(self, pair: int) -> tuple[int, int]:
        """The native in-plane grid ``(N_y, N_x)`` of a pair's patient."""
        return _grid_of(self.volumes[self.pair_volume[pair]])

    def images(self, pair: int, met: int) -> np.ndarray:
        """A new ``(4, N_y, N_x)`` array: map ``met``, T1, FLAIR and mask of one pair; with
        ``noiseless``, ``(5, N_y, N_x)``: the noiseless map ``met`` follows."""
        volume = self.volumes[self.pair_volume[pair]]
        m = len(self.metabolites)
        channels = [met, m, m + 1, m + 2] + ([m + 3 + met] if self.noiseless else [])
        return volume[channels, self.pair_slice[pair]]

    def pair_info(self, pair: int) -> tuple[int, int]:
        """``(patient index into patient_ids, slice z)`` of a pair."""
        v = int(self.pair_volume[pair])
        patient = self.volume_patient[v]
        return patient, self.slices[self.patient_ids[patient]][int(self.pair_slice[pair])]


def _grid_of(volume: np.ndarray) -> tuple[int, int]:
    return int(volume.shape[-2]), int(volume.shape[-1])


def _resolve(source: PatientSource) -> tuple[tuple[str, ...], Callable[[str], Patient]]:
    """All patient ids of a source and a function that loads one."""
    if isinstance(source, (str, os.PathLike)):
        from mrsisr.data.cohort import Cohort

        source = Cohort.open(Path(source))
    if hasattr(source, "manifest") and hasattr(source, "load"):
        cohort = cast("Cohort", source)

        def load(pid: str) -> Patient:
            # The networks take T1 and FLAIR on the map grid: resample them onto it.
            return cohort.load(pid, anatomy_upsample=1)

        return tuple(str(p) for p in cohort.manifest.patients), load
    patients = list(source.values()) if isinstance(source, Mapping) else list(source)
    by_id = {str(p.id): p for p in patients}
    if len(by_id) != len(patients):
        raise ValueError("source: patients must have unique ids")
    return tuple(by_id), by_id.__getitem__


def _finite(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        logger.warning("%s: %d non-finite voxels set to 0", what, int(bad.sum()))
        array = np.where(bad, np.float32(0), array)
    return array


class _PatientSlices(NamedTuple):
    """One patient's used slices, as :func:`load_slices` gathers them before stacking."""

    id: str
    slices: tuple[int, ...]
    maps: dict[Metabolite, np.ndarray]
    """``{metabolite: (X, Y, S)}``."""
    anatomy: np.ndarray
    """``(3, X, Y, S)``: normalised T1, FLAIR and the mask."""
    noiseless: dict[Metabolite, np.ndarray]
    """Like ``maps``, or ``{}`` when not asked for."""


def _patient_slices(patient: Patient, rule: SliceRule, noiseless: bool) -> _PatientSlices:
    """The used slices of a patient, with the noiseless maps if asked for."""
    pid = str(patient.id)
    if noiseless and not patient.noiseless:
        raise ValueError(
            f"patient {pid} has no noiseless maps (noiseless_<Met>.nii.gz, written by "
            "`mrsisr phantom`); a noiseless target needs a simulated cohort"
        )
    mask = np.asarray(patient.mask) != 0
    if mask.ndim != 3:
        raise ValueError(f"patient {pid}: mask must be a volume (X, Y, Z), got {mask.shape}")
    volumes = {"t1": patient.t1, "flair": patient.flair}
    volumes.update({f"map {m}": v for m, v in patient.maps.items()})
    volumes.update({f"noiseless map {m}": v for m, v in patient.noiseless.items()})
    for name, volume in volumes.items():
        if np.shape(volume) != mask.shape:
            raise ValueError(
                f"patient {pid}: {name} has shape {np.shape(volume)}, mask {mask.shape}; "
                "all volumes must share the MRSI grid (anatomy_upsample = 1)"
            )
    slices = rule.select(mask)
    t1 = normalise_anatomy(_finite(patient.t1, f"patient {pid} t1"), mask)
    flair = normalise_anatomy(_finite(patient.flair, f"patient {pid} flair"), mask)
    anatomy = np.stack([t1, flair, mask.astype(np.float32)])[..., list(slices)]

    def kept(maps: Mapping[Metabolite, np.ndarray], what: str) -> dict[Metabolite, np.ndarray]:
        return {
            parse_metabolite(m): _finite(v, f"patient {pid} {what}{m}")[..., list(slices)]
            for m, v in maps.items()
        }

    clean = kept(patient.noiseless, "noiseless ") if noiseless else {}
    return _PatientSlices(pid, slices, kept(patient.maps, ""), anatomy, clean)


def load_slices(
    source: PatientSource,
    patient_ids: Sequence[str] | None,
    metabolites: Sequence[Metabolite] | None,
    rule: SliceRule,
    noiseless: bool = False,
) -> SliceStack:
    """Load the patients of a source and keep the slices ``rule`` selects.

    Args:
        source: a cohort, the path of one, or in-memory patients (sequence or id mapping).
        patient_ids: the patients to load; ``None`` loads all of them.
        metabolites: the metabolites to keep; ``None`` keeps those every patient has.
        rule: the slice selection rule.
        noiseless: also keep the noiseless maps (every patient must have them).
    """
    all_ids, load = _resolve(source)
    wanted = list(all_ids) if patient_ids is None else [str(p) for p in patient_ids]
    unknown = [p for p in wanted if p not in all_ids]
    if unknown:
        raise ValueError(
            f"patient_ids: unknown patient(s) {', '.join(unknown)}; the source has "
            f"{', '.join(all_ids)}"
        )
    if len(set(wanted)) != len(wanted) or not wanted:
        raise ValueError(f"patient_ids must be unique and non-empty, got {wanted}")
    loaded = []
    for pid in wanted:
        patient = _patient_slices(load(pid), rule, noiseless)
        logger.debug(
            "patient %s: %d slices used %s", pid, len(patient.slices), list(patient.slices)
        )
        if not patient.slices:
            logger.warning("patient %s: no slice passes %s", pid, rule)
        loaded.append(patient)

    common = [m for m in METABOLITES if all(m in p.maps for p in loaded)]
    chosen = tuple(common if metabolites is None else metabolites)
    for met in chosen:
        missing = [p.id for p in loaded if met not in p.maps]
        if missing:
            raise ValueError(
                f"metabolites: {met} is missing for patient(s) {', '.join(missing)}; "
                f"all selected patients have {', '.join(map(str, common)) or 'none'}"
            )
    if not chosen:
        raise ValueError("metabolites: the selected patients share no metabolite map")

    volumes, volume_patient, pair_volume, pair_slice = [], [], [], []
    for p in loaded:
        if not p.slices:
            continue
        parts = [np.stack([p.maps[m] for m in chosen]), p.anatomy]
        if noiseless:
            parts.append(np.stack([p.noiseless[m] for m in chosen]))
        stack = np.concatenate(parts)
        volumes.append(np.ascontiguousarray(np.moveaxis(stack, -1, 1)))  # (C, S, X, Y)
        volume_patient.append(all_ids.index(p.id))
        pair_volume += [len(volumes) - 1] * len(p.slices)
        pair_slice += list(range(len(p.slices)))
    if not pair_volume:
        raise ValueError(f"slice_rule: no slice of the selected patients passes {rule}")
    counts = [len(p.slices) for p in loaded]
    logger.info(
        "slices: %d used over %d patients (%d–%d per patient, rule %s)",
        len(pair_volume),
        len(loaded),
        min(counts),
        max(counts),
        rule,
    )
    return SliceStack(
        patient_ids=all_ids,
        metabolites=chosen,
        slices={p.id: p.slices for p in loaded},
        volumes=tuple(volumes),
        volume_patient=tuple(volume_patient),
        pair_volume=np.asarray(pair_volume, dtype=np.int64),
        pair_slice=np.asarray(pair_slice, dtype=np.int64),
        noiseless=noiseless,
    )
