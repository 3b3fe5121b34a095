"""Provenance beside every output, and BIDS-derivative names for BIDS outputs.

Every map ``mrsisr predict`` writes gets a JSON sidecar with the same name (``sr_Gln.nii.gz``
→ ``sr_Gln.json``) that says how it was made: the tool version and command line, the model
file and its SHA-256, every input file and its SHA-256, the acquisition size ``n``, the output
grid ``N``, the sharpness λ, the metabolite as given and as read, the units, where the mask
came from, and the results of the input checks (acquisition extent, registration, coverage),
so that a map can be traced to what made it.

Every command that writes a result folder (``mrsisr evaluate``, ``reproduce``, ``calibrate``,
``train``, ``bench``) also writes ``record.json`` into it (:func:`write_result_record`): the
commit and whether the tree was clean, the SHA-256 of every model file used, the command
line, the data (folder, manifest SHA-256, patients) and the seeds. A field that is not
known is ``{"unknown": "<reason>"}``, never left out; ``tests/test_results_records.py``
checks the record of every folder under ``results/``.

A BIDS output (one form of ``mrsisr predict``) holds the maps under BIDS-derivative names
(:func:`bids_map_name`) with a ``dataset_description.json`` whose ``GeneratedBy`` names
mrsisr, so that BIDS pipelines such as MRSIPrep can find them. BIDS has a raw MRS
specification (datatype ``mrs``, suffix ``mrsi``) but no derivative specification for
metabolite maps; the names follow MRSIPrep's derivative names (``space-orig``, ``met-<Label>``
with the components run together, ``desc-…``, suffix ``mrsi``).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mrsisr import __version__
from mrsisr.metabolites import Metabolite, parse_metabolite
from mrsisr.untrusted import read_json

__all__ = [
    "BIDS_VERSION",
    "FORMAT_NAME",
    "RECORD_FILE",
    "RECORD_FORMAT",
    "FileHashes",
    "Provenance",
    "bids_label",
    "bids_map_name",
    "bids_mask_name",
    "dataset_description",
    "result_record",
    "sidecar_path",
    "unknown",
    "write_result_record",
]

FORMAT_NAME = "mrsisr-provenance"
FORMAT_VERSION = 1
RECORD_FILE = "record.json"
"""The traceability record of a result folder (:func:`write_result_record`)."""
RECORD_FORMAT = "mrsisr-result-record"
COHORT_MANIFEST = "cohort.json"
"""``mrsisr.data.manifest.MANIFEST_FILE`` (data/ is a sibling layer; a test keeps them equal)."""
BIDS_VERSION = "1.10.0"
"""The BIDS version ``dataset_description.json`` declares."""

# Metabolite labels in BIDS names: MRSIPrep's spellings of the totals, so it finds them.
_BIDS_MET = {Metabolite.tCho: "GPCPCh", Metabolite.tCr: "CrPCr", Metabolite.NAA: "NAANAAG"}
_NIFTI = re.compile(r"\.nii(\.gz)?$")
_BIDS_LABEL = re.compile(r"[A-Za-z0-9]+")  # fullmatch: "$" would let "01\n" through


class FileHashes:
    """SHA-256 of files, each file read once however often it is asked for."""

    def __init__(self) -> None:
        self._done: dict[Path, str] = {}

    def __call__(self, path: str | Path) -> str:
        """The hexadecimal SHA-256 of the file's bytes."""
        path = Path(path).resolve()
        if path not in self._done:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            self._done[path] = digest.hexdigest()
        return self._done[path]


