"""Step 4 of a prediction: the files a job writes, and what their headers say.

Every output goes through a :class:`~mrsisr.atomic.FileTransaction`, so a failure anywhere
leaves no partial output. What is recorded about a result (header description, provenance)
belongs here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mrsisr.atomic import FileTransaction
from mrsisr.data.nifti import save_volume
from mrsisr.predict.plan import Job
from mrsisr.provenance import FileHashes, Provenance, dataset_description
from mrsisr.report.collect import describe_map, describe_sd

__all__ = ["job_provenance", "write_dataset_description", "write_maps", "write_mask"]

log = logging.getLogger(__name__)


def write_mask(files: FileTransaction, path: Path, mask: np.ndarray, affine: np.ndarray) -> None:
    """Write the mask a patient's maps were super-resolved with (uint8, 1 inside).

    Args:
        files: the transaction the file joins.
        path: its final name.
        mask: ``(N_y, N_x, S)`` bool.
        affine: the output grid's affine.
    """
    save_volume(
        files.path_for(path), mask, affine, np.uint8, "mrsisr mask used for super-resolution"
    )


def job_provenance(
    job: Job,
    *,
    model: Path | None,
    lr_shape: Sequence[int],
    grid: Sequence[int],
    mask_source: str,
    command_line: Sequence[str] = (),
) -> Provenance:
    """What the sidecars of a job's outputs say (:class:`mrsisr.provenance.Provenance`).

    Args:
        job: the job.
        model: the model file.
        lr_shape: shape of the low-resolution input ``(n_y, n_x, S)``.
        grid: the output grid ``(N_y, N_x)``.
        mask_source: where the mask used came from.
        command_line: the arguments of the run.
    """
    inputs = [("map", job.met)]
    for role, path in (("t1", job.t1), ("flair", job.flair), ("mask", job.mask)):
        if path is not None:
            inputs.append((role, path))
    record = job.source
    sd = job.sd or (record.sd if record is not None else None)
    if sd is not None:
        inputs.append(("sd", sd))
    return Provenance(
        command_line=command_line,
        model=model,
        inputs=inputs,
        n=(int(lr_shape[0]), int(lr_shape[1])),
        grid=(int(grid[0]), int(grid[1])),
        sharpness=job.sharpness,
        metabolite_given=job.metabolite_given or job.metabolite.value,
        metabolite=job.metabolite,
        units=job.units,
        mask_source=mask_source,
        pipeline=record.pipeline if record is not None else None,
        notes=job.notes,
        extra={
            **({"quality": record.quality_source} if record and record.quality_source else {}),
            **({"uncertainty": job.uncertainty} if job.uncertainty else {}),
        },
    )


def _with_checks(
    provenance: Provenance, checks: Mapping[str, Mapping[str, Any] | None]
) -> Provenance:
    """``provenance`` with the results of the input checks (``"acquisition"``,
    ``"registration"``, ``"coverage"``; other names go with the extra keys)."""
    named = ("acquisition", "registration", "coverage")
    others = {k: v for k, v in checks.items() if k not in named}
    return dataclasses.replace(
        provenance,
        acquisition=checks.get("acquisition", provenance.acquisition),
        registration=checks.get("registration", provenance.registration),
        coverage=checks.get("coverage", provenance.coverage),
        extra={**provenance.extra, **others},
    )


def write_dataset_description(files: FileTransaction, root: Path) -> None:
    """Write ``root/dataset_description.json`` of a BIDS output folder unless it exists."""
    path = root / "dataset_description.json"
    if path.exists():
        log.info("%s exists: kept as it is", path)
        return
    text = json.dumps(dataset_description(), indent=2, ensure_ascii=False)
    files.path_for(path).write_text(text + "\n", encoding="utf-8")


def write_maps(
    files: FileTransaction,
    job: Job,
    maps: np.ndarray,
    affine: np.ndarray,
    lr_shape: Sequence[int],
    provenance: Provenance | None = None,
    hashes: FileHashes | None = None,
    checks: Mapping[str, Mapping[str, Any] | None] | None = None,
    sd: np.ndarray | None = None,
) -> None:
    """Write a job's super-resolved maps: one file per λ, or one 4-D file with ``job.stack``;
    with ``provenance``, each with its JSON sidecar (:attr:`Job.sidecars`).

    Args:
        files: the transaction the files join.
        job: the job (its outputs and λ values).
        maps: ``(L, N_y, N_x, S)`` float32, one volume per λ of ``job.sharpness``.
        affine: the output grid's affine.
        lr_shape: shape of the low-resolution input, recorded in the header.
        provenance: what the sidecars say (:func:`job_provenance`), or None for none.
        hashes: the SHA-256 cache of the run (each input is read once).
        checks: results of the input checks by name, plain JSON values, for the sidecars.
        sd: ``(L, N_y, N_x, S)`` SD maps in the map's units, written to ``job.sd_outputs``
            (given exactly when the job has an uncertainty method). Headers are described
            by :func:`mrsisr.report.collect.describe_map` / ``describe_sd``, which
            ``mrsisr report`` reads back.
    """
    if (sd is None) != (not job.uncertainty):
        raise ValueError("sd maps are given exactly when the job has an uncertainty method")
    if provenance is not None:
        provenance = _with_checks(provenance, checks or {})
        per_file = [tuple(job.sharpness)] if job.stack else [(lam,) for lam in job.sharpness]
        for sidecar, values in zip(job.sidecars, per_file):
            dataclasses.replace(provenance, sharpness=values).write(files.path_for(sidecar), hashes)
    met, n = job.metabolite.value, tuple(lr_shape[:2])
    kinds = [(job.outputs, maps, lambda lams: describe_map(met, n, lams))]
    if sd is not None:
        kinds.append((job.sd_outputs, sd, lambda lams: describe_sd(job.uncertainty, met, n, lams)))
    for paths, volumes, describe in kinds:
        if job.stack:
            (path,) = paths
            data = np.moveaxis(volumes, 0, -1)
            save_volume(files.path_for(path), data, affine, description=describe(job.sharpness))
            continue
        for path, volume, lam in zip(paths, volumes, job.sharpness):
            save_volume(files.path_for(path), volume, affine, description=describe((lam,)))
