"""Step 4 of a prediction: the files a job writes, and what their headers say.

Every output goes through a :class:`~mrsisr.atomic.FileTransaction`, so a failure anywhere
leaves no partial output. What is recorded about a result (header description, provenance)
belongs here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrsisr.atomic import FileTransaction
from mrsisr.data.nifti import save_volume
from mrsisr.predict.plan import Job

__all__ = ["write_maps", "write_mask"]


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


def write_maps(
    files: FileTransaction,
    job: Job,
    maps: np.ndarray,
    affine: np.ndarray,
    lr_shape: Sequence[int],
) -> None:
    """Write a job's super-resolved maps: one file per λ, or one 4-D file with ``job.stack``.

    Args:
        files: the transaction the files join.
        job: the job (its outputs and λ values).
        maps: ``(L, N_y, N_x, S)`` float32, one volume per λ of ``job.sharpness``.
        affine: the output grid's affine.
        lr_shape: shape of the low-resolution input, recorded in the header.
    """
    about = f"mrsisr SR {job.metabolite} n={lr_shape[0]}x{lr_shape[1]} lambda="
    if job.stack:
        lams = ", ".join(f"{v:g}" for v in job.sharpness)
        save_volume(
            files.path_for(job.out), np.moveaxis(maps, 0, -1), affine, description=about + lams
        )
        return
    for path, volume, lam in zip(job.outputs, maps, job.sharpness):
        save_volume(files.path_for(path), volume, affine, description=f"{about}{lam:g}")