@dataclass(frozen=True)
class Provenance:
    """How one output map was made (written as its JSON sidecar by :meth:`write`).

    Args:
        command_line: the arguments the tool was run with (``sys.argv``).
        model: the model file, or None if the model was not loaded from a file.
        inputs: ``(role, file)`` of every input: ``"map"``, ``"t1"``, ``"flair"``,
            ``"mask"``, ``"sd"``, …; recorded as absolute paths, so that the sidecar still
            names them when read from another folder.
        n: acquisition size ``(n_y, n_x)`` of the map given.
        grid: the output grid ``(N_y, N_x)``.
        sharpness: the λ value(s) of the file, in the order of its volumes.
        metabolite_given: the name as given (by the user, file name or pipeline label).
        metabolite: the metabolite the model was run with.
        units: units of the values (those of the input).
        mask_source: where the mask used came from.
        pipeline: the pipeline whose output folder the map came from, if any.
        notes: what the log said about this map that a reader of the file should know.
        acquisition: results of the acquisition-extent check (JSON-serialisable).
        registration: the registration estimate between map and anatomy.
        coverage: how much of the field of view the anatomy covers.
        extra: further JSON-serialisable keys (e.g. the results of later checks).
    """

    command_line: Sequence[str]
    model: Path | None
    inputs: Sequence[tuple[str, Path]]
    n: tuple[int, int]
    grid: tuple[int, int]
    sharpness: Sequence[float]
    metabolite_given: str
    metabolite: Metabolite
    units: str = "as the input"
    mask_source: str = ""
    pipeline: str | None = None
    notes: Sequence[str] = ()
    acquisition: Mapping[str, Any] | None = None
    registration: Mapping[str, Any] | None = None
    coverage: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self, hashes: FileHashes | None = None) -> dict[str, Any]:
        """The sidecar's content (files hashed with ``hashes``, a new one by default); the
        check results are given as they are (NumPy values become lists in :meth:`write`)."""
        hashes = hashes or FileHashes()
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "tool": {"name": "mrsisr", "version": __version__},
            "command_line": list(self.command_line),
            "model": {
                "path": None if self.model is None else str(Path(self.model).absolute()),
                "sha256": None if self.model is None else hashes(self.model),
            },
            "inputs": [
                {"role": role, "path": str(Path(path).absolute()), "sha256": hashes(path)}
                for role, path in self.inputs
            ],
            "n": list(self.n),
            "N": list(self.grid),
            "sharpness": [float(v) for v in self.sharpness],
            "metabolite": {"given": self.metabolite_given, "normalised": self.metabolite.value},
            "units": self.units,
            "mask_source": self.mask_source,
            "pipeline": self.pipeline,
            "notes": list(self.notes),
            "acquisition": self.acquisition,
            "registration": self.registration,
            "coverage": self.coverage,
            **self.extra,
        }

    def write(self, path: str | Path, hashes: FileHashes | None = None) -> Path:
        """Write the sidecar as JSON to ``path`` (e.g. a temporary name to be renamed)."""
        path = Path(path)
        text = json.dumps(
            self.to_json(hashes),
            indent=2,
            ensure_ascii=False,
            allow_nan=False,
            default=_json_default,
        )
        path.write_text(text + "\n", encoding="utf-8")
        return path


