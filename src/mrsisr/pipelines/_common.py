"""Read the metabolite maps that MRSI pipelines write, with their SD maps and their own QC.

``mrsisr predict --from PIPELINE DIR`` reads a pipeline's output folder directly.
:func:`read_pipeline` returns one :class:`MapRecord` per concentration map it can use and
says which files it skipped and why (also in the log). Each layout is documented with the
source it was read from (the tools' code at the commits named in docs/predict.md):

FSL-MRS ``fsl_mrsi`` (wtclarke/fsl_mrs, ``fsl_mrs/scripts/fsl_mrsi.py``)::

    DIR/concs/<scaling>/<Met>.nii.gz      raw, internal, molarity, molality
    DIR/uncertainties/<Met>_sd.nii.gz     SD in percent of the concentration (capped at 999)
    DIR/qc/<Met>_snr.nii.gz               peak SNR, basis metabolites only
    DIR/qc/<Met>_fwhm.nii.gz              peak FWHM in Hz, basis metabolites only
    DIR/fit/fit.nii.gz                    NIfTI-MRS: its header gives the spectrometer MHz

  ``--combine PCho GPC`` writes ``PCho+GPC`` (the names joined in the order typed). There is
  no fit-failure map: values that are NaN, infinite or below 1e-10 are written as 0, and a
  NaN uncertainty as 999 %. ``internal`` holds ratios to the internal reference (Cr+PCr by
  default), so it is refused like any ratio map.

Vienna 7T pipeline (``Part2_EvaluateMRSI.sh -N Nifti``, korbinian90/mrsi_pipeline_neurodesk)::

    DIR/maps/Orig/<Met>_amp_map.nii       LCModel amplitudes (GPC+PCh, Cr+PCr, NAA+NAAG, …)
    DIR/maps/Orig/<Met>_sd_map.nii        LCModel %SD (CRLB in percent)
    DIR/maps/Orig/<Met>_crlb_map.nii      CRLB in percent (the deep-learning fitting route)
    DIR/maps/Extra/SNR_map.nii            spectrum SNR (or SNR_{NAA,Cr}_PseudoReplica_…)
    DIR/maps/Extra/FWHM_map.nii           spectrum FWHM in ppm
    DIR/maps/mask.nii                     brain mask on the MRSI grid
    DIR/maps/Ratio/, Outlier_Clip/, …     ratios and clipped copies: not read

  The pipeline's own masking script keeps SNR > 2.5, FWHM < 0.15 ppm and CRLB < 40 %.

MRSIPrep (MRSI-Psychosis-UP/MRSIPrep, ``mrsiprep/io/bids.py``, ``mrsiprep/io/loaders.py``)::

    DIR/derivatives/mrsi-orig/sub-X[/ses-Y]/
        sub-X[_ses-Y]_space-orig_met-<Label>_desc-signal_mrsi.nii.gz   the map
        sub-X[_ses-Y]_space-orig_met-<Label>_desc-crlb_mrsi.nii.gz     CRLB in percent
        sub-X[_ses-Y]_space-orig_desc-snr_mrsi.nii.gz                  spectrum SNR
        sub-X[_ses-Y]_space-orig_desc-fwhm_mrsi.nii.gz                 FWHM (or desc-linewidth)
        sub-X[_ses-Y]_space-orig_desc-brainmask_mrsi.nii.gz            brain mask

  Labels run together (``NAANAAG``, ``GPCPCh``, ``CrPCr``); MRSIPrep's own fallback layout
  ``derivatives/mrsiprep/sub-X/ses-Y/mrsi/orig/`` is found too (the folder is searched).

Quality mask: a voxel is kept where the pipeline's QC passes the paper's filter (SNR ≥ 2.5
and FWHM ≤ 0.15 ppm) and, with ``crlb_max``, where the map's CRLB is at most that (percent).
Where a QC map is missing the criterion is not applied, and the log says so.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mrsisr.errors import UserError
from mrsisr.metabolites import (
    Metabolite,
    NameMatch,
    NotAConcentration,
    metabolite_from_filename,
    normalise_name,
)
from mrsisr.options import StrEnum

if TYPE_CHECKING:  # NumPy and nibabel load when a folder is read, not with the CLI's options
    import numpy as np

__all__ = [
    "FSL_MRS_SCALINGS",
    "MapRecord",
    "Pipeline",
    "PipelineMaps",
    "QualityThresholds",
    "read_pipeline",
    "sd_in_map_units",
]

log = logging.getLogger(__name__)

_NIFTI = re.compile(r"\.nii(\.gz)?$")


class Pipeline(StrEnum):
    """The pipelines whose output folders ``--from`` reads."""

    fsl_mrs = "fsl-mrs"
    vienna = "vienna"
    mrsiprep = "mrsiprep"


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
            UserError: naming the ``predict`` option and what it accepts.
        """
        limits = (
            ("--qc-snr-min", self.snr_min, "a finite number >= 0", 0.0, True),
            ("--qc-fwhm-max", self.fwhm_max_ppm, "a finite number of ppm > 0", 0.0, False),
            ("--qc-crlb-max", self.crlb_max, "a finite percentage > 0", 0.0, False),
        )
        for option, value, accepted, low, inclusive in limits:
            if value is None:
                continue
            ok = math.isfinite(value) and (value >= low if inclusive else value > low)
            if not ok:
                raise UserError(f"{option} {value:g}: give {accepted}")


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
        pipeline: the pipeline that wrote it (:class:`Pipeline` value).
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

        return sd_in_map_units(_load(self.sd), _load(self.path), self.sd_percent).astype(np.float32)


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
class _Candidate:
    """A map found in a folder, before one per metabolite is chosen."""

    path: Path
    match: NameMatch
    subject: str = ""


