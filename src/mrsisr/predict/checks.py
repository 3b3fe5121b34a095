"""Step 2 of a prediction: every input read once and checked, every output checked, before
any compute.

:func:`check_outputs` refuses clashing or existing outputs; :func:`read_inputs` reads each
input file once into a :class:`PatientScan` per patient, the in-memory scan the run works on
(it opens no input again), and checks type, values, grid size, the acquisition each map holds
(:func:`mrsisr.acquisition.plan_acquisition`: zero-filled maps, ``n = N``, all-zero maps),
each SD map against its map, and what the anatomy covers (:func:`anatomy_coverage`): T1 and
FLAIR may cover less than the MRSI field of view, the rest counts as background, but they
must cover the brain mask. A bad file of the last patient of a cohort fails before the first
one is computed.

The scans of a run are held in memory together, not read again per patient: the checks read
every file before the first patient is computed, so keeping what they read raises the peak by
no more than one patient's computation (maps are small; T1 and FLAIR at 1 mm are about 50 MB
each as float32, about 100 MB per patient).

Two checks need the images themselves and run per patient just before it is computed, on its
scan: :func:`measured_mask` (where every map of the patient was measured, on the output grid)
and :func:`check_registration` (the anatomy's misregistration against the maps, corrected on
request).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mrsisr import kspace
from mrsisr.acquisition import (
    Acquisition,
    lowres_mask_on_grid,
    measured_support,
    plan_acquisition,
    truncate,
)
from mrsisr.checkpoint import TrainedRange
from mrsisr.data.nifti import ShapeCheck, Volume, in_plane_voxel_mm, read_volume
from mrsisr.data.resample import coverage, resample_to_grid
from mrsisr.errors import UserError, argument
from mrsisr.inference import GridChoice, brain_mask, describe_outside, output_geometry
from mrsisr.nn.unet import MIN_N
from mrsisr.pipelines import sd_in_map_units
from mrsisr.predict.plan import Job
from mrsisr.registration import Registration, estimate_registration
from mrsisr.untrusted import read_json
from mrsisr.weights import DEFAULT_MODEL

__all__ = [
    "MAX_DRAWS",
    "REGISTRATION_WARN_DEG",
    "REGISTRATION_WARN_MM",
    "MapScan",
    "ModelLimits",
    "PatientScan",
    "anatomy_coverage",
    "check_bids_description",
    "check_brain_covered",
    "check_draws",
    "check_outputs",
    "check_registration",
    "check_sharpness",
    "check_threads",
    "job_inputs",
    "mask_on_grid",
    "measured_mask",
    "measured_volume",
    "model_limits",
    "read_inputs",
    "refuse_inputs_as_outputs",
    "resolve_model",
]

log = logging.getLogger(__name__)

REGISTRATION_WARN_MM = 2.0
"""A shift of the anatomy against the maps above this (mm) is reported as a warning."""
REGISTRATION_WARN_DEG = 2.0
"""A rotation above this (degrees) is reported as a warning."""
MIN_REGISTRATION_SCORE = 0.5
"""The anatomy must explain at least this fraction of the maps' variance (R²) for the
registration estimate to be trusted."""

# Affines that differ by less than this (mm) describe the same grid (NIfTI stores float32).
_AFFINE_TOLERANCE_MM = 1e-3

_Header = tuple[tuple[int, ...], np.ndarray]
"""A volume's shape and affine."""


def job_inputs(jobs: Sequence[Job]) -> dict[Path, str]:
    """Every file the jobs read, with the argument it was given by (``met``, ``t1``,
    ``flair``, ``mask``, ``sd``)."""
    inputs: dict[Path, str] = {}
    for job in jobs:
        for option, path in (
            ("met", job.met),
            ("t1", job.t1),
            ("flair", job.flair),
            ("mask", job.mask),
            ("sd", job.sd),
        ):
            if path is not None:
                inputs.setdefault(Path(path), option)
    return inputs


