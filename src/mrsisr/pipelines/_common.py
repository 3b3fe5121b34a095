"""What every pipeline reader shares: the records, the QC thresholds, and the helpers that
find NIfTI files, pick one map per metabolite and compare QC maps with limits.

Quality mask: a voxel is kept where the pipeline's QC passes the paper's filter (SNR ≥ 2.5
and FWHM ≤ 0.15 ppm) and, with ``crlb_max``, where the map's CRLB is at most that (percent).
Where a QC map is missing the criterion is not applied, and the log says so.
"""

from __future__ import annotations

import errno
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mrsisr.errors import UserError, argument
from mrsisr.metabolites import Metabolite, NameMatch

if TYPE_CHECKING:  # NumPy and nibabel load when a folder is read, not with the CLI's options
    import numpy as np

__all__ = [
    "QC",
    "Candidate",
    "Check",
    "MapRecord",
    "PipelineMaps",
    "PipelineReader",
    "QualityThresholds",
    "all_of",
    "any_of",
    "choose",
    "find_nifti",
    "load_values",
    "nifti_files",
    "nifti_stem",
    "sd_in_map_units",
    "spectrum_checks",
    "unusable",
]

log = logging.getLogger(__name__)

_NIFTI = re.compile(r"\.nii(\.gz)?$")


@dataclass(frozen=True)
class QualityThresholds:
    """Which voxels pass the pipeline's QC (defaults: the paper's filter).

    Args:
        snr_min: keep voxels with SNR >= this.
        fwhm_max_ppm: keep voxels with FWHM <= this (ppm).
        crlb_max: if given, keep voxels whose CRLB (or relative SD), in percent of the
            concentration, is at most this.
    """

    snr_min: float = 2.5
    fwhm_max_ppm: float = 0.15
    crlb_max: float | None = None

    def check(self) -> None:
        """Refuse limits no QC map can be compared with (NaN, infinite, or out of range).

        Raises:
            UserError: naming the limit (:func:`~mrsisr.errors.argument`) and what it accepts.
        """
        limits = (
            ("snr_min", self.snr_min, "a finite number >= 0", 0.0, True),
            ("fwhm_max_ppm", self.fwhm_max_ppm, "a finite number of ppm > 0", 0.0, False),
            ("crlb_max", self.crlb_max, "a finite percentage > 0", 0.0, False),
        )
        for option, value, accepted, low, inclusive in limits:
            if value is None:
                continue
            ok = math.isfinite(value) and (value >= low if inclusive else value > low)
            if not ok:
                raise UserError(f"{argument(option)} {value:g}: give {accepted}")


@dataclass(frozen=True, eq=False)
class MapRecord:
    """One concentration map of a pipeline folder and what the pipeline says about it.

    Arrays are on the map's own grid ``(n_y, n_x, S)``.

    Args:
        path: the map (3-D NIfTI at the acquisition grid).
        metabolite: the metabolite it is read as.
        label: the metabolite name as the pipeline wrote it (``"PCho+GPC"``).
        units: units of the values (e.g. ``"mM"``, ``"arbitrary units"``).
        sd: the map's standard-deviation (or CRLB) map, or None.
        sd_percent: ``sd`` is in percent of the concentration (else in the map's units);
            :meth:`sd_map` converts it.
        quality: bool, True where the pipeline's QC passes; None if it has no QC for it.
        quality_source: what ``quality`` was built from, for the log and the sidecar.
        excitation: bool, True inside the excited region when the pipeline writes it,
            else None (none of the three layouts does).
        brain_mask: a brain mask on the MRSI grid the pipeline wrote, or None.
        subject: the BIDS subject label the map belongs to (``"01"`` for ``sub-01``), or "".
        session: the BIDS session label, or "".
        t1: the subject's T1-weighted image the pipeline's dataset holds (MRSIPrep: the raw
            BIDS ``anat/*_T1w``), or None.
        flair: likewise its FLAIR image (BIDS ``anat/*_FLAIR``), or None.
        notes: things the user should know (e.g. a component read as its total).
        pipeline: the pipeline that wrote it (a name of :data:`mrsisr.pipelines.READERS`).
    """

    path: Path
    metabolite: Metabolite
    label: str
    units: str
    sd: Path | None = None
    sd_percent: bool = True
    quality: np.ndarray | None = None
    quality_source: str = ""
    excitation: np.ndarray | None = None
    brain_mask: Path | None = None
    subject: str = ""
    session: str = ""
    t1: Path | None = None
    flair: Path | None = None
    notes: tuple[str, ...] = ()
    pipeline: str = ""

    def sd_map(self) -> np.ndarray | None:
        """The SD in the map's units, ``(n_y, n_x, S)`` float32, or None without an SD map."""
        if self.sd is None:
            return None
        import numpy as np

        return sd_in_map_units(
            load_values(self.sd), load_values(self.path), self.sd_percent
        ).astype(np.float32)


