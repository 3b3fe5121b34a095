"""Validation of a cohort folder: every problem at once, each with the file it concerns."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mrsisr.data.manifest import (
    EXPECTED,
    FLAIR_FILE,
    MANIFEST_FILE,
    MAP_PREFIX,
    MASK_FILE,
    NIFTI_SUFFIX,
    NOISELESS_PREFIX,
    T1_FILE,
    Manifest,
    map_file,
    noiseless_file,
    parse_manifest,
)
from mrsisr.data.nifti import load_volume
from mrsisr.data.resample import covers
from mrsisr.errors import UserError
from mrsisr.metabolites import METABOLITES, Metabolite, parse_metabolite
from mrsisr.untrusted import read_json

__all__ = ["PatientFiles", "Problem", "check_cohort", "read_patient_files"]

# Affines that differ by less than this (mm) are the same grid (NIfTI stores float32).
AFFINE_TOLERANCE_MM = 1e-3


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a cohort.

    Args:
        path: the file or folder concerned.
        message: what is wrong and what is accepted.
    """

    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class PatientFiles:
    """The volumes of one patient folder as read from disk, before resampling."""

    maps: dict[Metabolite, np.ndarray] = field(default_factory=dict)
    noiseless: dict[Metabolite, np.ndarray] = field(default_factory=dict)
    mask: np.ndarray | None = None
    shape: tuple[int, ...] | None = None
    affine: np.ndarray | None = None
    t1: tuple[np.ndarray, np.ndarray] | None = None
    flair: tuple[np.ndarray, np.ndarray] | None = None


def _read(path: Path, problems: list[Problem]) -> tuple[np.ndarray, np.ndarray] | None:
    """Load a volume, or record why it cannot be used."""
    if not path.is_file():
        problems.append(Problem(path, "missing file"))
        return None
    try:
        data, affine = load_volume(path)
    except Exception as err:  # nibabel raises several types for unreadable files
        problems.append(Problem(path, f"cannot be read as NIfTI ({type(err).__name__}: {err})"))
        return None
    if data.ndim != 3:
        problems.append(Problem(path, f"must be a 3-D volume (X, Y, Z), has shape {data.shape}"))
        return None
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        problems.append(Problem(path, f"{bad} non-finite values (NaN or inf); all must be finite"))
    return data, affine


def _majority(items: list[tuple]) -> tuple:
    return Counter(items).most_common(1)[0][0]