def _inode(path: Path) -> tuple[int, int] | None:
    """The device and inode of an existing file (one file under several hard links)."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def refuse_inputs_as_outputs(outputs: Sequence[Path], inputs: Mapping[Path, str]) -> None:
    """Refuse an output that is one of the inputs, whatever ``overwrite`` says: writing it
    would replace the input. The same file is found through symbolic links (resolved paths)
    and hard links (device and inode).

    Args:
        outputs: the files to write.
        inputs: every file read, with the argument it was given by (:func:`job_inputs`),
            named in the message as :func:`mrsisr.errors.argument` spells it.

    Raises:
        UserError: naming the file and the argument it was given by.
    """
    known: dict[object, tuple[Path, str]] = {}
    for path, option in inputs.items():
        known.setdefault(path.resolve(), (path, option))
        inode = _inode(path)
        if inode is not None:
            known.setdefault(inode, (path, option))
    for out in outputs:
        hit = known.get(out.resolve()) or known.get(_inode(out))
        if hit is not None:
            raise UserError(
                f"{out}: is the input {hit[0]} ({argument(hit[1])}); an output never replaces an "
                f"input, even with {argument('overwrite')}; give another {argument('out')}"
            )


def check_bids_description(root: Path) -> None:
    """Refuse a BIDS output folder whose ``dataset_description.json`` is not mrsisr's.

    An existing description is kept only when it is a JSON object whose ``GeneratedBy``
    names mrsisr; another pipeline's derivative folder, or a file that is not JSON, is not
    written into.

    Raises:
        UserError: naming the file and what is accepted.
    """
    path = root / "dataset_description.json"
    if not path.exists():
        return
    try:
        record = read_json(path, "a BIDS dataset_description.json")
    except UserError as err:
        raise UserError(
            f"{err}; {argument('bids')} writes only into a new folder or one mrsisr wrote"
        ) from None
    generated = record.get("GeneratedBy") if isinstance(record, dict) else None
    entries = generated if isinstance(generated, list) else []
    names = [g.get("Name") for g in entries if isinstance(g, dict)]
    if "mrsisr" not in names:
        owner = ", ".join(str(n) for n in names) or "no GeneratedBy"
        raise UserError(
            f"{path}: the folder is another dataset's ({owner}); {argument('bids')} writes only "
            "into a new folder or one mrsisr wrote"
        )


def check_outputs(jobs: Sequence[Job], overwrite: bool) -> None:
    """Refuse two jobs writing one file, a patient with two anatomies, an output that is an
    input (:func:`refuse_inputs_as_outputs`), a BIDS output folder of another dataset,
    or existing outputs.

    Raises:
        UserError: naming the output file.
    """
    owner: dict[Path, object] = {}
    for job in jobs:
        for path in (*job.outputs, *job.sidecars, *job.sd_outputs):
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
    refuse_inputs_as_outputs(list(owner), job_inputs(jobs))
    for root in dict.fromkeys(job.bids_root for job in jobs if job.bids_root):
        check_bids_description(root)
    for path in owner:
        if path.is_dir():
            raise UserError(f"{path}: is a directory; expected an output file name")
        if path.exists() and not overwrite:
            raise UserError(f"{path}: output exists; pass {argument('overwrite')} to replace it")


def _same_grid(a: _Header, b: _Header) -> bool:
    return a[0] == b[0] and np.allclose(a[1], b[1], rtol=0, atol=_AFFINE_TOLERANCE_MM)


def _check_map_grid(
    path: Path, grid: tuple[int, int], acquired: tuple[int, int] | None, shape: tuple[int, ...]
) -> None:
    """Refuse a map larger than a chosen output grid (``GridChoice.grid``) from the ``shape``
    its header declares, before a voxel is read (the default grid and a voxel size are
    checked on the map)."""
    n = acquired or (shape[:2] if len(shape) >= 2 else None)
    if n is not None and (n[0] > grid[0] or n[1] > grid[1]):
        size = f"{n[0]}x{n[1]}"
        raise UserError(
            f"{path}: map grid {size} is larger than the output grid ({argument('grid')}) "
            f"{grid[0]}x{grid[1]}; give a grid of at least the map's size per axis (n <= N)"
        )


@dataclass(frozen=True, eq=False)
class MapScan:
    """One job's map as :func:`read_inputs` read and checked it.

    Args:
        job: the job.
        volume: the map as stored.
        acquisition: what it holds (:func:`mrsisr.acquisition.plan_acquisition`).
        sd: the SD map of its fit (``job.sd``) in the map's units, float64 on the map's grid;
            None without one.
    """

    job: Job
    volume: Volume
    acquisition: Acquisition
    sd: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class PatientScan:
    """A patient's inputs, read once and checked (:func:`read_inputs`): everything its run
    needs, in memory.

    Args:
        maps: its maps, one per job, in the order of the jobs.
        t1: the T1-weighted image as given, or None (its jobs have none).
        flair: the FLAIR image as given, or None.
        mask: the given mask, or None (derived by the run).
    """

    maps: tuple[MapScan, ...]
    t1: Volume | None
    flair: Volume | None
    mask: Volume | None

    @property
    def jobs(self) -> tuple[Job, ...]:
        """The patient's jobs (they share :attr:`Job.anatomy_key`)."""
        return tuple(scan.job for scan in self.maps)