def sd_in_map_units(sd: np.ndarray, values: np.ndarray, percent: bool) -> np.ndarray:
    """An SD map in its map's units: ``sd`` as it is, or, for an SD in percent of the
    concentration (a CRLB or %SD map), ``sd / 100 · |values|``; float64 ``(n_y, n_x, S)``."""
    import numpy as np

    sd = np.asarray(sd, dtype=np.float64)
    return sd / 100.0 * np.abs(np.asarray(values, dtype=np.float64)) if percent else sd


@dataclass(frozen=True)
class PipelineMaps:
    """What :func:`read_pipeline` found.

    Args:
        maps: the maps to super-resolve, one per metabolite (and subject).
        skipped: ``(file, reason)`` of every file not used.
    """

    maps: tuple[MapRecord, ...]
    skipped: tuple[tuple[Path, str], ...] = field(default=())


@dataclass
class Candidate:
    """A map found in a folder, before one per metabolite is chosen."""

    path: Path
    match: NameMatch
    subject: str = ""


def unusable(path: Path) -> str:
    """Why a file found by its name cannot be read, or "" when it is a readable NIfTI file:
    a link that loops or leads nowhere, not a file, or not NIfTI (its header is read)."""
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except (OSError, RuntimeError) as err:  # RuntimeError: a loop, before Python 3.13
            looping = isinstance(err, RuntimeError) or err.errno == errno.ELOOP
            return "a symbolic link that loops" if looping else "a symbolic link to nothing"
    if not path.is_file():
        return "not a file"
    import nibabel as nib

    try:
        nib.load(str(path))
    except Exception as err:  # nibabel raises several types for files that are not NIfTI
        return f"not a readable NIfTI file ({type(err).__name__})"
    return ""


