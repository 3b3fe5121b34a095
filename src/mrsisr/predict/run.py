"""Step 3 of a prediction: load the model, check, super-resolve every job, commit the files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mrsisr.atomic import FileTransaction, FolderBusy
from mrsisr.data.nifti import read_volume
from mrsisr.errors import UserError
from mrsisr.inference import Anatomy, Predictor, output_geometry, resolve_device
from mrsisr.machine import cpu_threads
from mrsisr.predict.checks import check_inputs, check_outputs
from mrsisr.predict.outputs import (
    job_provenance,
    write_dataset_description,
    write_maps,
    write_mask,
)
from mrsisr.predict.plan import Job
from mrsisr.provenance import FileHashes
from mrsisr.weights import DEFAULT_MODEL

__all__ = ["load_predictor", "run_jobs"]

log = logging.getLogger(__name__)


def load_predictor(
    model: Path | None, device: str = "auto", batch_size: int = 64, threads: int | None = None
) -> Predictor:
    """The predictor of a model file, or of the shipped weights if ``model`` is ``None``.

    Also sets torch's CPU threads (:func:`mrsisr.machine.cpu_threads`).

    Args:
        model: a model file, or ``None`` for the shipped weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: slices per forward pass.
        threads: CPU threads, or ``None`` for automatic.

    Raises:
        UserError: missing or bad model file, unavailable device, batch size or threads < 1.
    """
    if batch_size < 1:
        raise UserError(f"--batch-size: must be >= 1, got {batch_size}")
    try:
        count = cpu_threads(threads)
    except ValueError:
        raise UserError(f"--threads: must be >= 1, got {threads}") from None
    if count != torch.get_num_threads():
        log.info("using %d CPU thread(s) (--threads sets it)", count)
        torch.set_num_threads(count)
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


def run_jobs(
    jobs: Sequence[Job],
    predictor: Predictor,
    overwrite: bool = False,
    progress: bool = False,
    command_line: Sequence[str] = (),
) -> list[Path]:
    """Check every job's files, super-resolve, and write all outputs atomically (all or none).

    Args:
        jobs: from :func:`mrsisr.predict.plan_jobs` (or built directly, e.g. by the demo).
        predictor: the model to run.
        overwrite: replace existing output files instead of refusing.
        progress: show a progress bar over the jobs (stderr).
        command_line: the arguments of the run, recorded in each output's sidecar.

    Returns:
        The files written (masks and maps), in the order they were computed.

    Raises:
        UserError: for any bad input or existing output, before anything is computed (or,
            for a mask with no voxel on the map's grid, when it is found; nothing is written).
    """
    jobs = list(jobs)
    check_outputs(jobs, overwrite)
    groups: dict[tuple[Path, Path, Path | None, Path], list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.anatomy_key, []).append(job)
    hashes = FileHashes()
    with (
        tqdm(total=len(jobs), disable=not progress, unit="map", desc="super-resolving") as bar,
        FileTransaction() as files,
    ):
        _reserve(files, jobs)
        check_outputs(jobs, overwrite)  # again under the lock: another run may just have written
        check_inputs(jobs, predictor.grid)
        for root in dict.fromkeys(job.bids_root for job in jobs if job.bids_root):
            write_dataset_description(files, root)
        for (t1_path, flair_path, mask_path, mask_out), members in groups.items():
            lr = read_volume(members[0].met, "a low-resolution map")
            shape, affine = output_geometry(lr.data.shape, lr.affine, predictor.grid)
            anatomy = _anatomy(predictor, t1_path, flair_path, mask_path, shape, affine)
            write_mask(files, mask_out, anatomy.mask, affine)
            for job in members:
                _run_one(job, predictor, anatomy, files, command_line, hashes)
                bar.update()
        return files.commit()


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


def _run_one(
    job: Job,
    predictor: Predictor,
    anatomy: Anatomy,
    files: FileTransaction,
    command_line: Sequence[str],
    hashes: FileHashes,
) -> None:
    """Super-resolve one map at every λ of its job and write the result(s)."""
    lr = read_volume(job.met, "a low-resolution map")
    shape, affine = output_geometry(lr.data.shape, lr.affine, predictor.grid)
    log.info(
        "%s %s: %s -> %s, lambda = %s",
        job.patient or job.met.name,
        job.metabolite,
        "x".join(map(str, lr.data.shape)),
        "x".join(map(str, shape)),
        ", ".join(f"{v:g}" for v in job.sharpness),
    )
    maps = predictor.super_resolve(lr.data, job.metabolite, anatomy, job.sharpness)
    provenance = job_provenance(
        job,
        model=predictor.source,
        lr_shape=lr.data.shape,
        grid=predictor.grid,
        mask_source=anatomy.mask_source,
        command_line=command_line,
    )
    write_maps(files, job, maps, affine, lr.data.shape, provenance, hashes)
    write_maps(files, job, maps, affine, lr.data.shape)


def _reserve(files: FileTransaction, jobs: Sequence[Job]) -> None:
    """Lock the output folders before any work (:meth:`FileTransaction.reserve`).

    Raises:
        UserError: a folder cannot be written, or another run is writing there.
    """
    outputs = [path for job in jobs for path in (*job.outputs, *job.sidecars, job.mask_out)]
    outputs += [job.bids_root / "dataset_description.json" for job in jobs if job.bids_root]
    try:
        files.reserve(outputs)
    except FolderBusy as err:
        raise UserError(f"{err}; wait for it to finish or give another --out") from None
    except OSError as err:
        where = err.filename or outputs[0].parent
        raise UserError(
            f"{where}: cannot write the outputs there ({err.strerror or err}); "
            "give a writable --out"
        ) from None