def _patient_scans(maps: Sequence[MapScan], volumes: Mapping[Path, Volume]) -> list[PatientScan]:
    """The checked maps grouped by patient (their anatomy), in the order of their first job,
    each with its anatomy from ``volumes`` (every file read, by path)."""
    groups: dict[tuple[Path | None, Path | None, Path | None, Path], list[MapScan]] = {}
    for scan in maps:
        groups.setdefault(scan.job.anatomy_key, []).append(scan)
    return [
        PatientScan(
            maps=tuple(members),
            t1=None if t1 is None else volumes[t1],
            flair=None if flair is None else volumes[flair],
            mask=None if mask is None else volumes[mask],
        )
        for (t1, flair, mask, _), members in groups.items()
    ]


def measured_volume(lr: Volume, acquisition: Acquisition) -> Volume:
    """The map as it is super-resolved: cut back to its acquired size when it was zero-filled
    (:func:`mrsisr.acquisition.truncate`), with the affine of that grid over the same field
    of view."""
    if not acquisition.truncated:
        return lr
    data = truncate(lr.data, acquisition.n, acquisition.split_nyquist).astype(np.float32)
    return Volume(data, _measured_affine(lr.affine, acquisition))


def _measured_affine(affine: np.ndarray, acquisition: Acquisition) -> np.ndarray:
    if not acquisition.truncated:
        return affine
    return kspace.lowres_affine(affine, acquisition.grid, acquisition.n)


def anatomy_coverage(
    images: Sequence[tuple[Path, tuple[int, ...], np.ndarray]],
    out_grid: tuple[tuple[int, int, int], np.ndarray],
    brain: tuple[Path, np.ndarray] | None,
    where: str,
) -> tuple[np.ndarray, dict]:
    """Which output voxels T1 and FLAIR cover; refuse only an uncovered part of the brain.

    Args:
        images: ``(file, shape, affine)`` of T1 and FLAIR (as registered).
        out_grid: shape and affine of the output grid.
        brain: the given brain mask's file and its mask on the output grid, or ``None``.
        where: the map the grid belongs to, for messages.

    Returns:
        Bool ``(N_y, N_x, S)``, the voxels both images cover, and the coverage record
        (``uncovered_fraction``, ``uncovered_voxels``, ``fov_voxels``).

    Raises:
        UserError: an image covers no output voxel, or misses voxels of the brain mask.
    """
    covered = np.ones(out_grid[0], dtype=bool)  # without T1 and FLAIR there is nothing to miss
    for path, shape, affine in images:
        mine = coverage(shape, affine, *out_grid)
        if not mine.any():
            raise UserError(
                f"{path}: field of view does not overlap the map {where}; co-register it to "
                "the MRSI data (any grid that covers the brain works)"
            )
        if brain is not None and (missed := int(np.count_nonzero(brain[1] & ~mine))):
            raise UserError(
                f"{path}: does not cover {missed} voxel(s) of the brain mask {brain[0]} on the "
                f"grid of {where}; give an image that covers the whole brain (the rest of the "
                "MRSI field of view may be uncovered)"
            )
        covered &= mine
    uncovered = int(covered.size - np.count_nonzero(covered))
    if uncovered:
        log.info(
            "%s: T1 and FLAIR cover %.1f %% of the output grid; the other %d voxel(s) count "
            "as background",
            where,
            100 * (1 - uncovered / covered.size),
            uncovered,
        )
    return covered, {
        "uncovered_fraction": round(uncovered / covered.size, 6),
        "uncovered_voxels": uncovered,
        "fov_voxels": int(covered.size),
    }


MAX_CUT_SURFACE = 0.2
"""Largest fraction of a brain mask's surface that may border the part of the output grid
T1 and FLAIR do not cover (:func:`check_brain_covered`)."""


