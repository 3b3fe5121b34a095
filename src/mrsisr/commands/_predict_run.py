"""Checking and running the jobs of ``mrsisr predict``; see :func:`execute`."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from mrsisr.commands._predict_jobs import DEFAULT_MODEL, Job, split_suffix
from mrsisr.data.nifti import load_volume, read_shape
from mrsisr.data.resample import covers
from mrsisr.errors import UserError
from mrsisr.inference import Anatomy, Predictor, Volume, output_geometry, resolve_device
from mrsisr.nn.unet import MIN_N

__all__ = [
    "Transaction",
    "execute",
    "load_predictor",
    "read_volume",
    "save_nifti",
    "set_cpu_threads",
]

log = logging.getLogger(__name__)

# Affines that differ by less than this (mm) describe the same grid (NIfTI stores float32).
_AFFINE_TOLERANCE_MM = 1e-3


def set_cpu_threads(threads: int | None) -> int:
    """Set torch's CPU threads: ``threads`` if given, else only as many as there are idle cores.

    Threads that share cores with other busy processes wait on each other at every operation:
    here, 7 maps of 64 x 64 x 39 took 4.4 s with one thread and 30 s with two on a 2-core
    machine with a load average of 4. Without an explicit ``--threads``, the number of
    threads is therefore capped at the number of idle cores (cores minus the load average,
    rounded), and at least 1.

    Returns:
        The number of threads torch now uses.

    Raises:
        UserError: ``threads < 1``.
    """
    import torch

    if threads is not None:
        if threads < 1:
            raise UserError(f"--threads: must be >= 1, got {threads}")
        torch.set_num_threads(threads)
        return threads
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, round(cores - load))
    if idle < torch.get_num_threads():
        log.info(
            "%.1f of %d cores busy: using %d CPU thread(s) (--threads sets it)", load, cores, idle
        )
        torch.set_num_threads(idle)
    return torch.get_num_threads()


def load_predictor(
    model: Path | None, device: str = "auto", batch_size: int = 64, threads: int | None = None
) -> Predictor:
    """The predictor of a model file, or of the shipped weights if ``model`` is ``None``.

    Args:
        model: a model file, or ``None`` for the shipped weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: slices per forward pass.
        threads: CPU threads (:func:`set_cpu_threads`).

    Raises:
        UserError: missing or bad model file, unavailable device, batch size or threads < 1.
    """
    if batch_size < 1:
        raise UserError(f"--batch-size: must be >= 1, got {batch_size}")
    set_cpu_threads(threads)
    try:
        resolve_device(device)
    except ValueError as err:
        raise UserError(f"--device: {err}") from None
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise UserError(
                f"{DEFAULT_MODEL}: the shipped weights are not installed; pass --model FILE "
                "(a model file written by `mrsisr train`)"
            )
        model = DEFAULT_MODEL
    return Predictor.from_file(model, device, batch_size)


def read_volume(path: Path, what: str) -> Volume:
    """Load a 3-D NIfTI volume and check it, naming the file in every error.

    Args:
        path: the file.
        what: what it should be, for the message (e.g. ``"a low-resolution map"``).

    Raises:
        UserError: missing, not NIfTI, not 3-D, or holding NaN/inf values.
    """
    if not path.is_file():
        raise UserError(f"{path}: file not found; expected {what} (NIfTI)")
    try:
        data, affine = load_volume(path)
    except UserError:
        raise
    except Exception as err:  # nibabel raises several types for unreadable files
        raise UserError(
            f"{path}: not a readable NIfTI file ({type(err).__name__}); "
            f"expected {what} as .nii or .nii.gz"
        ) from None
    if data.ndim != 3:
        raise UserError(
            f"{path}: {data.ndim}-D image of shape {data.shape}; expected {what} as a 3-D volume"
        )
    bad = int(np.count_nonzero(~np.isfinite(data)))
    if bad:
        raise UserError(f"{path}: {bad} NaN or infinite values; every voxel must be finite")
    return Volume(data, affine)


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, description: str = "") -> None:
    """Write a 3-D or 4-D volume with ``affine`` in both sform and qform (scanner space, mm)."""
    img = nib.Nifti1Image(np.asarray(data), np.asarray(affine, dtype=np.float64))
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    img.header.set_xyzt_units("mm")
    img.header["descrip"] = description[:79].encode()
    nib.save(img, str(path))


class Transaction:
    """Files written under temporary names and renamed together by :meth:`commit`."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self._made_dirs: list[Path] = []

    def path_for(self, final: Path) -> Path:
        """A temporary path next to ``final`` (same NIfTI suffix) to write it to."""
        missing = [d for d in (final.parent, *final.parent.parents) if not d.exists()]
        final.parent.mkdir(parents=True, exist_ok=True)
        self._made_dirs += missing
        stem, suffix = split_suffix(final)
        temp = final.with_name(f".{stem}.{uuid.uuid4().hex[:8]}.partial{suffix}")
        self._pending.append((temp, final))
        return temp

    def commit(self) -> list[Path]:
        """Rename every temporary file to its final name; returns the final names."""
        for temp, final in self._pending:
            os.replace(temp, final)
        done = [final for _, final in self._pending]
        self._pending, self._made_dirs = [], []
        return done

    def rollback(self) -> None:
        """Delete the temporary files and the folders this transaction created."""
        for temp, _ in self._pending:
            temp.unlink(missing_ok=True)
        for folder in self._made_dirs:  # deepest first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self._pending, self._made_dirs = [], []