def _json_default(value: Any) -> Any:
    """Plain JSON for what ``json`` does not know: NumPy scalars and arrays, paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"provenance value {value!r} of type {type(value).__name__} is not JSON")


def sidecar_path(output: str | Path) -> Path:
    """The sidecar of an output file: ``sr_Gln.nii.gz`` → ``sr_Gln.json``."""
    output = Path(output)
    return output.with_name(_NIFTI.sub("", output.name) + ".json")


def bids_label(value: str, what: str) -> str:
    """``value`` if it is a valid BIDS label (letters and digits), else a ``ValueError``."""
    if not isinstance(value, str) or not _BIDS_LABEL.fullmatch(value):
        raise ValueError(f"{what} {value!r}: a BIDS label has only letters and digits")
    return value


def _prefix(subject: str, session: str | None) -> str:
    parts = [f"sub-{bids_label(subject, 'subject')}"]
    if session:
        parts.append(f"ses-{bids_label(session, 'session')}")
    return "_".join(parts)


def _folder(subject: str, session: str | None) -> Path:
    return Path(f"sub-{subject}") / (f"ses-{session}" if session else "")


def _lambda_label(lam: float) -> str:
    """λ as a BIDS label: 0 → ``lam0``, 0.03 → ``lam0p03``."""
    return "lam" + f"{lam:g}".replace(".", "p").replace("-", "m").replace("+", "")


def bids_map_name(
    subject: str, session: str | None, metabolite: Metabolite | str, lam: float | None
) -> Path:
    """Where a BIDS output puts a super-resolved map, relative to its folder.

    ``sub-01/ses-1/sub-01_ses-1_space-orig_met-GPCPCh_desc-srlam0p03_mrsi.nii.gz`` for tCho
    at λ = 0.03 (``desc-sr`` with ``lam`` None: one file holding several λ).

    Raises:
        ValueError: a subject or session that is not a BIDS label.
    """
    met = parse_metabolite(metabolite)
    label = _BIDS_MET.get(met, met.value)
    desc = "sr" if lam is None else f"sr{_lambda_label(lam)}"
    name = f"{_prefix(subject, session)}_space-orig_met-{label}_desc-{desc}_mrsi.nii.gz"
    return _folder(subject, session) / name


def bids_mask_name(subject: str, session: str | None) -> Path:
    """Where a BIDS output puts the mask used for one subject, relative to its folder."""
    name = f"{_prefix(subject, session)}_space-orig_desc-srmask_mask.nii.gz"
    return _folder(subject, session) / name


def dataset_description() -> dict[str, Any]:
    """The ``dataset_description.json`` of a BIDS output folder."""
    return {
        "Name": "mrsisr super-resolved MRSI metabolite maps",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "mrsisr",
                "Version": __version__,
                "Description": "multi-scale super-resolution of MRSI metabolite maps guided "
                "by T1 and FLAIR (Dong et al., MICCAI 2022)",
            }
        ],
    }


def unknown(reason: str) -> dict[str, str]:
    """The value of a record field that is not known, with the reason."""
    return {"unknown": reason}


def _data_record(data: str | Path | None, patients: Sequence[str], hashes: FileHashes) -> Any:
    if data is None:
        return unknown("no cohort: the command reads no patient data")
    folder = Path(data)
    manifest = folder / COHORT_MANIFEST
    described = None
    if manifest.is_file():
        document = read_json(manifest, "the cohort's manifest")
        if isinstance(document, dict) and isinstance(document.get("provenance"), str):
            described = document["provenance"]
    return {
        "path": str(folder.absolute()),
        "manifest_sha256": hashes(manifest) if manifest.is_file() else None,
        "manifest_provenance": described,  # e.g. the simulator and seed that made it
        "patients": list(patients),
    }


def result_record(
    what: str,
    *,
    models: Sequence[str | Path] = (),
    data: str | Path | None = None,
    patients: Sequence[str] = (),
    seeds: Mapping[str, Any] | None = None,
    command: Sequence[str] | None = None,
    code: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    hashes: FileHashes | None = None,
) -> dict[str, Any]:
    """The traceability record of a result folder (see the module notes).

    Args:
        what: one line saying what the folder holds.
        models: the model files the results were computed with (hashed here).
        data: the cohort folder read, if any.
        patients: the patients scored (or trained on).
        seeds: every seed that decides the result, by name (split, training, draws, ...);
            ``None``: none does (recorded as such).
        command: the command line; default ``mrsisr`` and ``sys.argv[1:]``.
        code: ``{"commit", "clean"}`` read at the command's start
            (:func:`mrsisr.machine.source_state`); default: read now.
        extra: further keys.
        hashes: a shared :class:`FileHashes`.
    """
    from mrsisr.machine import source_state

    hashes = hashes or FileHashes()
    state = dict(code) if code is not None else source_state()
    if state.get("commit") is None:
        state["commit"] = unknown("not run from a git checkout (an installed package)")
        state["clean"] = unknown("not run from a git checkout")
    return {
        "format": RECORD_FORMAT,
        "format_version": 1,
        "what": what,
        "recorded_by": "the command itself",
        "tool": {"name": "mrsisr", "version": __version__},
        "command": list(command) if command is not None else ["mrsisr", *sys.argv[1:]],
        "code": state,
        "models": [{"path": str(Path(m).absolute()), "sha256": hashes(m)} for m in models],
        "data": _data_record(data, patients, hashes),
        "seeds": dict(seeds) if seeds is not None else unknown("no seed decides this result"),
        **(extra or {}),
    }


def write_result_record(folder: str | Path, what: str, **kwargs: Any) -> Path:
    """Write :func:`result_record` as ``folder/record.json`` (the folder is created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        result_record(what, **kwargs), indent=2, ensure_ascii=False, default=_json_default
    )
    path = folder / RECORD_FILE
    path.write_text(text + "\n", encoding="utf-8")
    return path