def check_brain_covered(brain: np.ndarray, covered: np.ndarray, what: str) -> None:
    """Refuse a brain mask cut by the edge of the anatomy's field of view.

    A mask derived from T1 and FLAIR can only lie where they exist; when a large part of its
    surface (more than :data:`MAX_CUT_SURFACE`) runs along voxels they do not cover, the
    brain goes on beyond their field of view. A brain that touches that edge at a few places
    (an image cropped tightly to the brain) is accepted.

    Args:
        brain: bool ``(N_y, N_x, S)``, the mask on the output grid.
        covered: bool ``(N_y, N_x, S)``, the voxels T1 and FLAIR cover.
        what: names the mask and the images, for the message.

    Raises:
        UserError: when the brain is cut.
    """
    from scipy import ndimage

    surface = brain & ~ndimage.binary_erosion(brain, border_value=1)
    outside = np.pad(~covered, 1, constant_values=False)  # beyond the grid is not "uncovered"
    near = ndimage.binary_dilation(outside, ndimage.generate_binary_structure(3, 1))[
        1:-1, 1:-1, 1:-1
    ]
    cut = int(np.count_nonzero(surface & near))
    total = int(np.count_nonzero(surface))
    if total and cut > MAX_CUT_SURFACE * total:
        raise UserError(
            f"{what}: {100 * cut / total:.0f} % of the brain's surface lies on the edge of "
            "their field of view: part of the brain is not covered; give images that cover "
            "the whole brain (the rest of the MRSI field of view may be uncovered)"
        )


SD_RELATIVE_MAX = 1.0
"""Largest plausible median of an SD map relative to its map (100 %): above it, the SD is
almost surely in percent (a CRLB or %SD map) read as the map's units."""
SD_RELATIVE_MIN = 1e-3
"""Smallest plausible median relative SD (0.1 %); below it a warning (percent read as a
fraction, or an SD of another map)."""


def _check_sd_units(sd_path: Path, job: Job, sd: np.ndarray, lr: np.ndarray) -> None:
    """Refuse an SD map whose median is larger than the map's (relative SD > 100 %)."""
    measured = lr != 0
    if job.sd_percent:  # FSL-MRS marks an undetermined SD as 999 %: not a fit to judge
        measured &= np.abs(sd) < (999.0 / 100.0) * np.abs(lr)
    if not measured.any():
        return
    typical = float(np.median(np.abs(lr[measured])))
    spread = float(np.median(sd[measured]))
    relative = spread / typical if typical > 0 else 0.0
    units = "percent of the map, converted" if job.sd_percent else "the map's units"
    if relative > SD_RELATIVE_MAX:
        hint = (
            "check that it is the SD map of this map"
            if job.sd_percent
            else "if it holds percent of the concentration (a CRLB or %SD map) pass "
            f"{argument('sd_percent')}, else give the SD in the map's units"
        )
        raise UserError(
            f"{sd_path}: median SD {spread:.3g} ({units}) is {relative:.3g} times the median "
            f"|value| {typical:.3g} of {job.met.name}: not a plausible SD; {hint}"
        )
    if relative < SD_RELATIVE_MIN:
        log.warning(
            "%s: median SD %.3g (%s) is %.2g %% of the median |value| %.3g of %s: "
            "unusually small for a fit; check its units",
            sd_path,
            spread,
            units,
            100 * relative,
            typical,
            job.met.name,
        )


def _check_sd(
    sd: Path, volume: Volume, job: Job, lr: Volume, acquisition: Acquisition
) -> np.ndarray:
    """The SD map ``volume`` of a fit (the file ``sd``) in the map's units (``job.sd``,
    converted from percent of ``lr`` when :attr:`Job.sd_percent`), float64 ``(n_y, n_x,
    S)``, once checked: on the map's grid, values >= 0 (finite: :func:`read_volume`), and of
    a plausible size against the map (:func:`_check_sd_units`).

    Raises:
        UserError: naming the file.
    """
    if not _same_grid(_header(volume), _header(lr)):
        difference = _grid_difference(_header(volume), _header(lr), f"its map {job.met.name}")
        raise UserError(f"{sd}: {difference}; give the SD on the map's grid")
    if volume.data.min() < 0:
        raise UserError(f"{sd}: negative values; an SD map holds values >= 0")
    if acquisition.truncated:
        raise UserError(
            f"{job.met}: zero-filled from a {acquisition.n[0]}x{acquisition.n[1]} acquisition; "
            f"{argument('uncertainty')} fit needs the map and its SD at the acquisition grid "
            "(or use tta)"
        )
    in_map_units = sd_in_map_units(volume.data, lr.data, job.sd_percent)
    _check_sd_units(sd, job, in_map_units, lr.data)
    return in_map_units


def _grid_difference(a: _Header, b: _Header, other: str) -> str:
    """How grid ``a`` differs from grid ``b`` of ``other``, for a message."""
    size = "x".join(map(str, a[0]))
    if a[0] != b[0]:
        return f"grid {size} differs from {other} ({'x'.join(map(str, b[0]))})"
    if np.allclose(a[1][:3, :3], b[1][:3, :3], rtol=0, atol=_AFFINE_TOLERANCE_MM):
        shift = float(np.abs(a[1][:3, 3] - b[1][:3, 3]).max())
        return f"same grid {size} as {other} but shifted by up to {shift:.3g} mm"
    return f"same grid {size} as {other} but another voxel size or orientation (affine)"


