"""The on-disk cohort: reading patients, writing them, and validating a cohort folder.

Every part of mrsisr that needs data (training, evaluation, the demo) reads this format, and
the in-silico phantom (:mod:`mrsisr.sim.cohort`) writes it; so does a researcher who puts
their own quantified MRSI into it (``docs/cohort-format.md``).

Example::

    cohort = Cohort.open("cohort/")
    patient = cohort.load(cohort.manifest.patients[0])
    patient.maps[Metabolite.NAA].shape      # (64, 64, S), on the MRSI grid
    patient.t1.shape                        # the same grid, resampled by the affines
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from mrsisr.data.check import Problem, check_cohort, read_patient_files
from mrsisr.data.manifest import (
    FLAIR_FILE,
    MANIFEST_FILE,
    MASK_FILE,
    T1_FILE,
    Manifest,
    map_file,
    noiseless_file,
    read_manifest,
    write_manifest,
)
from mrsisr.data.nifti import read_shape, save_volume
from mrsisr.data.resample import resample_to_grid, upsampled_grid
from mrsisr.errors import UserError, argument
from mrsisr.metabolites import Metabolite

__all__ = [
    "Cohort",
    "Manifest",
    "Patient",
    "Problem",
    "check_cohort",
    "check_new_cohort_folder",
    "write_manifest",
    "write_patient",
]

log = logging.getLogger(__name__)


@dataclass
class Patient:
    """One patient's maps, anatomy and quality mask on the high-resolution MRSI grid.

    Args:
        id: the patient id (its folder name).
        maps: one float32 volume ``(X, Y, Z)`` per metabolite, in the cohort's units.
        t1: T1-weighted image, float32, on the MRSI grid ``(X, Y, Z)`` or, if
            ``anatomy_upsample = u > 1``, on the ``u`` times finer in-plane grid
            ``(u X, u Y, Z)`` of :func:`mrsisr.data.resample.upsampled_grid`.
        flair: FLAIR image on the same grid as ``t1``.
        mask: bool ``(X, Y, Z)``, True where the spectrum passed quality filtering.
        affine: 4x4 voxel-to-world affine of the MRSI grid.
        anatomy_upsample: in-plane multiple of the MRSI grid that ``t1`` and ``flair`` use.
        noiseless: a simulated patient's maps before quantification noise, like ``maps``
            (every metabolite, or empty: measured data have none).
    """

    id: str
    maps: dict[Metabolite, np.ndarray]
    t1: np.ndarray
    flair: np.ndarray
    mask: np.ndarray
    affine: np.ndarray
    anatomy_upsample: int = 1
    noiseless: dict[Metabolite, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(X, Y, Z)`` of the MRSI grid."""
        return cast(tuple[int, int, int], tuple(self.mask.shape))

    def anatomy_affine(self) -> np.ndarray:
        """The affine of the grid ``t1`` and ``flair`` are on."""
        return upsampled_grid(self.shape, self.affine, self.anatomy_upsample)[1]