def _unusable(path: Path) -> str:
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


def _nifti_files(folder: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """The NIfTI files of a folder that can be read; the others go to ``skipped``."""
    files = []
    for path in sorted(p for p in folder.iterdir() if _NIFTI.search(p.name)):
        why = _unusable(path)
        if why:
            skipped.append((path, why))
        else:
            files.append(path)
    return files


def _stem(path: Path) -> str:
    return _NIFTI.sub("", path.name)


def _find(folder: Path, stem: str) -> Path | None:
    """``folder/stem.nii.gz`` or ``folder/stem.nii``, whichever exists."""
    for suffix in (".nii.gz", ".nii"):
        path = folder / f"{stem}{suffix}"
        if path.is_file() or path.is_symlink():  # a broken link is skipped by its reader
            return path
    return None


def _choose(candidates: Iterable[_Candidate], skipped: list[tuple[Path, str]]) -> list[_Candidate]:
    """One map per (subject, metabolite): a total before its components, and of several
    lone components the one with the larger brain concentration (:attr:`NameMatch.priority`)."""
    groups: dict[tuple[str, Metabolite], list[_Candidate]] = {}
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


_Check = tuple["np.ndarray | None", str]  # (voxels that pass, description), or (None, "")


def _load(path: Path) -> np.ndarray:
    """The voxel values of a NIfTI file (float32)."""
    from mrsisr.data.nifti import load_volume

    return load_volume(path)[0]


class _QC:
    """Compares QC maps of one map's grid with limits; QC maps of another shape are skipped."""

    def __init__(self, shape: tuple[int, ...], skipped: list[tuple[Path, str]]) -> None:
        self.shape = shape
        self.skipped = skipped

    def check(self, path: Path | None, op: str, limit: float, unit: str = "") -> _Check:
        """Voxels where ``QC op limit`` (op ``">="``, ``"<="`` or ``"<"``), NaN failing."""
        if path is None:
            return None, ""
        import numpy as np

        why = _unusable(path)
        if why:
            self.skipped.append((path, f"{why}: its QC criterion is not applied"))
            return None, ""
        values = _load(path)
        if values.shape != self.shape:
            self.skipped.append((path, f"shape {values.shape}, not the map's {self.shape}"))
            return None, ""
        compare = {">=": np.greater_equal, "<=": np.less_equal, "<": np.less}[op]
        passes = compare(values, limit)
        return passes & np.isfinite(values), f"{path.name} {op} {limit:g}{unit}"


def _all(checks: Sequence[_Check]) -> _Check:
    """Voxels that pass every check that exists."""
    present = [(m, d) for m, d in checks if m is not None]
    if not present:
        return None, ""
    import numpy as np

    text = " and ".join(f"({d})" if " or " in d else d for _, d in present)
    return np.logical_and.reduce([m for m, _ in present]), text


def _any(checks: Sequence[_Check]) -> _Check:
    """Voxels that pass one of the checks that exist."""
    present = [(m, d) for m, d in checks if m is not None]
    if len(present) < 2:
        return present[0] if present else (None, "")
    import numpy as np

    return np.logical_or.reduce([m for m, _ in present]), " or ".join(f"({d})" for _, d in present)


def _spectrum_checks(
    qc: _QC, snr: Path | None, fwhm: Path | None, crlb: Path | None, th: QualityThresholds
) -> _Check:
    """The paper's filter on spectrum-wise SNR and FWHM (ppm) maps, and the CRLB option."""
    checks = [qc.check(snr, ">=", th.snr_min), qc.check(fwhm, "<=", th.fwhm_max_ppm, " ppm")]
    if th.crlb_max is not None:
        checks.append(qc.check(crlb, "<=", th.crlb_max, " %"))
    return _all(checks)


def _log_result(pipeline: Pipeline, folder: Path, result: PipelineMaps) -> None:
    for record in result.maps:
        where = f"sub-{record.subject} " if record.subject else ""
        where += f"ses-{record.session} " if record.session else ""
        log.info(
            "--from %s: %s%s <- %s (SD: %s; quality: %s)",
            pipeline,
            where,
            record.metabolite.value,
            record.path.relative_to(folder),
            record.sd.name if record.sd else "none",
            record.quality_source or "no pipeline QC",
        )
        for note in record.notes:
            log.info("--from %s: note: %s", pipeline, note)
    for path, reason in result.skipped:
        rel = path.relative_to(folder) if path.is_relative_to(folder) else path
        log.info("--from %s: skipped %s: %s", pipeline, rel, reason)


def read_pipeline(
    pipeline: Pipeline | str,
    folder: str | Path,
    *,
    scaling: str | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
    variant: str | None = None,
) -> PipelineMaps:
    """Read every usable concentration map of a pipeline's output folder.

    Args:
        pipeline: ``"fsl-mrs"``, ``"vienna"`` or ``"mrsiprep"``.
        folder: the pipeline's output folder (see the module docstring for each layout).
        scaling: FSL-MRS only: the ``concs/`` sub-folder (default: molarity, else
            molality, else raw).
        thresholds: the QC filter for the quality masks.
        variant: MRSIPrep only: read the ``desc-signal_<variant>`` maps (e.g. the spatially
            filtered ``filtbiharmonic``) instead of the measured ``desc-signal`` ones.

    Returns:
        The maps (one per metabolite and subject) and the files skipped, with reasons;
        both are also logged.

    Raises:
        UserError: unknown pipeline, missing folder or layout, a bad ``scaling``,
            ``variant`` or threshold, or no usable map; the message names the folder or
            option and what is accepted.
    """
    try:
        pipeline = Pipeline(pipeline)
    except ValueError:
        known = ", ".join(p.value for p in Pipeline)
        raise UserError(f"--from {pipeline}: unknown pipeline; known: {known}") from None
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"--from {pipeline} {folder}: not a folder; give the pipeline's output")
    if scaling is not None and pipeline is not Pipeline.fsl_mrs:
        raise UserError("--scaling: only for --from fsl-mrs (FSL-MRS's concs/ sub-folders)")
    if variant is not None and pipeline is not Pipeline.mrsiprep:
        raise UserError("--map-variant: only for --from mrsiprep (its desc-signal_<NAME> maps)")
    if variant is not None and not re.fullmatch(r"[A-Za-z0-9]+", variant):
        raise UserError(
            f"--map-variant {variant!r}: give the letters and digits after desc-signal_"
        )
    thresholds.check()
    if pipeline is Pipeline.fsl_mrs:
        result = _read_fsl_mrs(folder, scaling, thresholds)
    elif pipeline is Pipeline.vienna:
        result = _read_vienna(folder, thresholds)
    else:
        result = _read_mrsiprep(folder, thresholds, variant)
    result = dataclasses.replace(
        result, maps=tuple(dataclasses.replace(r, pipeline=pipeline.value) for r in result.maps)
    )
    _log_result(pipeline, folder, result)
    if not result.maps:
        reasons = "; ".join(f"{p.name}: {r}" for p, r in result.skipped[:5]) or "no NIfTI files"
        raise UserError(
            f"--from {pipeline} {folder}: no concentration map of a known metabolite found "
            f"({reasons})"
        )
    return result