def _check_anatomy_values(path: Path, volume: Volume, what: str) -> None:
    """Refuse a T1 or FLAIR image that is 0 everywhere: no image at all, which the network
    would take as a very dark one (worse than no image)."""
    if not np.any(volume.data):
        option = argument("t1" if what == _ANATOMY[0] else "flair")
        raise UserError(
            f"{path}: every voxel is 0: an empty image, not {what}; give the image, or "
            f"leave {option} out (a model trained with presence flags works without it)"
        )


def _acquired(acquired_n: int | Sequence[int] | None) -> tuple[int, int] | None:
    """The size ``(n_y, n_x)`` zero-filled maps were acquired at: one size for both axes,
    or two; None when not given.

    Raises:
        UserError: not one or two sizes >= ``MIN_N``, naming the argument.
    """
    if acquired_n is None:
        return None
    pair = [acquired_n] if isinstance(acquired_n, int) else list(acquired_n)
    if len(pair) == 1:
        pair *= 2
    if len(pair) != 2 or min(pair) < MIN_N:
        raise UserError(
            f"{argument('acquired_n')}: give one or two sizes (n_y n_x) >= {MIN_N}, got "
            f"{acquired_n}"
        )
    return int(pair[0]), int(pair[1])


def read_inputs(
    jobs: Sequence[Job],
    grid: GridChoice | Sequence[int] = GridChoice(),  # noqa: B008 (immutable)
    *,
    acquired_n: int | Sequence[int] | None = None,
    trained_n: Sequence[int] = (),
    trained: TrainedRange | None = None,
) -> list[PatientScan]:
    """Read every input file once and check types, values, sizes, acquisitions, SD maps and
    coverage; what was read is the patients' scans.

    Args:
        jobs: the planned jobs.
        grid: how the output grid of each map is chosen (:class:`~mrsisr.inference.
            GridChoice`: the default rule, a grid or a voxel size); a pair ``(N_y, N_x)`` is
            that fixed grid.
        acquired_n: the size the maps were acquired at when a pipeline zero-filled them.
        trained_n: the sizes the model was trained on (a warning outside them).
        trained: the ranges of ``n`` and ``N`` it was trained on (one warning for the run
            when a map's ``n`` or output grid lies outside them).

    Returns:
        A scan per patient (the jobs that share :attr:`Job.anatomy_key`), in the order of
        their first job.

    Raises:
        UserError: naming the first bad file and what is accepted.
    """
    choice = grid if isinstance(grid, GridChoice) else GridChoice(grid=(grid[0], grid[1]))
    volumes: dict[Path, Volume] = {}
    acquisitions: dict[Path, Acquisition] = {}
    outside: dict[Path, str] = {}
    acquired = _acquired(acquired_n)

    def read(path: Path, what: str, check_shape: ShapeCheck | None = None) -> Volume:
        if path not in volumes:
            volume = read_volume(path, what, check_shape)
            if what == "a mask" and not np.any(volume.data):
                raise UserError(f"{path}: empty mask; give a mask with the brain set to 1")
            if what in _ANATOMY:
                _check_anatomy_values(path, volume, what)
            volumes[path] = volume
        return volumes[path]

    maps: list[MapScan] = []
    per_patient: dict[Path, _Header] = {}
    stored: dict[Path, tuple[Path, _Header]] = {}  # the first map of each patient, as stored
    covered: set[Path] = set()
    for job in jobs:
        fits = (
            None
            if choice.grid is None
            else partial(_check_map_grid, job.met, choice.grid, acquired)
        )
        lr = read(job.met, "a low-resolution map (n_y, n_x, slices)", fits)
        if min(lr.data.shape[:2]) < MIN_N:
            raise UserError(
                f"{job.met}: map grid {lr.data.shape[0]}x{lr.data.shape[1]} is too small; the "
                f"networks need at least {MIN_N} voxels per in-plane axis"
            )
        first, header = stored.setdefault(job.mask_out, (job.met, _header(lr)))
        if not _same_grid(_header(lr), header):
            other = f"{first.name}, another map of this patient"
            raise UserError(
                f"{job.met}: {_grid_difference(_header(lr), header, other)}; maps of one "
                "patient must share shape and affine"
            )
        if job.met not in acquisitions:
            try:
                acquisitions[job.met] = plan_acquisition(  # its output grid: below
                    lr.data, acquired_n=acquired, trained_n=trained_n, warn=False
                )
            except ValueError as err:
                raise UserError(f"{job.met}: {err}") from None
        acquisition = acquisitions[job.met]
        sd = None
        if job.sd is not None:
            sd_volume = read(job.sd, "an SD map of the low-resolution fit")
            sd = _check_sd(job.sd, sd_volume, job, lr, acquisition)
        maps.append(MapScan(job, lr, acquisition, sd))
        lr_affine = _measured_affine(lr.affine, acquisition)
        measured_shape = (*acquisition.n, lr.data.shape[2])
        try:
            size = choice.of(measured_shape, lr_affine)
        except ValueError as err:
            raise UserError(f"{job.met}: {_option(choice)}: {err}") from None
        out_grid = output_geometry(measured_shape, lr_affine, size)
        beyond = describe_outside(trained, acquisition.n, size)
        if beyond:
            outside[job.met] = beyond
        if not _same_grid(per_patient.setdefault(job.mask_out, out_grid), out_grid):
            raise UserError(
                f"{job.met}: on another grid than the other maps of this patient; "
                "maps of one patient must share shape and affine"
            )
        images = [(job.t1, _ANATOMY[0]), (job.flair, _ANATOMY[1])]
        headers = [(path, *_header(read(path, what))) for path, what in images if path is not None]
        mask = None if job.mask is None else (job.mask, read(job.mask, "a mask"))
        if job.mask_out not in covered:
            covered.add(job.mask_out)
            _check_coverage(headers, out_grid, mask, job.met.name)
    _warn_extrapolation(acquisitions, outside, trained)
    return _patient_scans(maps, volumes)


