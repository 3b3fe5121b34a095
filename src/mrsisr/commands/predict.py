"""``mrsisr predict``: super-resolve low-resolution metabolite maps to the model's grid.

Three forms, one code path (:mod:`mrsisr.predict`, also used by ``mrsisr demo``):

* one map: ``--met lr_Gln.nii.gz --metabolite Gln --t1 T1 --flair FLAIR --out sr_Gln.nii.gz``;
* several maps of one patient: ``--met a.nii.gz b.nii.gz --metabolite Gln Glu ... --out DIR``
  writes ``DIR/sr_Gln.nii.gz``, ``DIR/sr_Glu.nii.gz`` and ``DIR/mask.nii.gz``;
* a cohort: ``--manifest batch.csv --out DIR`` (columns ``patient, metabolite, met, t1,
  flair`` and optionally ``mask``; relative paths are relative to the CSV's folder) writes
  ``DIR/<patient>/sr_<Met>.nii.gz`` and ``DIR/<patient>/mask.nii.gz``.

Several ``--sharpness`` values give one file per value, ``..._lam<λ>.nii.gz``, or one 4-D file
with ``--stack``. Every input is checked before anything is computed, and outputs are written
to temporary files that are renamed only when every job has succeeded. See docs/predict.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.commands._arguments import add_model_arguments

HELP = "super-resolve low-resolution metabolite maps (NIfTI) to the model's grid"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` options to ``parser``."""
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
        help="metabolite of each --met file (e.g. tCho tCr NAA Gly Gln Glu Ins); "
        "default: read from the file names",
    )
    inputs.add_argument("--t1", type=Path, metavar="FILE", help="T1-weighted image, any grid")
    inputs.add_argument("--flair", type=Path, metavar="FILE", help="FLAIR image, any grid")
    inputs.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="brain/quality mask, any grid (default: derived from T1 and FLAIR)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        metavar="CSV",
        help="cohort form: CSV with columns patient, metabolite, met, t1, flair[, mask]",
    )
    parser.add_argument(
        "--sharpness",
        nargs="+",
        type=float,
        metavar="LAMBDA",
        help="sharpness weight(s) λ >= 0; the paper recommends 0 to 0.03 (default: 0)",
    )
    parser.add_argument(
        "--stack", action="store_true", help="several λ: write one 4-D file instead of one each"
    )
    add_model_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=64, help="slices per forward pass")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output .nii.gz (one map) or directory (several maps, or --manifest)",
    )


def run(args: argparse.Namespace) -> int:
    """Check every input, super-resolve, and print the files written."""
    from mrsisr.predict import load_predictor, plan_jobs, run_jobs  # torch: loaded when run

    jobs = plan_jobs(
        met=args.met,
        metabolites=args.metabolite,
        t1=args.t1,
        flair=args.flair,
        mask=args.mask,
        manifest=args.manifest,
        out=args.out,
        sharpness=args.sharpness,
        stack=args.stack,
    )
    predictor = load_predictor(args.model, args.device, args.batch_size, args.threads)
    written = run_jobs(jobs, predictor, overwrite=args.overwrite, progress=len(jobs) > 1)
    for path in written:
        print(path)
    return 0
