"""The cohort manifest (``cohort.json``) and the names of the files of a cohort.

A cohort is a folder::

    ROOT/cohort.json               the manifest (:class:`Manifest`)
    ROOT/<patient>/met_<Met>.nii.gz  one 3-D map per metabolite, on the high-resolution MRSI grid
    ROOT/<patient>/mask.nii.gz     quality mask on the same grid (non-zero = spectrum kept)
    ROOT/<patient>/t1.nii.gz       T1-weighted image, co-registered, any grid
    ROOT/<patient>/flair.nii.gz    FLAIR image, co-registered, any grid
    ROOT/<patient>/noiseless_<Met>.nii.gz  optional: a simulated map before noise, as met_<Met>

The full specification is ``docs/cohort-format.md``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mrsisr.errors import UserError
from mrsisr.metabolites import Metabolite, parse_metabolite
from mrsisr.untrusted import read_json

__all__ = [
    "FLAIR_FILE",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MASK_FILE",
    "NOISELESS_PREFIX",
    "T1_FILE",
    "Manifest",
    "map_file",
    "noiseless_file",
    "parse_manifest",
    "read_manifest",
    "write_manifest",
]

FORMAT_NAME = "mrsisr-cohort"
FORMAT_VERSION = 1
MANIFEST_FILE = "cohort.json"
MASK_FILE = "mask.nii.gz"
T1_FILE = "t1.nii.gz"
FLAIR_FILE = "flair.nii.gz"
MAP_PREFIX = "met_"
NOISELESS_PREFIX = "noiseless_"
NIFTI_SUFFIX = ".nii.gz"

EXPECTED = f"the {MANIFEST_FILE} manifest of a cohort folder (docs/cohort-format.md)"
MAX_ANATOMY_UPSAMPLE = 8
"""T1 and FLAIR are loaded on at most an 8 times finer in-plane grid than the maps."""

# Patient ids become folder names: letters, digits, '_', '-', '.', not starting with '.'.
_PATIENT_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")


def map_file(metabolite: Metabolite) -> str:
    """File name of a metabolite map inside a patient folder, e.g. ``met_tCho.nii.gz``."""
    return f"{MAP_PREFIX}{Metabolite(metabolite).value}{NIFTI_SUFFIX}"


def noiseless_file(metabolite: Metabolite) -> str:
    """File name of the optional noiseless map of a simulated patient, e.g.
    ``noiseless_tCho.nii.gz``: the map before quantification noise, on the map's grid."""
    return f"{NOISELESS_PREFIX}{Metabolite(metabolite).value}{NIFTI_SUFFIX}"


@dataclass(frozen=True)
class Manifest:
    """What ``cohort.json`` says about a cohort.

    Args:
        patients: patient ids, which are also the names of their folders.
        metabolites: the metabolites every patient has a map of.
        units: units of the map values, e.g. ``"mM"`` or ``"institutional units"``.
        field_strength_t: main field in tesla, or None if unknown.
        provenance: where the data come from (free text).
        anatomy_upsample: in-plane multiple of the MRSI grid on which T1 and FLAIR are
            loaded (1: the MRSI grid itself).
        format_version: version of the cohort format the folder follows.
    """

    patients: tuple[str, ...]
    metabolites: tuple[Metabolite, ...]
    units: str
    field_strength_t: float | None
    provenance: str
    anatomy_upsample: int = 1
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        # Accept lists, metabolite names and integer field strengths from Python callers.
        object.__setattr__(self, "patients", tuple(self.patients))
        object.__setattr__(self, "metabolites", tuple(map(parse_metabolite, self.metabolites)))
        fs = self.field_strength_t
        if isinstance(fs, int) and not isinstance(fs, bool) and abs(fs) < 1000:
            object.__setattr__(self, "field_strength_t", float(fs))
        problems = _field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        """The manifest as the JSON object written to ``cohort.json``."""
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "patients": list(self.patients),
            "metabolites": [m.value for m in self.metabolites],
            "units": self.units,
            "field_strength_t": self.field_strength_t,
            "provenance": self.provenance,
            "anatomy_upsample": self.anatomy_upsample,
        }