def _check_coverage(
    images: Sequence[tuple[Path, tuple[int, ...], np.ndarray]],
    out_grid: tuple[tuple[int, int, int], np.ndarray],
    mask: tuple[Path, Volume] | None,
    where: str,
) -> None:
    """What T1 and FLAIR cover of a patient's output grid (:func:`anatomy_coverage`), with
    its given mask (file and volume) on that grid.

    Raises:
        UserError: a mask with no voxel on the grid, or what :func:`anatomy_coverage` refuses.
    """
    brain = None
    if mask is not None:
        on_grid = mask_on_grid(mask[1], out_grid)
        if not on_grid.any():
            raise UserError(
                f"{mask[0]}: no voxel of the map's grid is inside the mask; "
                "check that it is co-registered to the map"
            )
        brain = (mask[0], on_grid)
    anatomy_coverage(images, out_grid, brain, where)


def _option(choice: GridChoice) -> str:
    """The argument that chose the grid, with its value."""
    if choice.grid is not None:
        return f"{argument('grid')} {choice.grid[0]} {choice.grid[1]}"
    if choice.voxel_size is not None:
        return f"{argument('voxel_size')} {choice.voxel_size:g}"
    return "output grid"


_ANATOMY = ("a T1-weighted image", "a FLAIR image")


def _warn_extrapolation(
    acquisitions: Mapping[Path, Acquisition], grids: dict[Path, str], trained: TrainedRange | None
) -> None:
    """One warning for the maps whose size (or output grid) the model was not trained on:
    from the trained ranges when the header records them (``grids``: what lies outside, per
    map), else from the trained sizes."""
    if trained is not None:
        if grids:
            log.warning(
                "%d map(s) outside what the model was trained on (n %s to %s, N %s): %s; "
                "the result is an extrapolation",
                len(grids),
                "x".join(map(str, trained.n_min)),
                "x".join(map(str, trained.n_max)),
                trained.grid_label(),
                "; ".join(sorted(set(grids.values()))),
            )
        return
    outside = {path: a for path, a in acquisitions.items() if a.extrapolated}
    if not outside:
        return
    sizes = sorted({"x".join(map(str, a.n)) for a in outside.values()})
    sizes_trained = next(iter(outside.values())).trained or (0, 0)
    log.warning(
        "acquisition size %s of %d map(s) is outside the sizes the model was trained on "
        "(%d to %d): the result is an extrapolation",
        ", ".join(sizes),
        len(outside),
        *sizes_trained,
    )


def _header(volume: Volume) -> _Header:
    return (volume.data.shape, volume.affine)


def mask_on_grid(mask: Volume, out_grid: tuple[tuple[int, int, int], np.ndarray]) -> np.ndarray:
    """A given mask on the output grid, by the rule of ``Predictor.prepare_anatomy``."""
    data = (np.asarray(mask.data) != 0).astype(np.float32)
    return resample_to_grid(data, mask.affine, *out_grid, order=1) > 0.5