# --- FSL-MRS ------------------------------------------------------------------------------

FSL_MRS_SCALINGS = {"molarity": "mM", "molality": "mmol/kg", "raw": "arbitrary units"}
"""The ``concs/`` sub-folders that hold concentrations, in the order of preference."""


def _spectrometer_mhz(folder: Path) -> float | None:
    """The spectrometer frequency (MHz) from the NIfTI-MRS header of ``fit/fit.nii.gz``."""
    import nibabel as nib

    path = _find(folder / "fit", "fit")
    if path is None:
        return None
    try:
        header = nib.load(str(path)).header
        if not isinstance(header, nib.Nifti1Header):  # NIfTI-2 headers are NIfTI-1 ones
            return None
        for ext in header.extensions:
            if ext.get_code() == 44:  # NIfTI-MRS JSON header extension
                value = json.loads(ext.get_content()).get("SpectrometerFrequency")
                value = value[0] if isinstance(value, list) and value else value
                mhz = float(value)
                return mhz if math.isfinite(mhz) and mhz > 0 else None
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    return None


def _fsl_scaling(folder: Path, scaling: str | None) -> tuple[str, Path]:
    concs = folder / "concs"
    if not concs.is_dir():
        raise UserError(
            f"--from fsl-mrs {folder}: no concs/ folder; give the --output folder of fsl_mrsi"
        )
    present = sorted(p.name for p in concs.iterdir() if p.is_dir())
    if scaling is None:
        scaling = next((s for s in FSL_MRS_SCALINGS if s in present), None)
        if scaling is None:
            raise UserError(f"{concs}: none of {', '.join(FSL_MRS_SCALINGS)} found")
        others = [s for s in present if s != scaling]
        if others:
            log.info(
                "--from fsl-mrs: using concs/%s (also there: %s; --scaling chooses)",
                scaling,
                ", ".join(others),
            )
    elif scaling == "internal":
        raise UserError(
            "--scaling internal: FSL-MRS's internal scaling is a ratio to the internal "
            f"reference, not a concentration; choose {', '.join(FSL_MRS_SCALINGS)}"
        )
    elif scaling not in FSL_MRS_SCALINGS or scaling not in present:
        accepted = ", ".join(s for s in FSL_MRS_SCALINGS if s in present)
        raise UserError(f"--scaling {scaling}: not in {concs}; accepted here: {accepted}")
    return scaling, concs / scaling