def _check_outputs(jobs: Sequence[Job], overwrite: bool) -> None:
    owner: dict[Path, object] = {}
    for job in jobs:
        for path in job.outputs:
            if path in owner:
                raise UserError(
                    f"{path}: two maps would be written to this file; "
                    "give each metabolite of a patient once"
                )
            owner[path] = job
    for job in jobs:
        previous = owner.setdefault(job.mask_out, job.anatomy_key)
        if previous != job.anatomy_key:
            raise UserError(
                f"{job.mask_out}: maps of one patient must share their T1, FLAIR and mask files"
            )
    for path in owner:
        if path.is_dir():
            raise UserError(f"{path}: is a directory; expected an output file name")
        if path.exists() and not overwrite:
            raise UserError(f"{path}: output exists; pass --overwrite to replace it")


def _same_grid(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.allclose(a[1], b[1], rtol=0, atol=_AFFINE_TOLERANCE_MM)


def _check_map_grid(path: Path, grid: tuple[int, int]) -> None:
    """Refuse a map larger than the model's grid from its header, before a voxel is read."""
    if not path.is_file():
        return  # read_volume names the problem
    try:
        shape = read_shape(path)
    except UserError:
        raise
    except Exception:  # unreadable: read_volume names the problem
        return
    if len(shape) >= 2 and (shape[0] > grid[0] or shape[1] > grid[1]):
        raise UserError(
            f"{path}: map grid {shape[0]}x{shape[1]} is larger than the model's output "
            f"grid {grid[0]}x{grid[1]}; give the map at its acquisition grid (n <= N)"
        )


def _check_inputs(jobs: Sequence[Job], grid: tuple[int, int]) -> None:
    """Read every input once and check types, values, sizes and fields of view."""
    shapes: dict[Path, tuple] = {}

    def header(path: Path, what: str) -> tuple:
        if path not in shapes:
            volume = read_volume(path, what)
            if what == "a mask" and not np.any(volume.data):
                raise UserError(f"{path}: empty mask; give a mask with the brain set to 1")
            shapes[path] = (volume.data.shape, volume.affine)
        return shapes[path]

    per_patient: dict[Path, tuple] = {}
    for job in jobs:
        _check_map_grid(job.met, grid)
        shape, affine = header(job.met, "a low-resolution map (n_y, n_x, slices)")
        if min(shape[:2]) < MIN_N:
            raise UserError(
                f"{job.met}: map grid {shape[0]}x{shape[1]} is too small; the networks need "
                f"at least {MIN_N} voxels per in-plane axis"
            )
        out_grid = output_geometry(shape, affine, grid)
        if not _same_grid(per_patient.setdefault(job.mask_out, out_grid), out_grid):
            raise UserError(
                f"{job.met}: on another grid than the other maps of this patient; "
                "maps of one patient must share shape and affine"
            )
        anatomy = [(job.t1, "a T1-weighted image"), (job.flair, "a FLAIR image")]
        for path, what in [*anatomy, *([(job.mask, "a mask")] if job.mask else [])]:
            src_shape, src_affine = header(path, what)
            if not covers(src_shape, src_affine, *out_grid):
                raise UserError(
                    f"{path}: field of view does not cover the map {job.met.name}; "
                    "co-register it to the MRSI data (any grid that covers the map works)"
                )


def execute(
    jobs: Sequence[Job], predictor: Predictor, overwrite: bool = False, progress: bool = False
) -> list[Path]:
    """Check, then run every job and write its outputs and masks atomically (all or none).

    Raises:
        UserError: for any bad input or existing output, before anything is computed (or,
            for a mask with no voxel on the map's grid, when it is found; nothing is written).
    """
    from tqdm import tqdm

    _check_outputs(jobs, overwrite)
    _check_inputs(jobs, predictor.grid)
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.anatomy_key, []).append(job)
    transaction = Transaction()
    bar = tqdm(total=len(jobs), disable=not progress, unit="map", desc="super-resolving")
    try:
        for (t1_path, flair_path, mask_path, mask_out), members in groups.items():
            lr = read_volume(members[0].met, "a low-resolution map")
            shape, affine = output_geometry(lr.data.shape, lr.affine, predictor.grid)
            anatomy = _anatomy(predictor, t1_path, flair_path, mask_path, shape, affine)
            save_nifti(
                transaction.path_for(mask_out),
                anatomy.mask.astype(np.uint8),
                affine,
                "mrsisr mask used for super-resolution",
            )
            for job in members:
                _run_one(job, predictor, anatomy, transaction)
                bar.update()
        written = transaction.commit()
    except BaseException:
        transaction.rollback()
        raise
    finally:
        bar.close()
    return written


