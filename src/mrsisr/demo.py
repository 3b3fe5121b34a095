"""The steps of ``mrsisr demo`` (library): phantom, simulated acquisitions, prediction, figure."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mrsisr import kspace
from mrsisr.data.manifest import FLAIR_FILE, T1_FILE
from mrsisr.data.nifti import read_volume, save_volume
from mrsisr.errors import UserError, argument
from mrsisr.figures import FIG3_METABOLITES, plot_panel, sharpness_row
from mrsisr.inference import GridChoice, Predictor
from mrsisr.metabolites import Metabolite, parse_metabolite
from mrsisr.nn.unet import MIN_N
from mrsisr.predict import Job, load_predictor, parse_sharpness, run_jobs
from mrsisr.report import write_report
from mrsisr.report.collect import read_predict_folder
from mrsisr.sim.mrsi import TUMOUR_CORE_LABELS

if TYPE_CHECKING:
    from mrsisr.data.cohort import Patient

__all__ = ["DemoResult", "run_demo", "tumour_slice"]

log = logging.getLogger(__name__)

FIGURE_FILE = "fig3_sharpness.png"
REPORT_FILE = "report.html"
FIGURE_ANATOMY_UPSAMPLE = 3
DEMO_MARKER = ".mrsisr-demo"
INPUTS_DIR, OUTPUTS_DIR, PHANTOM_DIR = "input", "sr", "phantom"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its results."""

    phantom: Path
    """The in-silico patient's folder (cohort format, ground truth included)."""
    inputs: Path
    """Simulated low-resolution maps, ``n<n>/lr_<Met>.nii.gz``."""
    outputs: Path
    """Super-resolved maps, ``n<n>/sr_<Met>_lam<λ>.nii.gz``, and the masks used."""
    figure: Path
    """The Fig. 3-style panel."""
    report: Path
    """The HTML report of the smallest ``n`` (with TTA uncertainty maps)."""


def tumour_slice(
    maps: dict[Metabolite, np.ndarray], mask: np.ndarray, labels: np.ndarray | None = None
) -> int:
    """The slice through the tumour.

    Args:
        maps: ``(X, Y, Z)`` ground-truth maps.
        mask: ``(X, Y, Z)`` mask.
        labels: the phantom's ``(X, Y, Z)`` compartment labels, if known: the slice with the
            most tumour voxels (enhancing tumour or necrosis) is chosen. Otherwise the slice
            where tCho (raised in gliomas) peaks inside the mask.
    """
    if labels is not None:
        core = np.isin(labels, TUMOUR_CORE_LABELS).sum(axis=(0, 1))
        if core.max() > 0:
            return int(np.argmax(core))
    volume = maps.get(Metabolite.tCho, next(iter(maps.values())))
    peaks = np.where(mask != 0, volume, -np.inf).max(axis=(0, 1))
    return int(np.argmax(peaks))


def _prepare_out(out: Path) -> None:
    """Create ``out``, or clear a previous demo's results from it; never touch other folders."""
    if out.exists() and any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise UserError(
            f"{out}: exists, is not empty and is not a previous demo's output; choose another "
            f"{argument('out')}"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("written by mrsisr demo; it may replace this folder\n")
    for sub in (INPUTS_DIR, OUTPUTS_DIR):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / REPORT_FILE).unlink(missing_ok=True)


def _make_patient(root: Path, seed: int, grid: tuple[int, int], slices: int | None) -> Patient:
    """Simulate one phantom patient into ``root`` (replacing a previous demo's) and load it."""
    from mrsisr.data.cohort import Cohort
    from mrsisr.sim.cohort import make_phantom_cohort

    if grid[0] != grid[1]:
        raise UserError(
            f"{argument('model')}: the phantom needs a square grid, the model's is {grid}"
        )
    make_phantom_cohort(root, patients=1, seed=seed, grid=grid[0], slices=slices, overwrite=True)
    cohort = Cohort.open(root)
    # T1 and FLAIR at 3 times the in-plane resolution: only the figure uses them.
    return cohort.load(cohort.patients[0], anatomy_upsample=FIGURE_ANATOMY_UPSAMPLE)


def _simulate(
    patient: Patient, ns: Sequence[int], grid: tuple[int, int], folder: Path
) -> dict[tuple[int, Metabolite], Path]:
    """Write ``degrade(hr, n)`` of every map and ``n`` with its low-resolution affine."""
    files = {}
    for n in ns:
        affine = kspace.lowres_affine(patient.affine, grid, (n, n))
        for met, hr in patient.maps.items():
            lr = np.moveaxis(kspace.degrade(np.moveaxis(hr.astype(np.float64), 2, 0), n), 0, 2)
            files[n, met] = save_volume(folder / f"n{n}" / f"lr_{met.value}.nii.gz", lr, affine)
    return files