def _read_fsl_mrs(folder: Path, scaling: str | None, th: QualityThresholds) -> PipelineMaps:
    scaling, concs = _fsl_scaling(folder, scaling)
    skipped: list[tuple[Path, str]] = []
    candidates = []
    for path in _nifti_files(concs, skipped):
        try:
            candidates.append(_Candidate(path, normalise_name(_stem(path))))
        except ValueError:
            skipped.append((path, f"{_stem(path)} is not a metabolite the model knows"))
    mhz = _spectrometer_mhz(folder)
    if mhz is None:
        skipped.append(
            (
                folder / "fit",
                "no valid spectrometer frequency (a positive number of MHz in the NIfTI-MRS "
                "header of fit/fit.nii.gz): "
                "FWHM in Hz cannot be compared with a limit in ppm, not applied",
            )
        )
    fwhm_hz = th.fwhm_max_ppm * mhz if mhz else 0.0
    fwhm_unit = f" Hz ({th.fwhm_max_ppm:g} ppm at {mhz:g} MHz)" if mhz else ""
    records = []
    for c in _choose(candidates, skipped):
        values = _load(c.path)
        qc = _QC(values.shape, skipped)
        stem = _stem(c.path)
        sd = _find(folder / "uncertainties", f"{stem}_sd")
        # A combined map (PCho+GPC) has QC maps only for its parts: it passes where one does.
        parts = [
            _all(
                [
                    qc.check(_find(folder / "qc", f"{basis}_snr"), ">=", th.snr_min),
                    qc.check(
                        _find(folder / "qc", f"{basis}_fwhm") if mhz else None,
                        "<=",
                        fwhm_hz,
                        fwhm_unit,
                    ),
                ]
            )
            for basis in stem.split("+")
        ]
        checks = [_any(parts)]
        if sd is not None:
            # FSL-MRS writes 999 % where the uncertainty is undetermined (a failed fit).
            checks.append(qc.check(sd, "<", 999.0, " %"))
            if th.crlb_max is not None:
                checks.append(qc.check(sd, "<=", th.crlb_max, " %"))
        quality, source = _all(checks)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units=FSL_MRS_SCALINGS[scaling],
                sd=sd,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                notes=c.match.notes,
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))


# --- Vienna 7T pipeline --------------------------------------------------------------------