def _anatomy(
    predictor: Predictor,
    t1: Path,
    flair: Path,
    mask: Path | None,
    shape: tuple[int, int, int],
    affine: np.ndarray,
) -> Anatomy:
    """T1, FLAIR and mask on the output grid; a user error if no brain is left in the mask."""
    try:
        anatomy = predictor.prepare_anatomy(
            read_volume(t1, "a T1-weighted image"),
            read_volume(flair, "a FLAIR image"),
            shape,
            affine,
            mask=read_volume(mask, "a mask") if mask else None,
            mask_source=str(mask or ""),
        )
    except ValueError as err:  # constant images: no brain mask can be derived
        if isinstance(err, UserError):
            raise
        raise UserError(f"{t1}, {flair}: {err}; give --mask") from None
    if not anatomy.mask.any():
        where = mask or f"the mask derived from {t1} and {flair}"
        raise UserError(
            f"{where}: no voxel of the map's grid is inside the mask; "
            "check that it is co-registered to the map"
        )
    return anatomy


def _run_one(job: Job, predictor: Predictor, anatomy: Anatomy, transaction: Transaction) -> None:
    """Super-resolve one map at every λ of its job and write the result(s)."""
    lr = read_volume(job.met, "a low-resolution map")
    shape, affine = output_geometry(lr.data.shape, lr.affine, predictor.grid)
    lams = ", ".join(f"{v:g}" for v in job.sharpness)
    log.info(
        "%s %s: %s -> %s, lambda = %s",
        job.patient or job.met.name,
        job.metabolite,
        "x".join(map(str, lr.data.shape)),
        "x".join(map(str, shape)),
        lams,
    )
    maps = predictor.super_resolve(lr.data, job.metabolite, anatomy, job.sharpness)
    about = f"mrsisr SR {job.metabolite} n={lr.data.shape[0]}x{lr.data.shape[1]} lambda="
    if job.stack:
        save_nifti(transaction.path_for(job.out), np.moveaxis(maps, 0, -1), affine, about + lams)
        return
    for path, volume, lam in zip(job.outputs, maps, job.sharpness):
        save_nifti(transaction.path_for(path), volume, affine, f"{about}{lam:g}")
