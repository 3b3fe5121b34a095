"""Step 3 of a prediction: load the model, super-resolve every patient's scan, commit the files.

:func:`run_jobs` works on the in-memory scans of :func:`mrsisr.predict.checks.read_inputs`
(read there, or by the caller before the model is loaded) and opens no input file itself.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from mrsisr.adapt import AdaptSettings, Scan
from mrsisr.adapt import adapt as run_adaptation
from mrsisr.atomic import FileTransaction, FolderBusy
from mrsisr.data.nifti import Volume
from mrsisr.errors import UserError, argument
from mrsisr.inference import (
    Anatomy,
    GridChoice,
    Precision,
    Predictor,
    images_label,
    output_geometry,
    resolve_device,
)
from mrsisr.machine import cpu_threads
from mrsisr.options import parse_enum
from mrsisr.predict.checks import (
    PatientScan,
    anatomy_coverage,
    check_brain_covered,
    check_draws,
    check_outputs,
    check_registration,
    mask_on_grid,
    measured_mask,
    measured_volume,
    read_inputs,
    resolve_model,
)
from mrsisr.predict.outputs import (
    job_provenance,
    write_dataset_description,
    write_maps,
    write_mask,
)
from mrsisr.predict.plan import Job
from mrsisr.provenance import FileHashes
from mrsisr.selfcheck import Calibration, self_check
from mrsisr.uncertainty import DEFAULT_DRAWS, super_resolve_with_uncertainty

__all__ = ["adaptation_scans", "load_predictor", "run_jobs"]

log = logging.getLogger(__name__)


def load_predictor(
    model: Path | None,
    device: str = "auto",
    batch_size: int = 64,
    threads: int | None = None,
    precision: str = "fp32",
) -> Predictor:
    """The predictor of a model file, or of the shipped weights if ``model`` is ``None``.

    Also sets torch's CPU threads (:func:`mrsisr.machine.cpu_threads`).

    Args:
        model: a model file, or ``None`` for the shipped weights.
        device: ``auto``, ``cpu`` or ``cuda``.
        batch_size: slices per forward pass.
        threads: CPU threads, or ``None`` for automatic.
        precision: ``fp32``, ``bf16`` or ``auto`` (:func:`mrsisr.inference.resolve_precision`).

    Raises:
        UserError: missing or bad model file, unavailable device, batch size or threads < 1,
            unknown precision.
    """
    if batch_size < 1:
        raise UserError(f"{argument('batch_size')}: must be >= 1, got {batch_size}")
    try:
        count = cpu_threads(threads)
    except ValueError:
        raise UserError(f"{argument('threads')}: must be >= 1, got {threads}") from None
    if count != torch.get_num_threads():
        log.info("using %d CPU thread(s) (%s sets it)", count, argument("threads"))
        torch.set_num_threads(count)
    try:
        resolve_device(device)
    except ValueError as err:
        raise UserError(f"{argument('device')}: {err}") from None
    model = resolve_model(model)
    try:
        chosen = parse_enum(Precision, precision, "precision")
    except ValueError as err:
        raise UserError(f"{argument('precision')}: {err}") from None
    return Predictor.from_file(model, device, batch_size, chosen)


def run_jobs(
    jobs: Sequence[Job],
    predictor: Predictor,
    overwrite: bool = False,
    progress: bool = False,
    command_line: Sequence[str] = (),
    *,
    acquired_n: int | Sequence[int] | None = None,
    register: bool = False,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    calibration: Calibration | str = Calibration.self_check,
    adapt: AdaptSettings | None = None,
    scans: Sequence[PatientScan] | None = None,
    grid: GridChoice = GridChoice(),  # noqa: B008 (immutable)
) -> list[Path]:
    """Check every job's files, super-resolve, and write all outputs atomically (all or none).

    The inputs are read once (:func:`mrsisr.predict.checks.read_inputs`); every patient is
    super-resolved from its in-memory scan.

    Args:
        jobs: from :func:`mrsisr.predict.plan_jobs` (or built directly, e.g. by the demo).
        predictor: the model to run.
        overwrite: replace existing output files instead of refusing.
        progress: show a progress bar over the jobs (stderr).
        command_line: the arguments of the run, recorded in each output's sidecar.
        acquired_n: the size zero-filled maps were acquired at.
        register: move T1 and FLAIR by the misregistration estimated against each patient's
            maps.
        draws: Monte Carlo draws of jobs with ``uncertainty="fit"``.
        seed: seed of those draws (each job's generator starts from it, so a map's SD does
            not depend on the other maps of the run).
        calibration: ``self-check`` weighs the network's detail by what a self-check on the
            map itself finds it worth (:mod:`mrsisr.selfcheck`); ``none``: the raw network.
        adapt: fine-tune the model on each patient's maps first, with these settings
            (:func:`mrsisr.adapt.adapt`) and use the adapted model where the held-out
            self-check gain rose; the sidecars say which model was used.
        scans: :func:`mrsisr.predict.checks.read_inputs` of ``jobs``, when the caller read
            the inputs already (before loading the model); None: read here.
        grid: how each patient's output grid is chosen (:class:`~mrsisr.inference.
            GridChoice`: by default :func:`~mrsisr.inference.default_grid`, or a grid or a
            voxel size); ``scans`` must have been read with the same choice.

    Returns:
        The files written (masks and maps), in the order they were computed.

    Raises:
        UserError: for any bad input or existing output, before anything is computed (or,
            for a mask with no voxel on the map's grid, when it is found; nothing is written).
        ValueError: ``scans`` that are not those of ``jobs``.
    """
    jobs = list(jobs)
    calibration = parse_enum(Calibration, calibration, "calibration")
    check_draws(draws, seed)
    check_outputs(jobs, overwrite)
    _check_images(jobs, predictor)
    if scans is not None:
        _check_scans_of(jobs, scans)
    hashes = FileHashes()
    with (
        tqdm(total=len(jobs), disable=not progress, unit="map", desc="super-resolving") as bar,
        FileTransaction() as files,
    ):
        _reserve(files, jobs)
        check_outputs(jobs, overwrite)  # again under the lock: another run may just have written
        if scans is None:
            scans = read_inputs(
                jobs,
                grid,
                acquired_n=acquired_n,
                trained_n=predictor.trained_n,
                trained=predictor.trained,
            )
        for root in dict.fromkeys(job.bids_root for job in jobs if job.bids_root):
            write_dataset_description(files, root)
        for scan in scans:
            patient = _prepare_patient(predictor, scan, register, grid)
            write_mask(files, scan.jobs[0].mask_out, patient.anatomy.mask, patient.affine)
            used, adapted = _adapted(predictor, scan.jobs, patient, adapt)
            for item in scan.maps:
                checks = {
                    "acquisition": item.acquisition.record(),
                    "output_grid": grid.record(),
                    **patient.checks,
                }
                if adapted is not None:
                    checks["adaptation"] = adapted
                context = (command_line, hashes, checks)
                _run_one(
                    item.job,
                    used,
                    patient.anatomy,
                    files,
                    patient.maps[item.job.met],
                    context,
                    fit_sd=item.sd,
                    draws=draws,
                    seed=seed,
                    calibration=calibration,
                )
                bar.update()
        return files.commit()


def _adapted(
    predictor: Predictor,
    members: Sequence[Job],
    patient: _Patient,
    settings: AdaptSettings | None,
) -> tuple[Predictor, dict | None]:
    """The predictor to use for a patient: adapted to its maps where that helped, and the
    record of the adaptation (``None`` without adaptation ``settings``)."""
    if settings is None:
        return predictor, None
    scans = [Scan(patient.maps[job.met].data, job.metabolite, patient.anatomy) for job in members]
    result = run_adaptation(predictor, scans, settings)
    where = members[0].patient or members[0].met.name
    chosen = "adapted" if result.improved else "base"
    log.info(
        "%s: adapted in %.0f s; held-out self-check %+.2f -> %+.2f dB, probe %+.2f dB: "
        "the %s model is used",
        where,
        result.seconds,
        result.before_db,
        result.after_db,
        result.probe_db,
        chosen,
    )
    record = {**result.record(), "model_used": chosen}
    if not result.improved:
        return predictor, record
    return dataclasses.replace(predictor, model=result.model), record


def adaptation_scans(
    scans: Sequence[PatientScan],
    predictor: Predictor,
    register: bool = False,
    grid: GridChoice = GridChoice(),  # noqa: B008 (immutable)
) -> list[Scan]:
    """Every map of the patients' scans with its patient's anatomy on its output grid, made
    as :func:`run_jobs` makes them (for :func:`mrsisr.adapt.adapt`); nothing is written.

    Args:
        scans: :func:`mrsisr.predict.checks.read_inputs` of the jobs (their outputs are not
            used).
        predictor: the model (whose images the anatomy must have).
        register: move T1 and FLAIR by the misregistration estimated against the maps.
        grid: how the output grid is chosen (as for :func:`run_jobs`).

    Raises:
        UserError: as :func:`run_jobs` for a bad input.
    """
    _check_images([job for scan in scans for job in scan.jobs], predictor)
    adaptation = []
    for scan in scans:
        patient = _prepare_patient(predictor, scan, register, grid)
        for job in scan.jobs:
            adaptation.append(Scan(patient.maps[job.met].data, job.metabolite, patient.anatomy))
    return adaptation


def _check_images(jobs: Sequence[Job], predictor: Predictor) -> None:
    """Refuse a job whose images the model does not accept
    (:meth:`~mrsisr.inference.Predictor.check_images`)."""
    for job in jobs:
        predictor.check_images((job.t1 is not None, job.flair is not None))


def _check_scans_of(jobs: Sequence[Job], scans: Sequence[PatientScan]) -> None:
    """Refuse scans read for other jobs: the run writes only the outputs it checked.

    Raises:
        ValueError: the scans do not hold exactly ``jobs``.
    """
    scanned = sorted(id(job) for scan in scans for job in scan.jobs)
    if scanned != sorted(map(id, jobs)):
        raise ValueError("scans must be read_inputs() of the jobs run")


class _Patient(NamedTuple):
    """A patient ready to super-resolve (:func:`_prepare_patient`)."""

    anatomy: Anatomy
    maps: dict[Path, Volume]
    """Each map as it is super-resolved (cut back to its acquisition), by file."""
    affine: np.ndarray
    """The output grid's affine."""
    checks: dict[str, dict | None]
    """The registration and coverage records, for the sidecars."""


def _prepare_patient(
    predictor: Predictor,
    scan: PatientScan,
    register: bool,
    grid: GridChoice = GridChoice(),  # noqa: B008 (immutable)
) -> _Patient:
    """From a patient's scan: check and correct the registration, check what the anatomy
    covers, and make the mask used: the brain mask where every map was measured. Everything
    is on the patient's output grid (``grid``; the maps of a patient share it)."""
    members = scan.jobs
    job = members[0]
    stored = [item.volume for item in scan.maps]
    maps = {item.job.met: measured_volume(item.volume, item.acquisition) for item in scan.maps}
    first = maps[job.met]
    out_grid = output_geometry(
        first.data.shape, first.affine, grid.of(first.data.shape, first.affine)
    )
    # where every map was measured and passed the pipeline's QC (maps of a pipeline folder)
    qc = {
        "quality": [m.source.quality if m.source else None for m in members],
        "excitation": [m.source.excitation if m.source else None for m in members],
    }
    t1, flair = scan.t1, scan.flair
    where = job.patient or job.met.name
    if t1 is not None and flair is not None:
        motion, registration = check_registration(
            [lr.data for lr in maps.values()],
            t1,
            flair,
            out_grid,
            register,
            where,
            support=measured_mask(stored, (first.data.shape, first.affine), **qc),
        )
    else:  # the estimate needs both images
        motion, registration = None, {"checked": False, "reason": "needs T1 and FLAIR"}
        if register:
            log.warning(
                "%s: %s needs T1 and FLAIR; registration not applied", where, argument("register")
            )
    images = {}
    for path, volume in ((job.t1, t1), (job.flair, flair)):
        if path is not None and volume is not None:
            affine = volume.affine if motion is None else motion.world(out_grid[1]) @ volume.affine
            images[path] = Volume(volume.data, affine)
    t1 = images.get(job.t1) if job.t1 is not None else None
    flair = images.get(job.flair) if job.flair is not None else None
    mask = scan.mask
    covered, coverage = anatomy_coverage(
        [(path, image.data.shape, image.affine) for path, image in images.items()],
        out_grid,
        (job.mask, mask_on_grid(mask, out_grid)) if job.mask and mask is not None else None,
        where,
    )
    restrict = measured_mask(stored, out_grid, **qc)
    # a mask from the maps themselves when there is no image and no mask
    lr_maps = [lr.data for lr in maps.values()] if not (images or mask is not None) else []
    anatomy = _anatomy(
        predictor, (job.t1, t1), (job.flair, flair), (job.mask, mask), out_grid, restrict, lr_maps
    )
    log.info(
        "%s: images used: %s; mask %s", where, images_label(anatomy.present), anatomy.mask_source
    )
    sources = " and ".join(str(p) for p in images) or "the maps"
    source = job.mask or f"the brain mask derived from {sources}"
    check_brain_covered(anatomy.mask, covered, f"{source} on the grid of {where}")
    checks: dict[str, dict | None] = {"registration": registration, "coverage": coverage}
    return _Patient(anatomy=anatomy, maps=maps, affine=out_grid[1], checks=checks)


def _anatomy(
    predictor: Predictor,
    t1: tuple[Path | None, Volume | None],
    flair: tuple[Path | None, Volume | None],
    mask: tuple[Path | None, Volume | None],
    out_grid: tuple[tuple[int, int, int], np.ndarray],
    restrict: np.ndarray,
    maps: Sequence[np.ndarray] = (),
) -> Anatomy:
    """T1, FLAIR (either may be absent) and mask on the output grid, the mask restricted to
    ``restrict``; a user error if no brain is left in the mask. ``maps``: the patient's LR
    maps, for a mask without images."""
    sources = ", ".join(str(p) for p in (t1[0], flair[0]) if p is not None) or "the maps"
    try:
        anatomy = predictor.prepare_anatomy(
            t1[1],
            flair[1],
            *out_grid,
            mask=mask[1],
            mask_source=str(mask[0] or ""),
            maps=maps,
            restrict=restrict,
        )
    except ValueError as err:  # constant images: no brain mask can be derived
        if isinstance(err, UserError):
            raise
        raise UserError(f"{sources}: {err}; give {argument('mask')}") from None
    left_out = int(np.count_nonzero(~restrict))
    if left_out:
        log.info("%d voxel(s) of the output grid were not measured: outside the mask", left_out)
    if not anatomy.mask.any():
        where = mask[0] or f"the mask derived from {sources}"
        raise UserError(
            f"{where}: no voxel of the map's grid is inside the mask where the maps were "
            "measured; check that it is co-registered to the map"
        )
    return anatomy


def _run_one(
    job: Job,
    predictor: Predictor,
    anatomy: Anatomy,
    files: FileTransaction,
    lr: Volume,
    context: tuple[Sequence[str], FileHashes, dict[str, dict | None]],
    fit_sd: np.ndarray | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    calibration: Calibration = Calibration.self_check,
) -> None:
    """Super-resolve one map (``lr``, cut back to its acquisition) at every λ and write the
    result(s) with their sidecars; ``context`` is the command line, the hash cache and the
    checks' results, ``fit_sd`` the SD of the map's fit in its units
    (:attr:`~mrsisr.predict.checks.MapScan.sd`, for ``job.uncertainty`` ``fit``). With
    ``job.uncertainty`` the mean and SD of :mod:`mrsisr.uncertainty` are written (the SD
    beside each output). With the ``self-check`` calibration the network's detail is weighted
    by what :func:`mrsisr.selfcheck.self_check` finds on the map (the same weights at every
    λ), and the check goes into the sidecar."""
    shape, affine = output_geometry(lr.data.shape, lr.affine, anatomy.grid)
    log.info(
        "%s %s: %s -> %s, lambda = %s",
        job.patient or job.met.name,
        job.metabolite,
        "x".join(map(str, lr.data.shape)),
        "x".join(map(str, shape)),
        ", ".join(f"{v:g}" for v in job.sharpness),
    )
    where = f"{job.patient or job.met.name} {job.metabolite}"
    check = None
    if calibration is Calibration.self_check:
        check = self_check(predictor, lr.data, job.metabolite, anatomy)
        log.info("%s: %s", where, check.summary())
    weights = None if check is None else check.weights
    maps = predictor.super_resolve(lr.data, job.metabolite, anatomy, job.sharpness, weights)
    sd = None
    if job.uncertainty:  # the SD only: asking for it never changes the map
        sd = super_resolve_with_uncertainty(
            predictor,
            job.uncertainty,
            lr.data,
            job.metabolite,
            anatomy,
            job.sharpness,
            sd=fit_sd,
            draws=draws,
            rng=np.random.default_rng(seed),
            detail_weights=weights,
        ).sd
    command_line, hashes, checks = context
    provenance = job_provenance(
        job,
        model=predictor.source,
        lr_shape=lr.data.shape,
        grid=anatomy.grid,
        mask_source=anatomy.mask_source,
        command_line=command_line,
    )
    calibrated: dict[str, object] = {"calibration": calibration.value}
    if check is not None:
        calibrated["self_check"] = check.to_dict()
    provenance = dataclasses.replace(provenance, extra={**provenance.extra, **calibrated})
    write_maps(files, job, maps, affine, lr.data.shape, provenance, hashes, checks, sd=sd)


def _reserve(files: FileTransaction, jobs: Sequence[Job]) -> None:
    """Lock the output folders before any work (:meth:`FileTransaction.reserve`).

    Raises:
        UserError: a folder cannot be written, or another run is writing there.
    """
    outputs = [
        path
        for job in jobs
        for path in (*job.outputs, *job.sidecars, *job.sd_outputs, job.mask_out)
    ]
    outputs += [job.bids_root / "dataset_description.json" for job in jobs if job.bids_root]
    try:
        files.reserve(outputs)
    except FolderBusy as err:
        raise UserError(f"{err}; wait for it to finish or give another {argument('out')}") from None
    except OSError as err:
        where = err.filename or outputs[0].parent
        raise UserError(
            f"{where}: cannot write the outputs there ({err.strerror or err}); "
            f"give a writable {argument('out')}"
        ) from None
