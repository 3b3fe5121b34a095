"""``mrsisr predict``: super-resolve low-resolution metabolite maps to a finer grid.

Four forms, one code path (:mod:`mrsisr.predict`, also used by ``mrsisr demo``):

* one map: ``--met lr_Gln.nii.gz --metabolite Gln --t1 T1 --flair FLAIR --out sr_Gln.nii.gz``;
* several maps of one patient: ``--met a.nii.gz b.nii.gz --metabolite Gln Glu ... --out DIR``
  writes ``DIR/sr_Gln.nii.gz``, ``DIR/sr_Glu.nii.gz`` and ``DIR/mask.nii.gz``;
* a cohort: ``--manifest batch.csv --out DIR`` (columns ``patient, metabolite, met, t1,
  flair`` and optionally ``mask``; relative paths are relative to the CSV's folder) writes
  ``DIR/<patient>/sr_<Met>.nii.gz`` and ``DIR/<patient>/mask.nii.gz``;
* a pipeline's output folder: ``--from fsl-mrs|vienna|mrsiprep DIR --out OUT`` reads every
  map it can use with its SD map and the pipeline's QC (:mod:`mrsisr.pipelines`).

Every map gets a provenance sidecar ``<name>.json``; ``--bids-out DIR`` writes BIDS-derivative
names instead of ``--out``.

Several ``--sharpness`` values give one file per value, ``..._lam<λ>.nii.gz``, or one 4-D file
with ``--stack``. Every input is read once and checked before anything is computed, and
outputs are written to temporary files that are renamed only when every job has succeeded.
See docs/predict.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mrsisr.commands._arguments import MODEL_FLAGS, add_model_arguments, add_precision_argument
from mrsisr.errors import UserError
from mrsisr.pipelines import READERS, QualityThresholds
from mrsisr.pipelines.fslmrs import FSL_MRS_SCALINGS

if TYPE_CHECKING:
    from mrsisr.inference import GridChoice
    from mrsisr.predict.plan import PipelineInput

HELP = "super-resolve low-resolution metabolite maps (NIfTI) to a finer grid"

INPUT_FLAGS = {
    "met": "--met",
    "metabolite": "--metabolite",
    "metabolites": "--metabolite",
    "force_metabolite": "--force-metabolite",
    "t1": "--t1",
    "flair": "--flair",
    "mask": "--mask",
    "manifest": "--manifest",
    "source": "--from",
    "pipeline": "--from",
    "scaling": "--scaling",
    "variant": "--map-variant",
    "snr_min": "--qc-snr-min",
    "fwhm_max_ppm": "--qc-fwhm-max",
    "crlb_max": "--qc-crlb-max",
    "acquired_n": "--acquired-n",
    "grid": "--grid",
    "voxel_size": "--voxel-size",
    "register": "--register",
}
"""The flags of :func:`add_input_arguments` (``predict`` and ``adapt``), by the argument the
library's messages name (:func:`mrsisr.errors.argument`)."""