def read_patient_files(
    folder: Path, metabolites: tuple[Metabolite, ...]
) -> tuple[PatientFiles, list[Problem]]:
    """Read a patient folder and list its problems.

    The MRSI grid is the shape and affine that most of the maps and the mask share; a file
    on another grid is reported. T1 and FLAIR may lie on any grid that covers it. Noiseless
    maps are optional, but a folder that has one has one for every metabolite.

    Args:
        folder: ``ROOT/<patient>``.
        metabolites: the metabolites the manifest lists.

    Returns:
        The volumes that could be read, and the problems (empty if the folder is valid).
    """
    problems: list[Problem] = []
    files = PatientFiles()
    if not folder.is_dir():
        return files, [Problem(folder, "missing patient folder")]
    grid_volumes: dict[Path, tuple[np.ndarray, np.ndarray]] = {}
    for met in metabolites:
        loaded = _read(folder / map_file(met), problems)
        if loaded is not None:
            grid_volumes[folder / map_file(met)] = loaded
    noiseless = [met for met in metabolites if (folder / noiseless_file(met)).exists()]
    for met in metabolites if noiseless else ():
        path = folder / noiseless_file(met)
        if not path.exists():
            have = ", ".join(m.value for m in noiseless)
            problems.append(
                Problem(path, f"missing file; noiseless maps ({have}) must cover every metabolite")
            )
        elif (loaded := _read(path, problems)) is not None:
            grid_volumes[path] = loaded
    loaded = _read(folder / MASK_FILE, problems)
    if loaded is not None:
        grid_volumes[folder / MASK_FILE] = loaded
    for prefix in (MAP_PREFIX, NOISELESS_PREFIX):
        for path in sorted(folder.glob(f"{prefix}*{NIFTI_SUFFIX}")):
            name = path.name[len(prefix) : -len(NIFTI_SUFFIX)]
            if name in {m.value for m in METABOLITES}:
                continue
            known = ", ".join(m.value for m in METABOLITES)
            problems.append(Problem(path, f"unknown metabolite {name!r}; known: {known}"))
    if grid_volumes:
        shape = _majority([v.shape for v, _ in grid_volumes.values()])
        same_shape = [a for v, a in grid_volumes.values() if v.shape == shape]
        key = _majority([tuple(np.round(a, 3).ravel()) for a in same_shape])
        files.shape = shape
        files.affine = next(a for a in same_shape if tuple(np.round(a, 3).ravel()) == key)
        for path, (data, aff) in grid_volumes.items():
            if data.shape != shape:
                problems.append(
                    Problem(path, f"shape {data.shape} differs from the MRSI grid {shape}")
                )
            elif not np.allclose(aff, files.affine, rtol=0, atol=AFFINE_TOLERANCE_MM):
                problems.append(Problem(path, "affine differs from the other maps of this patient"))
            elif path.name == MASK_FILE:
                files.mask = data != 0
                if not files.mask.any():
                    problems.append(Problem(path, "empty mask; no voxel passed quality filtering"))
            elif path.name.startswith(NOISELESS_PREFIX):
                met = parse_metabolite(path.name[len(NOISELESS_PREFIX) : -len(NIFTI_SUFFIX)])
                files.noiseless[met] = data
            else:
                files.maps[parse_metabolite(path.name[len(MAP_PREFIX) : -len(NIFTI_SUFFIX)])] = data
    for name in (T1_FILE, FLAIR_FILE):
        loaded = _read(folder / name, problems)
        if loaded is None or files.shape is None or files.affine is None:
            continue
        if not covers(loaded[0].shape, loaded[1], files.shape, files.affine):
            problems.append(
                Problem(folder / name, "does not cover the MRSI grid; co-register it to the maps")
            )
        setattr(files, "t1" if name == T1_FILE else "flair", loaded)
    return files, problems


def _manifest_problems(root: Path) -> tuple[Manifest | None, list[Problem], dict]:
    path = root / MANIFEST_FILE
    try:
        data = read_json(path, EXPECTED)
    except UserError as err:
        return None, [Problem(path, str(err).removeprefix(f"{path}: "))], {}
    manifest, messages = parse_manifest(data)
    return manifest, [Problem(path, m) for m in messages], data if isinstance(data, dict) else {}


def check_cohort(root: str | Path) -> list[Problem]:
    """Validate a cohort folder without modifying it.

    Checks the manifest, then every patient folder (also when the manifest is broken, with
    the patients and metabolites that can still be made out): missing or unreadable files,
    shape and affine mismatches, non-finite values, empty masks, maps of unknown
    metabolites, and T1/FLAIR images that do not cover the MRSI grid.

    Args:
        root: the cohort folder.

    Returns:
        Every problem found; an empty list means the cohort is valid.
    """
    root = Path(root)
    if not root.is_dir():
        return [Problem(root, "not a directory; give the folder of a cohort")]
    manifest, problems, raw = _manifest_problems(root)
    if manifest is not None:
        patients, metabolites = manifest.patients, manifest.metabolites
    else:  # best effort, so that one bad key does not hide the problems of the data
        listed = raw.get("patients")
        patients = (
            tuple(p for p in listed if isinstance(p, str)) if isinstance(listed, list) else ()
        )
        if not patients:
            patients = tuple(sorted(p.name for p in root.iterdir() if p.is_dir()))
        mets = []
        for name in raw.get("metabolites", []) if isinstance(raw.get("metabolites"), list) else []:
            try:
                mets.append(parse_metabolite(str(name)))
            except ValueError:
                pass
        metabolites = tuple(dict.fromkeys(mets))
    for patient in patients:
        if "/" in patient or "\\" in patient or patient.startswith("."):
            continue  # already reported as an invalid id
        problems += read_patient_files(root / patient, metabolites)[1]
    return problems
