"""Step 1 of a prediction: what to super-resolve and where each result goes (:class:`Job`).

:func:`plan_jobs` turns the arguments of ``mrsisr predict`` (one map, several maps of one
patient, a manifest CSV of a cohort, or a pipeline's output folder) into jobs; it checks
arguments only and reads no image but a pipeline folder's QC maps. Ways of naming inputs
(metabolite names in file names, pipeline folders) belong here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrsisr.data.nifti import split_suffix
from mrsisr.errors import UserError, argument
from mrsisr.inference import DEFAULT_SHARPNESS
from mrsisr.metabolites import Metabolite, NameMatch, metabolite_of_file
from mrsisr.pipelines import MapRecord, QualityThresholds, read_pipeline
from mrsisr.provenance import bids_label, bids_map_name, bids_mask_name, sidecar_path
from mrsisr.untrusted import read_text

__all__ = [
    "MANIFEST_COLUMNS",
    "BidsOutput",
    "Job",
    "PipelineInput",
    "output_name",
    "parse_sharpness",
    "plan_jobs",
    "report_paths",
    "sd_name",
]

log = logging.getLogger(__name__)


MANIFEST_COLUMNS = ("patient", "metabolite", "met", "t1", "flair")
_PATIENT_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # fullmatch: no trailing newline


@dataclass(frozen=True)
class Job:
    """One map to super-resolve and where its results go.

    Args:
        patient: patient id ("" for a single patient given on the command line).
        metabolite: which metabolite the map is.
        met: the low-resolution map file.
        t1: the T1-weighted image file, or ``None`` (no T1: a model with presence flags).
        flair: the FLAIR image file, or ``None`` (no FLAIR).
        mask: a mask file, or ``None`` to derive one from the images (from the maps
            without an image).
        out: output file (``.nii`` or ``.nii.gz``); with several λ and no ``stack`` the
            files are named by :func:`output_name`.
        mask_out: where the mask used is written (shared by the jobs of one patient).
        sharpness: the λ values.
        stack: write the λ values as one 4-D file.
        metabolite_given: the name as given (by the user, the file name or the pipeline's
            label), recorded in the sidecar.
        units: units of the map's values, recorded in the sidecar.
        source: for a map of a pipeline's folder (:class:`PipelineInput`), the pipeline's
            record of it (its SD map, the quality mask of the pipeline's QC, …); else None.
        notes: what the user should know about this map (logged and in the sidecar).
        named_outputs: the output files, one per λ (or one with ``stack``), when they are
            named otherwise than from ``out`` (:class:`BidsOutput`); empty: from ``out``.
        bids_root: the :class:`BidsOutput` folder (gets a ``dataset_description.json``), or
            None.
        uncertainty: ``"tta"`` or ``"fit"`` to also write an SD map beside each output
            (:attr:`sd_outputs`, :mod:`mrsisr.uncertainty`), ``""`` for none.
        sd: the SD map of the low-resolution fit on the map's grid, used by ``"fit"``.
        sd_percent: ``sd`` holds percent of the map's values (a pipeline's CRLB or %SD),
            not the map's units; converted before use.
    """

    patient: str
    metabolite: Metabolite
    met: Path
    t1: Path | None
    flair: Path | None
    mask: Path | None
    out: Path
    mask_out: Path
    sharpness: tuple[float, ...]
    stack: bool = False
    metabolite_given: str = ""
    units: str = "as the input"
    source: MapRecord | None = None
    notes: tuple[str, ...] = ()
    named_outputs: tuple[Path, ...] = ()
    bids_root: Path | None = None
    uncertainty: str = ""
    sd: Path | None = None
    sd_percent: bool = False

    @property
    def outputs(self) -> tuple[Path, ...]:
        """The files this job writes, one per λ (or one 4-D file)."""
        if self.named_outputs:
            return self.named_outputs
        if self.stack or len(self.sharpness) == 1:
            return (self.out,)
        return tuple(output_name(self.out, lam) for lam in self.sharpness)

    @property
    def sd_outputs(self) -> tuple[Path, ...]:
        """The SD maps written beside :attr:`outputs` (``sr_Gln.nii.gz`` →
        ``sr_Gln_sd.nii.gz``); none without :attr:`uncertainty`."""
        return tuple(sd_name(path) for path in self.outputs) if self.uncertainty else ()

    @property
    def sidecars(self) -> tuple[Path, ...]:
        """The provenance sidecar of each output (:func:`mrsisr.provenance.sidecar_path`)."""
        return tuple(sidecar_path(path) for path in self.outputs)

    @property
    def anatomy_key(self) -> tuple[Path | None, Path | None, Path | None, Path]:
        """Jobs with the same key share their anatomical inputs and mask."""
        return (self.t1, self.flair, self.mask, self.mask_out)


def _optional_path(path: str | Path | None) -> Path | None:
    return None if path is None else Path(path)


def output_name(out: Path, lam: float) -> Path:
    """The file for one λ of several: ``sr_Gln.nii.gz`` → ``sr_Gln_lam0.03.nii.gz``."""
    stem, suffix = split_suffix(out)
    return out.with_name(f"{stem}_lam{lam:g}{suffix}")


def sd_name(out: Path) -> Path:
    """The SD map beside an output: ``sr_Gln_lam0.03.nii.gz`` → ``sr_Gln_lam0.03_sd.nii.gz``."""
    stem, suffix = split_suffix(out)
    return out.with_name(f"{stem}_sd{suffix}")


def report_paths(jobs: Sequence[Job]) -> dict[Path, Path]:
    """Output folder → the HTML report written for it (:func:`mrsisr.report.write_report`).

    ``report.html`` in an output folder; ``<name>_report.html`` beside a single map written
    to the file ``out`` (its folder may hold other files).
    """
    folders: dict[Path, list[Job]] = {}
    for job in jobs:
        folders.setdefault(job.out.parent, []).append(job)
    paths = {}
    for folder, members in folders.items():
        single = members[0].mask_out == members[0].out.with_name(
            f"{split_suffix(members[0].out)[0]}_mask{split_suffix(members[0].out)[1]}"
        )
        name = f"{split_suffix(members[0].out)[0]}_report.html" if single else "report.html"
        paths[folder] = folder / name
    return paths


def _with_uncertainty(
    jobs: list[Job],
    method: str | None,
    sd: Sequence[Path] | None,
    form: str,
    sd_percent: bool = False,
) -> list[Job]:
    """``jobs`` with their uncertainty method and SD maps (``sd``, a manifest's ``sd``
    column or the pipeline's SD map), checked.

    Args:
        form: the argument the maps were given by: ``met``, ``manifest`` or ``source``.

    Raises:
        UserError: unknown method, ``fit`` without an SD map for some map, ``sd`` without
            ``fit``, or not one ``sd`` file per ``met`` file; ``sd_percent`` without SD
            maps of the user's (a pipeline says the units of its own).
    """
    from mrsisr.uncertainty import Uncertainty

    valid = [m.value for m in Uncertainty]
    if method and method not in valid:
        raise UserError(
            f"{argument('uncertainty')}: unknown method {method!r}; valid: {', '.join(valid)}"
        )
    if sd:
        if form != "met":
            raise UserError(
                f"{argument('sd')}: only with {argument('met')} (with {argument(form)}, the SD "
                "maps come from it)"
            )
        if method != "fit":
            raise UserError(
                f"{argument('sd')}: SD maps are used by {argument('uncertainty')} fit, not "
                f"{method or 'none'}"
            )
        if len(sd) != len(jobs):
            raise UserError(
                f"{argument('sd')}: {len(sd)} file(s) for {len(jobs)} {argument('met')} file(s); "
                "give one per map, in the same order"
            )
        jobs = [dataclasses.replace(job, sd=Path(p)) for job, p in zip(jobs, sd)]
    if sd_percent and (method != "fit" or form == "source"):
        why = "the pipeline states its SD units" if form == "source" else "without SD maps"
        raise UserError(
            f"{argument('sd_percent')}: only with {argument('uncertainty')} fit and "
            f"{argument('sd')} or a manifest ({why})"
        )
    if not method:
        return [dataclasses.replace(job, sd=None) for job in jobs]
    out = []
    for job in jobs:
        spread = job.sd or (job.source.sd if job.source is not None else None)
        percent = sd_percent if job.sd else (job.source is not None and job.source.sd_percent)
        if method == "fit" and spread is None:
            where = {"met": f"give {argument('sd')}", "manifest": "fill its 'sd' column"}.get(
                form, f"{argument(form)} found no SD map for it"
            )
            raise UserError(f"{argument('uncertainty')} fit: no SD map for {job.met}; {where}")
        fit = method == "fit"
        out.append(
            dataclasses.replace(
                job,
                uncertainty=method,
                sd=spread if fit else None,
                sd_percent=bool(fit and percent),
            )
        )
    return out


def parse_sharpness(values: Sequence[float] | None) -> tuple[float, ...]:
    """The λ values to use: the default if none, duplicates dropped.

    Raises:
        UserError: for a negative or non-finite value.
    """
    if not values:
        return DEFAULT_SHARPNESS
    named: dict[str, float] = {}
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise UserError(
                f"{argument('sharpness')}: {v:g} is not allowed; give finite values >= 0"
            )
        v = float(v) + 0.0  # -0.0 is 0
        previous = named.setdefault(f"{v:g}", v)
        if previous != v:  # one file name (output_name) for two values
            raise UserError(
                f"{argument('sharpness')}: {previous!r} and {float(v)!r} both print as {v:g} "
                "and would be written to one file; give values that differ in their first 6 "
                "digits"
            )
    return tuple(named.values())


def _metabolite(path: Path, given: str | None, force: bool, where: str = "") -> NameMatch:
    """The metabolite of a map file (:func:`mrsisr.metabolites.metabolite_of_file`)."""
    try:
        match = metabolite_of_file(path, given, force)
    except ValueError as err:  # NotAConcentration too
        raise UserError(f"{where}{path}: {err}") from None
    if match.partial and match.label.lower() == match.metabolite.value.lower():
        # the model's own name (NAA given as NAA): the user means what the model means
        return NameMatch(match.metabolite, match.label)
    if match.partial:
        log.info("%s: note: %s", path, match.note)
    return match


def _job(match: NameMatch, **fields: Any) -> Job:
    """A job for a map whose metabolite is ``match`` (its note, if any, among the notes)."""
    fields.setdefault("notes", match.notes)
    return Job(metabolite=match.metabolite, metabolite_given=match.label, **fields)


def _check_output_file(out: Path) -> None:
    if not split_suffix(out)[1]:
        raise UserError(f"{argument('out')} {out}: must end in .nii.gz or .nii (or be a directory)")


def _read_manifest(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise UserError(f"{path}: manifest not found")
    text = read_text(path, "a prediction manifest (CSV)")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [c.strip() for c in reader.fieldnames or ()]
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except csv.Error as err:
        raise UserError(f"{path}: not a readable CSV file ({err})") from None
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; "
            f"needs {', '.join(MANIFEST_COLUMNS)} and optionally mask, sd"
        )
    if not rows:
        raise UserError(f"{path}: no rows; give one row per map")
    return rows


def _manifest_jobs(
    manifest: Path, out: Path, sharpness: tuple[float, ...], stack: bool, force: bool
) -> list[Job]:
    if out.exists() and not out.is_dir():
        raise UserError(
            f"{argument('out')} {out}: is a file; {argument('manifest')} needs an output directory"
        )
    base = manifest.parent
    jobs = []
    for line, row in enumerate(_read_manifest(manifest), start=2):
        where = f"{manifest}: line {line}"
        patient = row["patient"]
        if not _PATIENT_ID.fullmatch(patient):
            raise UserError(f"{where}: patient id {patient!r} must be letters, digits, _ . -")
        for column in ("metabolite", "met"):
            if not row[column]:
                raise UserError(f"{where}: empty '{column}' column; give a file path")
        match = _metabolite(base / row["met"], row["metabolite"], force, f"{where}: ")
        folder = out / patient
        jobs.append(
            _job(
                match,
                patient=patient,
                met=base / row["met"],
                t1=base / row["t1"] if row["t1"] else None,
                flair=base / row["flair"] if row["flair"] else None,
                mask=base / row["mask"] if row.get("mask") else None,
                sd=base / row["sd"] if row.get("sd") else None,
                out=folder / f"sr_{match.metabolite.value}.nii.gz",
                mask_out=folder / "mask.nii.gz",
                sharpness=sharpness,
                stack=stack,
            )
        )
    return jobs


@dataclass(frozen=True)
class PipelineInput:
    """A pipeline's output folder to read (:func:`mrsisr.pipelines.read_pipeline`).

    Args:
        pipeline: a name of :data:`mrsisr.pipelines.READERS` (``fsl-mrs``, ``vienna``, ...).
        folder: its output folder.
        scaling: FSL-MRS's ``concs/`` sub-folder, or None for the default.
        thresholds: the QC filter of the quality masks.
        variant: MRSIPrep: the ``desc-signal_<variant>`` maps to read instead of the
            measured ``desc-signal`` ones, or None.
    """

    pipeline: str
    folder: Path
    scaling: str | None = None
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)
    variant: str | None = None


def _pipeline_jobs(
    source: PipelineInput,
    t1: Path | None,
    flair: Path | None,
    mask: Path | None,
    out: Path,
    sharpness: tuple[float, ...],
    stack: bool,
) -> list[Job]:
    if split_suffix(out)[1] or (out.exists() and not out.is_dir()):
        raise UserError(
            f"{argument('out')} {out}: {argument('source')} writes several maps; give an output "
            "directory"
        )
    found = read_pipeline(
        source.pipeline,
        source.folder,
        scaling=source.scaling,
        thresholds=source.thresholds,
        variant=source.variant,
    )
    subjects: dict[tuple[str, str], list[MapRecord]] = {}
    for record in found.maps:
        subjects.setdefault((record.subject, record.session), []).append(record)
    several = len(subjects) > 1
    if several and (t1 or flair or mask):
        given = ", ".join(
            argument(n) for n, v in (("t1", t1), ("flair", flair), ("mask", mask)) if v
        )
        raise UserError(
            f"{given}: {source.folder} holds {len(subjects)} subjects; their own T1w and FLAIR "
            "images (BIDS anat/) are used, so give none (or one subject's folder)"
        )
    jobs = []
    for (subject, session), records in subjects.items():
        name = "_".join(
            p for p in (subject and f"sub-{subject}", session and f"ses-{session}") if p
        )
        folder = out / name if several else out
        first = records[0]
        anatomy = {"t1": t1 or first.t1, "flair": flair or first.flair}
        for record in records:
            jobs.append(
                _job(
                    NameMatch(record.metabolite, record.label, ()),
                    patient=name,
                    met=record.path,
                    t1=_optional_path(anatomy["t1"]),
                    flair=_optional_path(anatomy["flair"]),
                    mask=mask or first.brain_mask,
                    out=folder / f"sr_{record.metabolite.value}.nii.gz",
                    mask_out=folder / "mask.nii.gz",
                    sharpness=sharpness,
                    stack=stack,
                    units=record.units,
                    source=record,
                    notes=record.notes,
                )
            )
    return jobs


@dataclass(frozen=True)
class BidsOutput:
    """Where outputs go under BIDS-derivative names: under ``root``.

    Args:
        root: the derivative dataset's folder.
        subject: the BIDS subject label for maps that carry none.
        session: the BIDS session label for maps that carry none.
    """

    root: Path
    subject: str | None = None
    session: str | None = None


def _check_bids_labels(bids: BidsOutput) -> None:
    """Refuse a ``subject`` or ``session`` that is not a BIDS label."""
    for option, value, what in (
        ("bids.subject", bids.subject, "subject"),
        ("bids.session", bids.session, "session"),
    ):
        if value is not None:
            try:
                bids_label(value, what)
            except ValueError as err:
                raise UserError(f"{argument(option)}: {err}") from None


def _bids_named(job: Job, bids: BidsOutput) -> Job:
    """``job`` with its outputs and mask under BIDS-derivative names in ``bids.root``."""
    record = job.source
    subject = (record.subject if record else "") or bids.subject
    session = (record.session if record else "") or bids.session
    subject = subject or job.patient  # a manifest's patient id
    if not subject:
        raise UserError(
            f"{argument('bids.subject')}: required with {argument('bids')} for maps without a "
            "BIDS subject (letters and digits, e.g. 01)"
        )
    names: tuple[Path, ...]
    try:
        if job.stack:
            names = (bids.root / bids_map_name(subject, session, job.metabolite, None),)
        else:
            names = tuple(
                bids.root / bids_map_name(subject, session, job.metabolite, lam)
                for lam in job.sharpness
            )
        mask_out = bids.root / bids_mask_name(subject, session)
    except ValueError as err:  # the given labels are checked by _check_bids_labels
        where = "a manifest's patient id" if job.patient and not record else "a pipeline label"
        raise UserError(
            f"{argument('bids')}: {where}: {err}; give {argument('out')} instead"
        ) from None
    return dataclasses.replace(
        job, out=names[0], named_outputs=names, mask_out=mask_out, bids_root=bids.root
    )


def plan_jobs(
    *,
    met: Sequence[Path] | None,
    metabolites: Sequence[str] | None,
    t1: Path | None,
    flair: Path | None,
    mask: Path | None,
    manifest: Path | None,
    out: Path | None,
    sharpness: Sequence[float] | None = None,
    stack: bool = False,
    source: PipelineInput | None = None,
    force_metabolite: bool = False,
    bids: BidsOutput | None = None,
    uncertainty: str | None = None,
    sd: Sequence[Path] | None = None,
    sd_percent: bool = False,
) -> list[Job]:
    """The jobs the ``predict`` arguments describe (argument-level checks only).

    One ``met`` file and an ``out`` ending in ``.nii[.gz]`` write that file; several
    files (or an ``out`` that is an existing directory) write ``OUT/sr_<Met>.nii.gz``; a
    manifest writes ``OUT/<patient>/sr_<Met>.nii.gz``; a pipeline folder (``source``)
    ``OUT/sr_<Met>.nii.gz``, or ``OUT/sub-X[_ses-Y]/sr_<Met>.nii.gz`` for several subjects.
    With ``bids``, the outputs get BIDS-derivative names under ``bids.root`` instead.
    With ``uncertainty`` every output gets an SD map beside it (:func:`sd_name`); ``fit``
    needs an SD map per map: ``sd`` (one per ``met`` file), a manifest's ``sd`` column or
    the pipeline's own (FSL-MRS ``uncertainties/``, Vienna ``*_sd_map``, …), which hold
    percent of the map (as do the user's with ``sd_percent``; :attr:`Job.sd_percent`).
    Metabolites come from :func:`mrsisr.metabolites.metabolite_of_file` (``metabolites``
    checked against the file names unless ``force_metabolite``). Pipeline folders are read
    here (their QC maps too); map files are not. See also ``mrsisr predict``.

    Raises:
        UserError: naming the argument and what it accepts.
    """
    lams = parse_sharpness(sharpness)
    if bids is not None:
        _check_bids_labels(bids)
        if out is not None:
            raise UserError(
                f"{argument('bids')}: give {argument('out')} or {argument('bids')}, not both"
            )
        target = bids.root
    elif out is None:
        raise UserError(
            f"{argument('out')}: required (a .nii.gz file or a folder), or {argument('bids')} DIR"
        )
    else:
        target = out
    forms = [name for name, v in (("met", met), ("manifest", manifest), ("source", source)) if v]
    if len(forms) > 1:
        raise UserError(
            f"{argument(forms[0])}: give one of {argument('met')}, {argument('manifest')} and "
            f"{argument('source')}, not {argument(forms[1])}"
        )
    if manifest is not None:
        if t1 or flair or mask or metabolites:
            raise UserError(
                f"{argument('manifest')}: give either a manifest or "
                f"{argument('met')}/{argument('t1')}/{argument('flair')}, not both"
            )
        jobs = _manifest_jobs(manifest, target, lams, stack, force_metabolite)
    elif source is not None:
        if metabolites:
            raise UserError(
                f"{argument('metabolites')}: not with {argument('source')} (the pipeline's names "
                "are used)"
            )
        jobs = _pipeline_jobs(source, t1, flair, mask, target, lams, stack)
    else:
        jobs = _met_jobs(
            met, metabolites, t1, flair, mask, target, lams, stack, force_metabolite, bids
        )
    form = forms[0] if forms else "met"
    jobs = _with_uncertainty(jobs, uncertainty, sd, form, sd_percent)
    return [_bids_named(job, bids) for job in jobs] if bids is not None else jobs


def _met_jobs(
    met: Sequence[Path] | None,
    metabolites: Sequence[str] | None,
    t1: Path | None,
    flair: Path | None,
    mask: Path | None,
    out: Path,
    lams: tuple[float, ...],
    stack: bool,
    force: bool,
    bids: BidsOutput | None = None,
) -> list[Job]:
    if not met:
        raise UserError(
            f"{argument('met')}: give at least one low-resolution map (or "
            f"{argument('manifest')} CSV, or {argument('source')} DIR)"
        )
    if metabolites is not None and len(metabolites) != len(met):
        raise UserError(
            f"{argument('metabolites')}: {len(metabolites)} name(s) for {len(met)} "
            f"{argument('met')} file(s); give one per file, in the same order"
        )
    given: list[str | None] = list(metabolites) if metabolites else [None] * len(met)
    matches = [_metabolite(Path(path), name, force) for path, name in zip(met, given)]
    to_dir = len(met) > 1 or out.is_dir() or bids is not None  # BIDS names replace these
    if not to_dir:
        _check_output_file(out)
        stem = split_suffix(out)[0]
        outs, mask_out = [out], out.with_name(f"{stem}_mask{split_suffix(out)[1]}")
    else:
        if out.exists() and not out.is_dir():
            raise UserError(
                f"{argument('out')} {out}: is a file; several maps need an output directory"
            )
        outs = [out / f"sr_{m.metabolite.value}.nii.gz" for m in matches]
        mask_out = out / "mask.nii.gz"
    return [
        _job(
            match,
            patient="",
            met=Path(path),
            t1=_optional_path(t1),
            flair=_optional_path(flair),
            mask=mask,
            out=target,
            mask_out=mask_out,
            sharpness=lams,
            stack=stack,
        )
        for match, path, target in zip(matches, met, outs)
    ]