def _field_problems(m: Manifest) -> list[str]:
    """Problems with the values of a manifest (types are the parser's job)."""
    problems = []
    if not m.patients:
        problems.append("'patients' is empty; list at least one patient id")
    bad = [p for p in m.patients if not isinstance(p, str) or not _PATIENT_ID.match(p)]
    if bad:
        problems.append(
            f"'patients' has invalid ids {bad}; use letters, digits, '_', '-', '.' "
            "(not starting with '.')"
        )
    elif len(set(m.patients)) != len(m.patients):
        problems.append("'patients' lists an id twice")
    if not m.metabolites:
        problems.append("'metabolites' is empty; list at least one metabolite")
    if len(set(m.metabolites)) != len(m.metabolites):
        problems.append("'metabolites' lists a metabolite twice")
    if not isinstance(m.units, str) or not m.units.strip():
        problems.append("'units' must be a non-empty string, e.g. \"mM\"")
    fs = m.field_strength_t
    if fs is not None and not (isinstance(fs, float) and math.isfinite(fs) and fs > 0):
        problems.append(f"'field_strength_t' must be a positive number or null, got {fs!r}")
    if not isinstance(m.provenance, str):
        problems.append("'provenance' must be a string")
    up = m.anatomy_upsample
    if isinstance(up, bool) or not isinstance(up, int) or not 1 <= up <= MAX_ANATOMY_UPSAMPLE:
        problems.append(
            f"'anatomy_upsample' must be an integer in 1..{MAX_ANATOMY_UPSAMPLE}, got {up!r}"
        )
    if m.format_version != FORMAT_VERSION:
        problems.append(
            f"'format_version' {m.format_version!r} is not supported; "
            f"this mrsisr reads version {FORMAT_VERSION}"
        )
    return problems


def parse_manifest(data: object) -> tuple[Manifest | None, list[str]]:
    """Build a :class:`Manifest` from parsed JSON, collecting every problem.

    Args:
        data: the object read from ``cohort.json``.

    Returns:
        ``(manifest, [])`` if valid, else ``(None, problems)`` with one message per problem.
    """
    if not isinstance(data, dict):
        return None, ["must hold a JSON object"]
    problems: list[str] = []
    if data.get("format", FORMAT_NAME) != FORMAT_NAME:
        problems.append(f"'format' must be {FORMAT_NAME!r}, got {data['format']!r}")
    required = ("patients", "metabolites", "units", "provenance")
    problems += [f"missing key {key!r}" for key in required if key not in data]
    known = {"format", "format_version", "field_strength_t", "anatomy_upsample", *required}
    problems += [
        f"unknown key {key!r}; known keys: {', '.join(sorted(known))}"
        for key in data
        if key not in known
    ]
    patients = data.get("patients", [])
    if not isinstance(patients, list):
        problems.append("'patients' must be a list of patient ids")
        patients = []
    metabolites: list[Metabolite] = []
    raw_mets = data.get("metabolites", [])
    if not isinstance(raw_mets, list):
        problems.append("'metabolites' must be a list of metabolite names")
        raw_mets = []
    for name in raw_mets:
        try:
            metabolites.append(parse_metabolite(str(name)))
        except ValueError as err:
            problems.append(f"'metabolites': {err}")
    try:
        manifest = Manifest(
            patients=tuple(patients),
            metabolites=tuple(metabolites),
            units=data.get("units", "?"),
            field_strength_t=data.get("field_strength_t"),
            provenance=data.get("provenance", ""),
            anatomy_upsample=data.get("anatomy_upsample", 1),
            format_version=data.get("format_version", FORMAT_VERSION),
        )
    except ValueError as err:
        problems += str(err).split("; ")
        manifest = None
    if problems:
        return None, problems
    return manifest, []


def read_manifest(root: str | Path) -> Manifest:
    """Read and validate ``ROOT/cohort.json``.

    Raises:
        UserError: naming the file and every problem found.
    """
    path = Path(root) / MANIFEST_FILE
    if not Path(root).is_dir():
        raise UserError(f"{root}: not a directory; give the folder of a cohort")
    manifest, problems = parse_manifest(read_json(path, EXPECTED))
    if manifest is None:
        raise UserError(f"{path}: " + "; ".join(problems))
    return manifest


def write_manifest(root: str | Path, manifest: Manifest) -> Path:
    """Write ``ROOT/cohort.json`` (creating ``ROOT``) and return its path."""
    path = Path(root) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return path