def measured_mask(
    maps: Sequence[Volume],
    out_grid: tuple[tuple[int, int, int], np.ndarray],
    quality: Sequence[np.ndarray | None] = (),
    excitation: Sequence[np.ndarray | None] = (),
) -> np.ndarray:
    """Where every map of a patient was measured, on the output grid.

    A voxel is in when, in every map, it is non-zero, inside the excitation region and
    passes the pipeline's quality control (when known), by the more-than-half rule of
    :func:`mrsisr.acquisition.lowres_mask_on_grid`.

    Args:
        maps: the patient's maps as stored ``(n_y, n_x, S)``, on one grid.
        out_grid: shape and affine of the output grid.
        quality: per map, bool on the map's grid (True = passed QC), or ``None``.
        excitation: per map, bool on the map's grid (True = excited), or ``None``.

    Returns:
        Bool ``(N_y, N_x, S)``.
    """
    support = np.ones(maps[0].data.shape, dtype=bool)
    for i, lr in enumerate(maps):
        support &= measured_support(lr.data, excitation[i] if i < len(excitation) else None)
        if i < len(quality) and quality[i] is not None:
            support &= np.asarray(quality[i], dtype=bool)
    return lowres_mask_on_grid(support, maps[0].affine, *out_grid)


def check_registration(
    maps: Sequence[np.ndarray],
    t1: Volume,
    flair: Volume,
    out_grid: tuple[tuple[int, int, int], np.ndarray],
    register: bool,
    where: str,
    support: np.ndarray | None = None,
) -> tuple[Registration | None, dict]:
    """Estimate the anatomy's misregistration against a patient's maps; warn or correct it.

    The estimate (:func:`mrsisr.registration.estimate_registration`) is trusted only when
    the anatomy explains at least :data:`MIN_REGISTRATION_SCORE` of the maps' variance. A
    trusted shift above :data:`REGISTRATION_WARN_MM` or rotation above
    :data:`REGISTRATION_WARN_DEG` is a warning without ``register``; with it, the motion is
    returned to be applied to T1 and FLAIR.

    Args:
        maps: the maps as super-resolved, ``(n_y, n_x, S)`` each, on one grid.
        t1: T1-weighted volume as given.
        flair: FLAIR volume as given.
        out_grid: shape and affine of the output grid.
        register: apply the estimate.
        where: the patient, for messages.
        support: bool ``(n_y, n_x, S)``, where the maps were measured.

    Returns:
        The motion to apply (``None``: none), and the registration record for the sidecar.
    """
    shape, affine = out_grid
    t1_hr = resample_to_grid(t1.data, t1.affine, shape, affine, order=1)
    flair_hr = resample_to_grid(flair.data, flair.affine, shape, affine, order=1)
    voxel = in_plane_voxel_mm(affine)
    try:
        brain = brain_mask(t1_hr, flair_hr)
        estimate = estimate_registration(maps, t1_hr, flair_hr, voxel, brain=brain, support=support)
    except ValueError as err:  # constant anatomy, or too few measured voxels
        log.warning("%s: registration not checked (%s)", where, err)
        return None, {"checked": False, "reason": str(err), "applied": False}
    record = {"checked": True, **estimate.record(), "applied": False}
    if estimate.score < MIN_REGISTRATION_SCORE:
        log.warning(
            "%s: registration not checked: T1 and FLAIR explain only R² = %.2f of the maps "
            "(at least %.2f needed)%s",
            where,
            estimate.score,
            MIN_REGISTRATION_SCORE,
            f"; {argument('register')} not applied" if register else "",
        )
        return None, {**record, "checked": False}
    shift = f"{estimate.shift_mm[0]:.1f}, {estimate.shift_mm[1]:.1f} mm"
    rotation = f"{estimate.rotation_deg:.1f} deg"
    if register:
        log.info(
            "%s: %s moves T1 and FLAIR by %s, %s", where, argument("register"), shift, rotation
        )
        return estimate, {**record, "applied": True}
    large = (
        estimate.shift_norm_mm > REGISTRATION_WARN_MM
        or abs(estimate.rotation_deg) > REGISTRATION_WARN_DEG
    )
    if large:
        log.warning(
            "%s: T1 and FLAIR appear misregistered against the maps: they fit best moved by "
            "%s along the map's voxel axes 0 and 1, rotated %s (R² %.3f against %.3f as "
            "given); check the registration or pass %s",
            where,
            shift,
            rotation,
            estimate.score,
            estimate.aligned_score,
            argument("register"),
        )
    return None, record