_VIENNA_SNR_MAPS = (
    "SNR_map",
    "SNR_NAA_PseudoReplica_spectral_map",
    "SNR_Cr_PseudoReplica_spectral_map",
)
_VIENNA_NOT_READ = {
    "Ratio": "ratio maps",
    "Ratio_New": "ratio maps",
    "Outlier_Clip": "clipped copies of maps/Orig",
    "QualityAndOutlier_Clip": "masked and clipped copies of maps/Orig (the QC is applied here "
    "as a mask instead)",
}


def _read_vienna(folder: Path, th: QualityThresholds) -> PipelineMaps:
    maps = folder / "maps" if (folder / "maps").is_dir() else folder
    orig = maps / "Orig"
    if not orig.is_dir():
        raise UserError(
            f"--from vienna {folder}: no maps/Orig folder; give the output folder of "
            "Part2_EvaluateMRSI.sh"
        )
    skipped: list[tuple[Path, str]] = []
    files = _nifti_files(orig, skipped)
    if not files and not skipped:
        raise UserError(
            f"--from vienna {orig}: no NIfTI maps; run Part2_EvaluateMRSI.sh with -N Nifti "
            "(or convert the .mnc files with mnc2nii)"
        )
    skipped += [
        (maps / name, why) for name, why in _VIENNA_NOT_READ.items() if (maps / name).is_dir()
    ]
    candidates = []
    for path in files:
        stem = _stem(path)
        if stem.endswith(("_sd_map", "_crlb_map")):
            continue  # read with their map
        if stem.endswith("_interpol"):
            skipped.append(
                (path, "resampled by the pipeline; the map at the acquisition grid is used")
            )
            continue
        if not stem.endswith("_amp_map"):
            skipped.append((path, "not an amplitude map (<Met>_amp_map)"))
            continue
        label = stem[: -len("_amp_map")]
        try:
            metabolite_from_filename(path)  # refuses ratio-like names such as <Met>_RatTo…
        except NotAConcentration as err:
            skipped.append((path, str(err)))
            continue
        except ValueError:
            pass  # judged by its label
        try:
            candidates.append(_Candidate(path, normalise_name(label)))
        except ValueError:
            skipped.append((path, f"{label} is not a metabolite the model knows"))
    extra = maps / "Extra"
    snr_path = next((p for p in (_find(extra, s) for s in _VIENNA_SNR_MAPS) if p), None)
    brain = _find(maps, "mask")
    records = []
    for c in _choose(candidates, skipped):
        values = _load(c.path)
        label = _stem(c.path)[: -len("_amp_map")]
        sd = _find(orig, f"{label}_sd_map")
        crlb = _find(orig, f"{label}_crlb_map") or sd
        qc = _QC(values.shape, skipped)
        quality, source = _spectrum_checks(qc, snr_path, _find(extra, "FWHM_map"), crlb, th)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units="arbitrary units (LCModel amplitude)",
                sd=sd or crlb,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                brain_mask=brain,
                notes=c.match.notes,
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))


# --- MRSIPrep ------------------------------------------------------------------------------

_BIDS_MRSI = re.compile(
    r"^(?P<prefix>sub-(?P<sub>[A-Za-z0-9]+)(?:_ses-(?P<ses>[A-Za-z0-9]+))?)"
    r"_space-(?P<space>[A-Za-z0-9]+)"
    r"(?:_res-[^_]+)?(?:_met-(?P<met>[A-Za-z0-9+]+))?_desc-(?P<desc>[A-Za-z0-9]+)"
    r"(?:_(?P<variant>[^_]+))?_mrsi\.nii(?:\.gz)?$"
)
_MRSIPREP_QC = {"crlb", "snr", "fwhm", "linewidth", "brainmask"}
FILTERED_NOTE = (
    "a spatially filtered map is not a k-space truncation of the measurement: data "
    "consistency keeps the filter's low frequencies, and the model was trained on measured maps"
)
"""Why ``--from mrsiprep`` reads the measured ``desc-signal`` maps by default."""


def _bids_root(folder: Path) -> Path | None:
    """The BIDS dataset a folder belongs to: itself if it holds ``derivatives/``, else the
    folder above the nearest ``derivatives`` folder on its path."""
    if (folder / "derivatives").is_dir():
        return folder
    resolved = folder.resolve()
    for parent in (resolved, *resolved.parents):
        if parent.name == "derivatives":
            return parent.parent
    return None