def _figure(
    patient: Patient,
    jobs: list[Job],
    ns: Sequence[int],
    sharpness: Sequence[float],
    grid: tuple[int, int],
    path: Path,
    phantom: Path,
) -> Path:
    from mrsisr.sim.cohort import LABELS_FILE

    labels_file = phantom / LABELS_FILE
    labels = read_volume(labels_file, "phantom labels").data if labels_file.is_file() else None
    z = tumour_slice(patient.maps, patient.mask, labels)
    by_key = {(job.met.parent.name, job.metabolite): job for job in jobs}
    rows = []
    wanted = [parse_metabolite(m) for m in FIG3_METABOLITES if m in patient.maps.keys()]
    wanted = wanted or list(patient.maps)[:3]
    ordered = sorted(set(ns), reverse=True)  # like the paper: finer n in the upper rows
    for row, met in enumerate(wanted):
        n = ordered[row % len(ordered)]
        job = by_key[f"n{n}", met]
        lr = read_volume(job.met, "a low-resolution map").data[:, :, z]
        outputs = [read_volume(p, "an output").data[:, :, z] for p in job.outputs]
        mask = patient.mask[:, :, z]  # the ground truth is defined inside the quality mask
        zero_filled = kspace.zero_fill(lr.astype(np.float64), grid)
        flair = patient.flair[:, :, z]
        rows.append(
            sharpness_row(
                f"{met.value}, n = {n}",
                zero_filled,
                outputs,
                patient.maps[met][:, :, z],
                flair,
                mask,
            )
        )
    titles = ["zero-filling", *(f"λ = {v:g}" for v in sharpness), "ground truth", "FLAIR"]
    title = (
        f"in-silico patient {patient.id}, slice {z}; network mask derived from T1 and FLAIR "
        "(as for a user); PSNR (dB) / SSIM inside the quality mask"
    )
    return plot_panel(rows, titles, path, title=title)


def run_demo(
    model: Path | None,
    out: Path,
    seed: int,
    ns: Sequence[int],
    sharpness: Sequence[float],
    slices: int | None = None,
    device: str = "auto",
    threads: int | None = None,
    predictor: Predictor | None = None,
) -> DemoResult:
    """Run the whole demo; see :mod:`mrsisr.commands.demo`.

    Raises:
        UserError: a bad model file, ``n`` outside ``2..N`` or a negative λ.
    """
    predictor = predictor or load_predictor(model, device, threads=threads)
    grid = predictor.grid
    ns = tuple(dict.fromkeys(int(n) for n in ns))
    for n in ns:
        if not MIN_N <= n < min(grid):
            raise UserError(
                f"{argument('ns')}: {n} is outside {MIN_N}..{min(grid) - 1} (below the model's "
                f"grid {min(grid)}: at the grid there is nothing to super-resolve)"
            )
    lams = parse_sharpness(sharpness)
    out = Path(out)
    _prepare_out(out)
    patient = _make_patient(out / PHANTOM_DIR, seed, grid, slices)
    folder = out / PHANTOM_DIR / patient.id
    inputs, outputs = out / INPUTS_DIR, out / OUTPUTS_DIR
    files = _simulate(patient, ns, grid, inputs)
    jobs = [
        Job(
            patient=patient.id,
            metabolite=met,
            met=path,
            t1=folder / T1_FILE,
            flair=folder / FLAIR_FILE,
            mask=None,  # derived from T1 and FLAIR, as for a user without a quality mask
            out=outputs / f"n{n}" / f"sr_{met.value}.nii.gz",
            mask_out=outputs / f"n{n}" / "mask.nii.gz",
            sharpness=lams,
            uncertainty="tta" if n == min(ns) else "",
        )
        for (n, met), path in files.items()
    ]
    log.info("super-resolving %d maps at n = %s, lambda = %s", len(jobs), list(ns), list(lams))
    # on the phantom's (the model's) grid, where the ground truth is: for n <= 32 on the
    # shipped model's 64 x 64 this is also the default grid
    run_jobs(jobs, predictor, overwrite=True, progress=True, grid=GridChoice(grid=grid))
    figure = _figure(patient, jobs, ns, lams, grid, out / FIGURE_FILE, folder)
    report = _report(patient, outputs / f"n{min(ns)}", folder / T1_FILE, out / REPORT_FILE)
    return DemoResult(phantom=folder, inputs=inputs, outputs=outputs, figure=figure, report=report)


def _report(patient: Patient, maps: Path, t1: Path, path: Path) -> Path:
    """The HTML report of one output folder of the demo (``mrsisr report``)."""
    rows = [("demo", f"in-silico patient {patient.id} (mrsisr demo), ground truth in the phantom")]
    data = read_predict_folder(maps, t1=t1, units="mM", provenance=rows)
    return write_report(data, path, overwrite=True)
