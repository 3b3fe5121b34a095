"""Step 2 of a prediction: every input and output of every job checked before any compute.

:func:`check_outputs` refuses clashing or existing outputs; :func:`check_inputs` reads each
input file once and checks type, values, grid size and field of view. Checks of the
acquisition or of the registration of inputs belong here, so that a bad file of the last
patient of a cohort fails before the first one is computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mrsisr.data.nifti import read_shape, read_volume
from mrsisr.data.resample import covers
from mrsisr.errors import UserError
from mrsisr.inference import output_geometry
from mrsisr.nn.unet import MIN_N
from mrsisr.predict.plan import Job

__all__ = ["check_inputs", "check_outputs"]

# Affines that differ by less than this (mm) describe the same grid (NIfTI stores float32).
_AFFINE_TOLERANCE_MM = 1e-3

_Header = tuple[tuple[int, ...], np.ndarray]
"""A volume's shape and affine."""


def check_outputs(jobs: Sequence[Job], overwrite: bool) -> None:
    """Refuse two jobs writing one file, a patient with two anatomies, or existing outputs.

    Raises:
        UserError: naming the output file.
    """
    owner: dict[Path, object] = {}
    for job in jobs:
        for path in (*job.outputs, *job.sidecars):
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


def _same_grid(a: _Header, b: _Header) -> bool:
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


def check_inputs(jobs: Sequence[Job], grid: tuple[int, int]) -> None:
    """Read every input once and check types, values, sizes and fields of view.

    Args:
        jobs: the planned jobs.
        grid: the model's output grid ``(N_y, N_x)``.

    Raises:
        UserError: naming the first bad file and what is accepted.
    """
    headers: dict[Path, _Header] = {}

    def header(path: Path, what: str) -> _Header:
        if path not in headers:
            volume = read_volume(path, what)
            if what == "a mask" and not np.any(volume.data):
                raise UserError(f"{path}: empty mask; give a mask with the brain set to 1")
            headers[path] = (volume.data.shape, volume.affine)
        return headers[path]

    per_patient: dict[Path, _Header] = {}
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
        given = [
            (job.t1, "a T1-weighted image"),
            (job.flair, "a FLAIR image"),
            (job.mask, "a mask"),
        ]
        for path, what in [(path, what) for path, what in given if path is not None]:
            src_shape, src_affine = header(path, what)
            if not covers(src_shape, src_affine, *out_grid):
                raise UserError(
                    f"{path}: field of view does not cover the map {job.met.name}; "
                    "co-register it to the MRSI data (any grid that covers the map works)"
                )
