"""Step 1 of a prediction: what to super-resolve and where each result goes (:class:`Job`).

:func:`plan_jobs` turns the arguments of ``mrsisr predict`` (one map, several maps of one
patient, or a manifest CSV of a cohort) into jobs; it checks arguments only and reads no
image. Ways of naming inputs (metabolite names in file names, pipeline folders) belong here.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mrsisr.data.nifti import split_suffix
from mrsisr.errors import UserError
from mrsisr.inference import DEFAULT_SHARPNESS
from mrsisr.metabolites import METABOLITES, Metabolite, parse_metabolite
from mrsisr.untrusted import read_text

__all__ = [
    "MANIFEST_COLUMNS",
    "Job",
    "metabolite_from_name",
    "output_name",
    "parse_sharpness",
    "plan_jobs",
]


MANIFEST_COLUMNS = ("patient", "metabolite", "met", "t1", "flair")
_PATIENT_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Job:
    """One map to super-resolve and where its results go.

    Args:
        patient: patient id ("" for a single patient given on the command line).
        metabolite: which metabolite the map is.
        met: the low-resolution map file.
        t1: the T1-weighted image file.
        flair: the FLAIR image file.
        mask: a mask file, or ``None`` to derive one from T1 and FLAIR.
        out: output file (``.nii`` or ``.nii.gz``); with several λ and no ``stack`` the
            files are named by :func:`output_name`.
        mask_out: where the mask used is written (shared by the jobs of one patient).
        sharpness: the λ values.
        stack: write the λ values as one 4-D file.
    """

    patient: str
    metabolite: Metabolite
    met: Path
    t1: Path
    flair: Path
    mask: Path | None
    out: Path
    mask_out: Path
    sharpness: tuple[float, ...]
    stack: bool = False

    @property
    def outputs(self) -> tuple[Path, ...]:
        """The files this job writes, one per λ (or one 4-D file)."""
        if self.stack or len(self.sharpness) == 1:
            return (self.out,)
        return tuple(output_name(self.out, lam) for lam in self.sharpness)

    @property
    def anatomy_key(self) -> tuple[Path, Path, Path | None, Path]:
        """Jobs with the same key share their anatomical inputs and mask."""
        return (self.t1, self.flair, self.mask, self.mask_out)


def output_name(out: Path, lam: float) -> Path:
    """The file for one λ of several: ``sr_Gln.nii.gz`` → ``sr_Gln_lam0.03.nii.gz``."""
    stem, suffix = split_suffix(out)
    return out.with_name(f"{stem}_lam{lam:g}{suffix}")


def parse_sharpness(values: Sequence[float] | None) -> tuple[float, ...]:
    """The λ values to use: the default if none, duplicates dropped.

    Raises:
        UserError: for a negative or non-finite value.
    """
    if not values:
        return DEFAULT_SHARPNESS
    for v in values:
        if not math.isfinite(v) or v < 0:
            raise UserError(f"--sharpness: {v:g} is not allowed; give finite values >= 0")
    return tuple(dict.fromkeys(float(v) for v in values))


def metabolite_from_name(path: Path) -> Metabolite:
    """The metabolite named in a file name such as ``lr_Gln.nii.gz`` (exactly one must match).

    Raises:
        UserError: if no token, or several different ones, name a metabolite.
    """
    stem, _ = split_suffix(path)
    found = set()
    for token in re.split(r"[^A-Za-z0-9+]+", stem):
        try:
            found.add(parse_metabolite(token))
        except ValueError:
            continue
    if len(found) != 1:
        known = ", ".join(m.value for m in METABOLITES)
        raise UserError(
            f"{path}: cannot tell the metabolite from the file name; "
            f"give --metabolite (known: {known})"
        )
    return found.pop()


def _metabolite(name: str, where: str) -> Metabolite:
    try:
        return parse_metabolite(name)
    except ValueError as err:
        raise UserError(f"{where}: {err}") from None


def _check_output_file(out: Path) -> None:
    if not split_suffix(out)[1]:
        raise UserError(f"--out {out}: must end in .nii.gz or .nii (or be a directory)")


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
            f"needs {', '.join(MANIFEST_COLUMNS)} and optionally mask"
        )
    if not rows:
        raise UserError(f"{path}: no rows; give one row per map")
    return rows


def _manifest_jobs(
    manifest: Path, out: Path, sharpness: tuple[float, ...], stack: bool
) -> list[Job]:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; --manifest needs an output directory")
    base = manifest.parent
    jobs = []
    for line, row in enumerate(_read_manifest(manifest), start=2):
        where = f"{manifest}: line {line}"
        patient = row["patient"]
        if not _PATIENT_ID.match(patient):
            raise UserError(f"{where}: patient id {patient!r} must be letters, digits, _ . -")
        met = _metabolite(row["metabolite"], where)
        for column in ("met", "t1", "flair"):
            if not row[column]:
                raise UserError(f"{where}: empty '{column}' column; give a file path")
        folder = out / patient
        jobs.append(
            Job(
                patient=patient,
                metabolite=met,
                met=base / row["met"],
                t1=base / row["t1"],
                flair=base / row["flair"],
                mask=base / row["mask"] if row.get("mask") else None,
                out=folder / f"sr_{met.value}.nii.gz",
                mask_out=folder / "mask.nii.gz",
                sharpness=sharpness,
                stack=stack,
            )
        )
    return jobs


def plan_jobs(
    *,
    met: Sequence[Path] | None,
    metabolites: Sequence[str] | None,
    t1: Path | None,
    flair: Path | None,
    mask: Path | None,
    manifest: Path | None,
    out: Path,
    sharpness: Sequence[float] | None = None,
    stack: bool = False,
) -> list[Job]:
    """The jobs the ``predict`` arguments describe (argument-level checks only).

    One ``--met`` file and an ``--out`` ending in ``.nii[.gz]`` write that file; several
    files (or an ``--out`` that is an existing directory) write ``OUT/sr_<Met>.nii.gz``; a
    manifest writes ``OUT/<patient>/sr_<Met>.nii.gz``.

    Raises:
        UserError: naming the argument and what it accepts.
    """
    lams = parse_sharpness(sharpness)
    if manifest is not None:
        if met or t1 or flair or mask or metabolites:
            raise UserError("--manifest: give either a manifest or --met/--t1/--flair, not both")
        return _manifest_jobs(manifest, out, lams, stack)
    if not met:
        raise UserError("--met: give at least one low-resolution map (or --manifest CSV)")
    for name, value in (("--t1", t1), ("--flair", flair)):
        if value is None:
            raise UserError(f"{name}: required with --met (a co-registered image, any grid)")
    if metabolites is not None and len(metabolites) != len(met):
        raise UserError(
            f"--metabolite: {len(metabolites)} name(s) for {len(met)} --met file(s); "
            "give one per file, in the same order"
        )
    mets = [
        _metabolite(name, "--metabolite") if metabolites else metabolite_from_name(path)
        for path, name in zip(met, metabolites or [None] * len(met))
    ]
    to_dir = len(met) > 1 or out.is_dir()
    if not to_dir:
        _check_output_file(out)
        stem = split_suffix(out)[0]
        outs, mask_out = [out], out.with_name(f"{stem}_mask{split_suffix(out)[1]}")
    else:
        if out.exists() and not out.is_dir():
            raise UserError(f"--out {out}: is a file; several maps need an output directory")
        outs = [out / f"sr_{m.value}.nii.gz" for m in mets]
        mask_out = out / "mask.nii.gz"
    return [
        Job(
            patient="",
            metabolite=metabolite,
            met=Path(path),
            t1=Path(t1),
            flair=Path(flair),
            mask=mask,
            out=target,
            mask_out=mask_out,
            sharpness=lams,
            stack=stack,
        )
        for metabolite, path, target in zip(mets, met, outs)
    ]