MAX_DRAWS = 1000
"""Most Monte Carlo draws of the ``fit`` uncertainty (the SD's precision is then 2 %; every
draw holds a whole volume in memory)."""


def check_draws(draws: int, seed: int) -> None:
    """Refuse ``draws`` outside ``2 ... MAX_DRAWS`` and a negative ``seed``.

    Raises:
        UserError: naming the option and what is accepted.
    """
    if not 2 <= draws <= MAX_DRAWS:
        raise UserError(f"{argument('draws')}: must be >= 2 and at most {MAX_DRAWS}, got {draws}")
    if seed < 0:
        raise UserError(f"{argument('seed')}: give an integer >= 0, got {seed}")


def check_threads(threads: int | None) -> None:
    """Refuse ``threads`` below 1 or above this computer's usable CPUs (more threads than
    CPUs only wait on each other: 1000 threads ran 7 times slower than 2 on 2 CPUs).

    Raises:
        UserError: naming the option and what is accepted.
    """
    from mrsisr.machine import usable_cpus

    if threads is None:
        return
    cpus = usable_cpus()
    if not 1 <= threads <= cpus:
        raise UserError(
            f"{argument('threads')}: must be >= 1 and at most {cpus} (the CPUs this process "
            f"may use), got {threads}"
        )


class ModelLimits(NamedTuple):
    """What a model file's header says about the inputs it was made for."""

    path: Path
    grid: tuple[int, int]
    """The output grid ``(N_y, N_x)``."""
    trained_n: tuple[int, ...]
    """The acquisition sizes it was trained on (empty: unknown)."""
    lam_range: tuple[float, float] | None
    """The range of λ it was trained on, or None when its header does not say."""
    trained: TrainedRange | None = None
    """The ranges of ``n`` and ``N`` it was trained on (the header's ``trained``, else from
    ``trained_n`` on ``grid``), or None when unknown."""


def resolve_model(model: Path | None) -> Path:
    """The model file to use: ``model``, or the shipped weights for None.

    Raises:
        UserError: the shipped weights are not installed.
    """
    if model is not None:
        return Path(model)
    if not DEFAULT_MODEL.is_file():
        raise UserError(
            f"{DEFAULT_MODEL}: the shipped weights are not installed; pass {argument('model')} "
            "FILE (a model file written by `mrsisr train`)"
        )
    return DEFAULT_MODEL


def model_limits(model: Path | None) -> ModelLimits:
    """Read a model file's header (no weights): grid, trained sizes and λ range.

    Args:
        model: the model file, or None for the shipped weights.

    Raises:
        UserError: a missing or invalid model file.
    """
    from mrsisr.checkpoint import read_info
    from mrsisr.inference import model_grid

    model = resolve_model(model)
    info = read_info(model)
    try:
        grid = model_grid(info.config)
    except ValueError as err:
        raise UserError(f"{model}: {err}") from None
    choices = info.metadata.get("n_choices")
    trained = tuple(int(v) for v in choices) if isinstance(choices, list) else ()
    lam = info.metadata.get("lam_range")
    lam_range = (float(lam[0]), float(lam[1])) if isinstance(lam, list) else None
    ranges = info.trained
    if ranges is None and trained:
        ranges = TrainedRange.from_n_choices(trained, grid)
    return ModelLimits(Path(model), grid, trained, lam_range, ranges)


def check_sharpness(jobs: Sequence[Job], limits: ModelLimits, force: bool) -> None:
    """Refuse a λ outside the range the model was trained on, unless ``force``
    (then a warning).

    The network has never seen such a λ: its output is an extrapolation of the sharpness
    conditioning (λ = 1e9 gave values of ±2e10 with the shipped model).

    Raises:
        UserError: naming ``sharpness``, the value and the trained range.
    """
    if limits.lam_range is None:
        return
    low, high = limits.lam_range
    outside = sorted({lam for job in jobs for lam in job.sharpness if not low <= lam <= high})
    if not outside:
        return
    values = ", ".join(f"{v:g}" for v in outside)
    if not force:
        raise UserError(
            f"{argument('sharpness')}: {values} is outside the range {low:g} to {high:g} the "
            f"model {limits.path.name} was trained on; give values in it (or "
            f"{argument('force_sharpness')} to extrapolate)"
        )
    log.warning(
        "%s %s is outside the range %g to %g the model was trained on (%s): the result is an "
        "extrapolation",
        argument("sharpness"),
        values,
        low,
        high,
        argument("force_sharpness"),
    )