class Cohort:
    """A cohort folder opened for reading; patients load on demand.

    Args:
        root: the cohort folder.
        manifest: its validated manifest.
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        self.root = Path(root)
        self.manifest = manifest

    @classmethod
    def open(cls, root: str | Path) -> Cohort:
        """Read and validate ``ROOT/cohort.json``.

        Raises:
            UserError: if the folder or its manifest is missing or invalid.
        """
        return cls(Path(root), read_manifest(root))

    @property
    def patients(self) -> tuple[str, ...]:
        """The patient ids, in manifest order."""
        return self.manifest.patients

    def __repr__(self) -> str:
        return f"Cohort({str(self.root)!r}, {len(self.patients)} patients)"

    def load(self, patient_id: str, anatomy_upsample: int | None = None) -> Patient:
        """Load a patient, with T1 and FLAIR resampled onto the MRSI grid by their affines.

        Args:
            patient_id: one of ``manifest.patients``.
            anatomy_upsample: in-plane multiple of the MRSI grid for T1 and FLAIR; default
                the manifest's ``anatomy_upsample``.

        Raises:
            UserError: naming the file of the first problem (``mrsisr cohort check`` lists
                them all).
        """
        if patient_id not in self.manifest.patients:
            raise UserError(
                f"{self.root}: no patient {patient_id!r}; patients: "
                + ", ".join(self.manifest.patients)
            )
        factor = self.manifest.anatomy_upsample if anatomy_upsample is None else anatomy_upsample
        folder = self.root / patient_id
        files, problems = read_patient_files(folder, self.manifest.metabolites)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise UserError(
                f"{problems[0]}{more}; run `mrsisr cohort check {self.root}` for a full list"
            )
        # Without problems, every volume was read (read_patient_files guarantees it).
        mask, affine = cast(np.ndarray, files.mask), cast(np.ndarray, files.affine)
        anatomy = cast(tuple[tuple[np.ndarray, np.ndarray], ...], (files.t1, files.flair))
        shape, anatomy_affine = upsampled_grid(mask.shape, affine, factor)
        t1, flair = (
            resample_to_grid(image, image_affine, shape, anatomy_affine)
            for image, image_affine in anatomy
        )
        log.debug("loaded %s: grid %s, anatomy %s", folder, mask.shape, shape)
        return Patient(
            id=patient_id,
            maps={met: files.maps[met] for met in self.manifest.metabolites},
            t1=t1,
            flair=flair,
            mask=mask,
            affine=affine,
            anatomy_upsample=factor,
            noiseless={met: files.noiseless[met] for met in self.manifest.metabolites}
            if files.noiseless
            else {},
        )

    def __iter__(self) -> Iterator[Patient]:
        """Load every patient in manifest order."""
        return (self.load(pid) for pid in self.patients)

    def map_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape ``(X, Y, Z)`` of each patient's maps, read from its mask's header alone
        (a merged cohort may hold several in-plane grids), in manifest order.

        Raises:
            UserError: a mask that declares too large an image; OSError or nibabel's
            ImageFileError for one that cannot be read (``check_cohort`` reports both).
        """
        return {pid: read_shape(self.root / pid / MASK_FILE) for pid in self.patients}


def write_patient(
    root: str | Path, patient: Patient, *, anatomy_affine: np.ndarray | None = None
) -> Path:
    """Write a patient folder ``ROOT/<id>/`` in the cohort format.

    Maps (and noiseless maps, if the patient has them) are written as float32, the mask as
    uint8 (0/1), T1 and FLAIR as float32 on their own grid: ``anatomy_affine`` if given, else
    :meth:`Patient.anatomy_affine`.

    Args:
        root: the cohort folder (created if needed).
        patient: the volumes to write; every map and the mask share ``patient.affine``.
        anatomy_affine: voxel-to-world affine of ``patient.t1`` and ``patient.flair`` when
            they are stored on a grid of their own (e.g. the scanner's T1 grid).

    Returns:
        The patient folder.
    """
    shape = patient.mask.shape
    if patient.noiseless and set(patient.noiseless) != set(patient.maps):
        raise ValueError("noiseless must hold the metabolites of maps, or none")
    for name, maps in (("maps", patient.maps), ("noiseless", patient.noiseless)):
        for met, volume in maps.items():
            if volume.shape != shape:
                raise ValueError(f"{name}[{met}] has shape {volume.shape}, the mask {shape}")
    if patient.t1.shape != patient.flair.shape:
        raise ValueError(f"t1 {patient.t1.shape} and flair {patient.flair.shape} differ in shape")
    if anatomy_affine is None:
        expected, anatomy_affine = upsampled_grid(shape, patient.affine, patient.anatomy_upsample)
        if patient.t1.shape != expected:
            raise ValueError(
                f"t1 has shape {patient.t1.shape}, not the anatomy grid {expected}; "
                "pass anatomy_affine for images on a grid of their own"
            )
    folder = Path(root) / patient.id
    for met, volume in patient.maps.items():
        save_volume(folder / map_file(met), volume, patient.affine)
    for met, volume in patient.noiseless.items():
        save_volume(folder / noiseless_file(met), volume, patient.affine)
    save_volume(folder / MASK_FILE, patient.mask, patient.affine, dtype=np.uint8)
    save_volume(folder / T1_FILE, patient.t1, anatomy_affine)
    save_volume(folder / FLAIR_FILE, patient.flair, anatomy_affine)
    return folder


def check_new_cohort_folder(out: str | Path, overwrite: bool = False) -> None:
    """Refuse to write a cohort to ``out`` unless it is new, an empty folder or, with
    ``overwrite``, a cohort (a folder holding ``cohort.json``), which is then replaced.

    Raises:
        UserError: naming ``out`` and, for a cohort, the argument that replaces it.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        cohort = (out / MANIFEST_FILE).is_file()
        if not (overwrite and cohort):
            hint = f"{argument('overwrite')} replaces a cohort" if cohort else ""
            raise UserError(f"{out}: exists and is not empty; choose a new folder {hint}".strip())