def _bids_anatomy(
    root: Path | None, sub: str, ses: str, suffix: str, skipped: list[tuple[Path, str]]
) -> Path | None:
    """The one raw ``sub-X[/ses-Y]/anat/*_<suffix>.nii[.gz]`` of a subject, or None."""
    if root is None:
        return None
    anat = root / f"sub-{sub}" / (f"ses-{ses}" if ses else "") / "anat"
    if not anat.is_dir():
        return None
    found = sorted(
        p
        for p in anat.iterdir()
        if re.search(rf"_{suffix}\.nii(\.gz)?$", p.name) and "_desc-" not in p.name
    )
    if len(found) > 1:
        option = {"T1w": "--t1", "FLAIR": "--flair"}[suffix]
        skipped += [(p, f"one of several {suffix} images; give {option}") for p in found]
        return None
    return found[0] if found else None


def _read_mrsiprep(folder: Path, th: QualityThresholds, variant: str | None = None) -> PipelineMaps:
    skipped: list[tuple[Path, str]] = []
    per_subject: dict[str, dict[str, dict[str, Path]]] = {}  # sub-X_ses-Y -> desc -> met -> file
    labels: dict[str, tuple[str, str]] = {}  # sub-X_ses-Y -> (X, Y)
    for path in sorted(folder.rglob("*_mrsi.nii*")):
        m = _BIDS_MRSI.match(path.name)
        if m is None:
            skipped.append((path, "not a BIDS MRSI derivative name (sub-X_space-Y_…_mrsi)"))
            continue
        if m["space"] != "orig":
            skipped.append((path, f"space-{m['space']}: not the acquisition grid (space-orig)"))
            continue
        why = _unusable(path)
        if why:
            skipped.append((path, why))
            continue
        labels[m["prefix"]] = (m["sub"], m["ses"] or "")
        desc = f"{m['desc']}_{m['variant']}" if m["variant"] else m["desc"]
        entries = per_subject.setdefault(m["prefix"], {}).setdefault(desc, {})
        key = m["met"] or ""
        if key in entries:
            skipped.append((path, f"another file gives the same map: {entries[key].name}"))
            continue
        entries[key] = path
    signal = f"signal_{variant}" if variant else "signal"
    candidates = []
    for subject, descs in per_subject.items():
        for desc, mets in descs.items():
            if desc == signal or desc in _MRSIPREP_QC:
                continue
            if desc.startswith("signal_"):
                name = desc.removeprefix("signal_")
                why = f"desc-{desc}: {FILTERED_NOTE}; --map-variant {name} reads it"
            elif desc == "signal":
                why = f"desc-signal: the measured map, not read with --map-variant {variant}"
            else:
                why = f"desc-{desc}: not read"
            skipped += [(p, why) for p in mets.values()]
        for met, path in descs.get(signal, {}).items():
            if not met or met.lower() == "water":
                skipped.append((path, "water reference or no met- label: not a metabolite map"))
                continue
            try:
                candidates.append(_Candidate(path, normalise_name(met), subject))
            except ValueError:
                skipped.append((path, f"met-{met} is not a metabolite the model knows"))
    root = _bids_root(folder)
    anatomy = {
        prefix: tuple(
            _bids_anatomy(root, *labels[prefix], kind, skipped) for kind in ("T1w", "FLAIR")
        )
        for prefix in {c.subject for c in candidates}
    }
    records = []
    for c in _choose(candidates, skipped):
        descs = per_subject[c.subject]
        sub, ses = labels[c.subject]
        values = _load(c.path)
        crlb = descs.get("crlb", {}).get(c.match.label)
        fwhm = descs.get("fwhm", {}).get("") or descs.get("linewidth", {}).get("")
        qc = _QC(values.shape, skipped)
        quality, source = _spectrum_checks(qc, descs.get("snr", {}).get(""), fwhm, crlb, th)
        records.append(
            MapRecord(
                path=c.path,
                metabolite=c.match.metabolite,
                label=c.match.label,
                units="arbitrary units",
                sd=crlb,
                sd_percent=True,
                quality=quality,
                quality_source=source,
                brain_mask=descs.get("brainmask", {}).get(""),
                subject=sub,
                session=ses,
                t1=anatomy[c.subject][0],
                flair=anatomy[c.subject][1],
                notes=(*c.match.notes, *((f"desc-{signal}: {FILTERED_NOTE}",) if variant else ())),
            )
        )
    return PipelineMaps(tuple(records), tuple(skipped))