FLAGS = {
    **INPUT_FLAGS,
    **MODEL_FLAGS,
    "precision": "--precision",
    "batch_size": "--batch-size",
    "sharpness": "--sharpness",
    "force_sharpness": "--force-sharpness",
    "uncertainty": "--uncertainty",
    "sd": "--sd",
    "sd_percent": "--sd-percent",
    "draws": "--draws",
    "seed": "--seed",
    "overwrite": "--overwrite",
    "out": "--out",
    "bids": "--bids-out",
    "bids.subject": "--bids-subject",
    "bids.session": "--bids-session",
}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a scan: maps and images, a manifest, or a pipeline's folder, and
    how they were acquired (shared by ``predict`` and ``adapt``)."""
    inputs = parser.add_argument_group("inputs (one patient)")
    inputs.add_argument(
        "--met",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="low-resolution map(s), 3-D NIfTI (n_y, n_x, slices) at the acquisition grid",
    )
    inputs.add_argument(
        "--metabolite",
        nargs="+",
        metavar="NAME",
        help="metabolite of each --met file: tCho tCr NAA Gly Gln Glu Ins, or spellings "
        "such as GPC+PCh, CrPCr, NAANAAG, mI; default: read from the file names",
    )
    inputs.add_argument(
        "--t1",
        type=Path,
        metavar="FILE",
        help="T1-weighted image, any grid (--t1 alone, --flair alone or neither: only with a "
        "model trained with presence flags)",
    )
    inputs.add_argument("--flair", type=Path, metavar="FILE", help="FLAIR image, any grid")
    inputs.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="brain/quality mask, any grid (default: derived from the images given, or from "
        "the maps themselves without an image)",
    )
    inputs.add_argument(
        "--force-metabolite",
        action="store_true",
        help="accept a --metabolite that contradicts the metabolite the file name names",
    )
    pipeline = parser.add_argument_group("a pipeline's output folder (docs/predict.md)")
    pipeline.add_argument(
        "--from",
        dest="from_",
        nargs=2,
        metavar=("PIPELINE", "DIR"),
        help=f"read every map of a pipeline's output folder; PIPELINE: {', '.join(READERS)}",
    )
    pipeline.add_argument(
        "--map-variant",
        metavar="NAME",
        help="MRSIPrep: read the desc-signal_NAME maps (e.g. filtbiharmonic, spatially "
        "filtered) instead of the measured desc-signal ones; a filtered map is no k-space "
        "truncation of the measurement",
    )
    pipeline.add_argument(
        "--scaling",
        choices=(*FSL_MRS_SCALINGS, "internal"),
        help="FSL-MRS: the concs/ sub-folder to read (default: molarity, else molality, else raw)",
    )
    defaults = QualityThresholds()
    pipeline.add_argument(
        "--qc-snr-min",
        type=float,
        default=defaults.snr_min,
        metavar="SNR",
        help="quality mask: keep voxels with the pipeline's SNR >= this "
        f"(default {defaults.snr_min:g})",
    )
    pipeline.add_argument(
        "--qc-fwhm-max",
        type=float,
        default=defaults.fwhm_max_ppm,
        metavar="PPM",
        help="quality mask: keep voxels with the pipeline's FWHM <= this, in ppm "
        f"(default {defaults.fwhm_max_ppm:g})",
    )
    pipeline.add_argument(
        "--qc-crlb-max",
        type=float,
        default=defaults.crlb_max,
        metavar="PCT",
        help="quality mask: also keep only voxels with the map's CRLB <= PCT percent",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="CSV",
        help="cohort form: CSV with columns patient, metabolite, met, t1, flair[, mask, sd] (an "
        "empty t1 or flair cell: no such image)",
    )
    checks = parser.add_argument_group("acquisition and registration (docs/predict.md)")
    checks.add_argument(
        "--acquired-n",
        type=int,
        nargs="+",
        metavar="N",
        help="the size (n, or n_y n_x) the maps were acquired at, when the pipeline "
        "zero-filled them: their k-space is cut back to it, exactly",
    )
    grids = checks.add_mutually_exclusive_group()
    grids.add_argument(
        "--grid",
        type=int,
        nargs=2,
        metavar=("NY", "NX"),
        help="the output's in-plane grid, over the map's field of view (default: isotropic "
        "voxels, at least 64 on the short axis and twice the map per axis)",
    )
    grids.add_argument(
        "--voxel-size",
        type=float,
        metavar="MM",
        help="the output's in-plane voxel size in mm, over the map's field of view",
    )
    checks.add_argument(
        "--register",
        action="store_true",
        help="move T1 and FLAIR by the misregistration estimated against the maps "
        "(a given mask stays as it is, in the maps' space)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` options to ``parser``."""
    add_input_arguments(parser)
    parser.add_argument(
        "--sharpness",
        nargs="+",
        type=float,
        metavar="LAMBDA",
        help="sharpness weight(s) λ >= 0 within the range the model was trained on (the "
        "shipped model: 0 to 0.1); the paper recommends 0 to 0.03 (default: 0)",
    )
    parser.add_argument(
        "--force-sharpness",
        action="store_true",
        help="accept --sharpness values outside the model's trained range (an extrapolation)",
    )
    parser.add_argument(
        "--stack", action="store_true", help="several λ: write one 4-D file instead of one each"
    )
    add_model_arguments(parser)
    add_precision_argument(parser)
    uq = parser.add_argument_group("uncertainty (docs/uncertainty.md)")
    uq.add_argument(
        "--uncertainty",
        choices=("tta", "fit"),
        help="also write <name>_sd.nii.gz beside each output, in the map's units: tta = spread "
        "over the 8 in-plane flips/quarter turns (what the network adds that the data do not "
        "fix); fit = the fit's SD propagated by Monte Carlo draws",
    )
    uq.add_argument(
        "--sd",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="with --uncertainty fit: the SD map of each --met file's fit, same grid and units "
        "(a manifest: an 'sd' column; --from: the pipeline's own SD maps, in percent)",
    )
    uq.add_argument(
        "--sd-percent",
        action="store_true",
        help="the --sd maps (or the manifest's) hold percent of the concentration (a CRLB or "
        "%%SD map), not the map's units",
    )
    uq.add_argument(
        "--draws", type=int, default=16, help="Monte Carlo draws of 'fit' (16; 2 or more)"
    )
    uq.add_argument("--seed", type=int, default=0, help="seed of the draws (0)")
    parser.add_argument(
        "--calibration",
        choices=("self-check", "none"),
        default="self-check",
        help="self-check (default): weigh the network's detail by what it is worth on this "
        "scan, measured one scale down on each map (0: zero-filling); none: the raw network "
        "(docs/self-check.md)",
    )
    parser.add_argument(
        "--adapt",
        action="store_true",
        help="first fine-tune the model on each patient's own maps (self-supervised, every "
        "fourth slice held out) and use it where the held-out self-check improved "
        "(docs/adapt.md)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="slices per forward pass")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    outputs = parser.add_argument_group("outputs (each map with a provenance sidecar .json)")
    outputs.add_argument(
        "--out",
        help="output .nii.gz (one map) or directory (several maps, --manifest or --from)",
    )
    outputs.add_argument(
        "--bids-out",
        metavar="DIR",
        help="instead of --out: a BIDS derivative folder (BIDS names, dataset_description.json)",
    )
    outputs.add_argument(
        "--bids-subject", metavar="LABEL", help="--bids-out: subject of maps that carry none"
    )
    outputs.add_argument(
        "--bids-session", metavar="LABEL", help="--bids-out: session of maps that carry none"
    )
    outputs.add_argument(
        "--report",
        action="store_true",
        help="also write a self-contained HTML report per output folder (report.html; "
        "<name>_report.html for one map), as `mrsisr report` does",
    )


def pipeline_input(args: argparse.Namespace) -> PipelineInput | None:
    """``--from`` and its options as a :class:`~mrsisr.predict.plan.PipelineInput`, or None.

    Raises:
        UserError: a pipeline option without ``--from``.
    """
    from mrsisr.predict.plan import PipelineInput

    if args.from_:
        thresholds = QualityThresholds(args.qc_snr_min, args.qc_fwhm_max, args.qc_crlb_max)
        folder = Path(args.from_[1])
        return PipelineInput(args.from_[0], folder, args.scaling, thresholds, args.map_variant)
    if args.scaling:
        raise UserError("--scaling: only with --from fsl-mrs")
    if args.map_variant:
        raise UserError("--map-variant: only with --from mrsiprep")
    return None


def scan_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`mrsisr.predict.plan_jobs` that
    :func:`add_input_arguments` gave (the maps, images, manifest or pipeline folder)."""
    return {
        "met": args.met,
        "metabolites": args.metabolite,
        "t1": args.t1,
        "flair": args.flair,
        "mask": args.mask,
        "manifest": args.manifest,
        "source": pipeline_input(args),
        "force_metabolite": args.force_metabolite,
    }


def _output_path(option: str, value: str | None) -> Path | None:
    """``--out``/``--bids-out`` as a path; an empty one is refused (it would be ``.``)."""
    if value is None:
        return None
    if not value.strip():
        raise UserError(f"{option}: empty; give a file name or a folder (. for this one)")
    return Path(value)


def grid_choice(args: argparse.Namespace) -> GridChoice:
    """The output grid options (``--grid``, ``--voxel-size``) as a :class:`GridChoice`.

    Raises:
        UserError: a size < 1 or a voxel size that is not a finite number > 0, naming the
            option.
    """
    from mrsisr.inference import GridChoice  # torch

    grid = getattr(args, "grid", None)
    voxel = getattr(args, "voxel_size", None)
    try:
        return GridChoice(
            grid=None if grid is None else (int(grid[0]), int(grid[1])), voxel_size=voxel
        )
    except ValueError as err:
        option = "--grid" if grid is not None else "--voxel-size"
        value = " ".join(map(str, grid)) if grid is not None else f"{voxel:g}"
        raise UserError(f"{option} {value}: {err}") from None


def run(args: argparse.Namespace) -> int:
    """Check every argument and input, then load the model, super-resolve, and print the
    files written. A refused input prints its one line and nothing else."""
    from mrsisr.adapt import AdaptSettings
    from mrsisr.predict import load_predictor, plan_jobs, report_paths, run_jobs  # torch
    from mrsisr.predict.checks import (
        check_draws,
        check_outputs,
        check_sharpness,
        check_threads,
        job_inputs,
        model_limits,
        read_inputs,
        refuse_inputs_as_outputs,
    )
    from mrsisr.predict.plan import BidsOutput
    from mrsisr.report import write_report
    from mrsisr.report.collect import read_predict_folder

    check_draws(args.draws, args.seed)
    check_threads(args.threads)
    out = _output_path("--out", args.out)
    bids_out = _output_path("--bids-out", args.bids_out)
    bids = None
    if bids_out is not None:
        bids = BidsOutput(bids_out, args.bids_subject, args.bids_session)
    elif args.bids_subject is not None or args.bids_session is not None:
        raise UserError("--bids-subject/--bids-session: only with --bids-out DIR")
    jobs = plan_jobs(
        **scan_inputs(args),
        out=out,
        sharpness=args.sharpness,
        stack=args.stack,
        bids=bids,
        uncertainty=args.uncertainty,
        sd=args.sd,
        sd_percent=args.sd_percent,
    )
    limits = model_limits(args.model)
    check_sharpness(jobs, limits, args.force_sharpness)
    reports = report_paths(jobs) if args.report else {}
    refuse_inputs_as_outputs(list(reports.values()), job_inputs(jobs))
    for path in reports.values():
        if path.exists() and not args.overwrite:
            raise UserError(f"{path}: output exists; pass --overwrite to replace it")
    check_outputs(jobs, args.overwrite)
    grid = grid_choice(args)
    scans = read_inputs(  # before the model is loaded: a bad input costs nothing
        jobs,
        grid,
        acquired_n=args.acquired_n,
        trained_n=limits.trained_n,
        trained=limits.trained,
    )
    predictor = load_predictor(
        limits.path, args.device, args.batch_size, args.threads, args.precision
    )
    written = run_jobs(
        jobs,
        predictor,
        overwrite=args.overwrite,
        progress=len(jobs) > 1,
        command_line=getattr(args, "_command_line", ()),
        acquired_n=args.acquired_n,
        register=args.register,
        draws=args.draws,
        seed=args.seed,
        calibration=args.calibration,
        adapt=AdaptSettings() if args.adapt else None,
        scans=scans,
        grid=grid,
    )
    for path in written:
        print(path)
    for folder, path in reports.items():  # from the committed files, as `mrsisr report`
        t1 = next(job.t1 for job in jobs if job.out.parent == folder)
        print(write_report(read_predict_folder(folder, t1=t1), path, overwrite=True))
    return 0