def nifti_files(folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """The NIfTI files of a folder that can be read; the others go to ``skipped``."""
    files = []
    for path in sorted(p for p in folder.iterdir() if _NIFTI.search(p.name)):
        why = unusable(path)
        if why:
            skipped.append((path, why))
        else:
            files.append(path)
    return files


def nifti_stem(path: Path) -> str:
    return _NIFTI.sub("", path.name)


def find_nifti(folder: Path, stem: str) -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists."""
    for suffix in (".nii.gz", ".nii"):
        path = folder / f"{stem}{suffix}"
        if path.is_file() or path.is_symlink():  # a broken link is skipped by its reader
            return path
    return None


def choose(candidates: Iterable[Candidate], skipped: list[tuple[Path, str]]) -> list[Candidate]:
    """One map per (subject, metabolite): a total before its components, and of several
    lone components the one with the larger brain concentration (:attr:`NameMatch.priority`)."""
    groups: dict[tuple[str, Metabolite], list[Candidate]] = {}
    for c in candidates:
        groups.setdefault((c.subject, c.match.metabolite), []).append(c)
    chosen = []
    for (_, met), group in groups.items():
        group.sort(key=lambda c: (c.match.priority, c.path.name))
        best = group[0]
        chosen.append(best)
        for other in group[1:]:
            why = (
                f"{best.match.label} is the total used as {met.value}"
                if other.match.partial and not best.match.partial
                else f"{best.path.name} is used as {met.value}"
            )
            skipped.append((other.path, f"{other.match.label}: {why}"))
    return chosen


Check = tuple["np.ndarray | None", str]  # (voxels that pass, description), or (None, "")


def load_values(path: Path) -> np.ndarray:
    """The voxel values of a NIfTI file (float32)."""
    from mrsisr.data.nifti import load_volume

    return load_volume(path)[0]


class QC:
    """Compares QC maps of one map's grid with limits; QC maps of another shape are skipped."""

    def __init__(self, shape: tuple[int, ...], skipped: list[tuple[Path, str]]) -> None:
        self.shape = shape
        self.skipped = skipped

    def check(self, path: Path | None, op: str, limit: float, unit: str = "") -> Check:
        """Voxels where ``QC op limit`` (op ``">="``, ``"<="`` or ``"<"``), NaN failing."""
        if path is None:
            return None, ""
        import numpy as np

        why = unusable(path)
        if why:
            self.skipped.append((path, f"{why}: its QC criterion is not applied"))
            return None, ""
        values = load_values(path)
        if values.shape != self.shape:
            self.skipped.append((path, f"shape {values.shape}, not the map's {self.shape}"))
            return None, ""
        compare = {">=": np.greater_equal, "<=": np.less_equal, "<": np.less}[op]
        passes = compare(values, limit)
        return passes & np.isfinite(values), f"{path.name} {op} {limit:g}{unit}"


def all_of(checks: Sequence[Check]) -> Check:
    """Voxels that pass every check that exists."""
    present = [(m, d) for m, d in checks if m is not None]
    if not present:
        return None, ""
    import numpy as np

    text = " and ".join(f"({d})" if " or " in d else d for _, d in present)
    return np.logical_and.reduce([m for m, _ in present]), text


def any_of(checks: Sequence[Check]) -> Check:
    """Voxels that pass one of the checks that exist."""
    present = [(m, d) for m, d in checks if m is not None]
    if len(present) < 2:
        return present[0] if present else (None, "")
    import numpy as np

    return np.logical_or.reduce([m for m, _ in present]), " or ".join(f"({d})" for _, d in present)


def spectrum_checks(
    qc: QC, snr: Path | None, fwhm: Path | None, crlb: Path | None, th: QualityThresholds
) -> Check:
    """The paper's filter on spectrum-wise SNR and FWHM (ppm) maps, and the CRLB option."""
    checks = [qc.check(snr, ">=", th.snr_min), qc.check(fwhm, "<=", th.fwhm_max_ppm, " ppm")]
    if th.crlb_max is not None:
        checks.append(qc.check(crlb, "<=", th.crlb_max, " %"))
    return all_of(checks)


@dataclass(frozen=True)
class PipelineReader:
    """A reader of one pipeline's output folders (an entry of :data:`mrsisr.pipelines.READERS`).

    Args:
        name: the pipeline's name, as :func:`~mrsisr.pipelines.read_pipeline` takes it and
            the records give it.
        read: ``read(folder, thresholds, **options)``: every map of an existing folder, with
            the files skipped and why (:class:`PipelineMaps`); the thresholds are checked.
            A layout it does not find, or an option value it refuses, is a ``UserError``.
        options: the options of :func:`mrsisr.pipelines.read_pipeline` it takes besides the
            thresholds, each with what it chooses (``{"scaling": "FSL-MRS's concs/
            sub-folders"}``); the others are refused for it.
    """

    name: str
    read: Callable[..., PipelineMaps]
    options: Mapping[str, str] = field(default_factory=dict)
