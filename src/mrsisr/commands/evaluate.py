"""``mrsisr evaluate``: score models and classical baselines on held-out patients of a cohort.

Examples::

    mrsisr evaluate --model runs/full-f0/best.safetensors --data cohort/ --fold 0 --out eval/
    mrsisr evaluate --model a.safetensors b.safetensors --data cohort/ --patients P03 P07 \\
        --n 16 24 32 --lam 0 0.03 0.06 --baselines zero_fill bicubic guided --out eval/

Writes ``samples.csv`` (one line per patient, slice, metabolite, n, λ and method),
``summary.md`` (mean ± std, per-n means, paired Wilcoxon p-values over patients),
``evaluation.json`` (what was run, how each metric is defined, machine, wall time),
``record.json`` (commit, clean tree, model SHA-256, command, data, seeds) and per-n plots.
``--truth noiseless`` also scores every output against the cohort's noiseless maps (the
simulators write them), beside the measured ones.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mrsisr.commands import _self_consistency
from mrsisr.commands._arguments import add_device_argument
from mrsisr.errors import UserError
from mrsisr.provenance import write_result_record

HELP = "score models and baselines on held-out patients (PSNR, SSIM, MS-SSIM, NRMSE, LPIPS)"
FLAGS = {
    "data": "--data",
    "model_files": "--model",
    "model": "--model",
    "device": "--device",
    "patients": "--patients",
    "fold": "--fold",
    "folds": "--folds",
    "n_values": "--n",
    "lams": "--lam",
    "baselines": "--baselines",
    "images": "--images",
    "metabolites": "--metabolites",
    "reference": "--reference",
    "truth": "--truth",
    "lpips": "--no-lpips",
}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""

IMAGE_CHOICES: dict[str, tuple[bool, bool]] = {
    "both": (True, True),
    "t1": (True, False),
    "flair": (False, True),
    "none": (False, False),
}
"""``--images`` values: which of (T1, FLAIR) the models are given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr evaluate``."""
    parser.add_argument(
        "--model",
        nargs="+",
        action="extend",
        default=[],
        metavar="PATH",
        help="model file(s); single-scale networks (one per n) are grouped into one method",
    )
    parser.add_argument("--data", required=True, metavar="DIR", help="cohort folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--fold", type=int, metavar="K", help="evaluate the test patients of fold K")
    which.add_argument("--patients", nargs="+", metavar="ID", help="evaluate these patients")
    which.add_argument(
        "--all-patients",
        action="store_true",
        help="evaluate every patient of the cohort (a test cohort, e.g. the shifted test set "
        "of `mrsisr phantom --simulator shifted`)",
    )
    parser.add_argument("--folds", type=int, default=5, help="folds of the split (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument(
        "--n",
        nargs="+",
        type=int,
        metavar="N",
        help="acquisition sizes (default: the models' training n, else 16 18 ... 32)",
    )
    parser.add_argument(
        "--lam",
        nargs="+",
        type=float,
        default=[0.0],
        metavar="L",
        help="sharpness weights for models conditioned on λ (default 0)",
    )
    parser.add_argument(
        "--baselines",
        nargs="*",
        default=["zero_fill", "bicubic", "guided"],
        metavar="NAME",
        help="classical methods: zero_fill, bicubic, guided (default: all; none: no value)",
    )
    parser.add_argument(
        "--images",
        nargs="+",
        default=["both"],
        choices=list(IMAGE_CHOICES),
        metavar="SET",
        help="anatomical images given to the models: both, t1, flair, none (several: one "
        "entry each, e.g. full[t1]; all but both need a model trained with presence flags)",
    )
    parser.add_argument("--metabolites", nargs="+", metavar="MET", help="default: all")
    parser.add_argument(
        "--reference",
        metavar="ENTRY",
        help="entry the Wilcoxon tests compare against, e.g. zero_fill or full@0 "
        "(default: the first model, else the first baseline)",
    )
    parser.add_argument(
        "--truth",
        choices=["measured", "noiseless"],
        default="measured",
        help="measured: score against the measured maps (default); noiseless: also against "
        "the cohort's noiseless maps, the true concentrations (simulated cohorts)",
    )
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    parser.add_argument(
        "--self-consistency",
        action="store_true",
        help="instead of scoring methods: the self-check protocol of predict on every map cut "
        "to each --n (what it estimates from the map alone, n' -> n, and the actual gains, "
        "n -> N, raw and calibrated; docs/self-check.md); one --model or the shipped one",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="maps per batch (default 32)")
    add_device_argument(parser)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")


def run(args: argparse.Namespace) -> int:
    """Check everything, evaluate, then write the results."""
    from mrsisr.evaluation.evaluate import NoiselessTruth, evaluate
    from mrsisr.evaluation.plan import plan_evaluation
    from mrsisr.evaluation.report import machine_info, write_report  # numpy
    from mrsisr.machine import source_state

    if args.self_consistency:
        if len(args.images) != 1:
            raise UserError("--self-consistency: give one --images set")
        return _self_consistency.run(args, IMAGE_CHOICES[args.images[0]])
    start = time.perf_counter()
    code = source_state()  # at the start: the tree may change while a long evaluation runs
    out = Path(args.out)
    if (out / "samples.csv").exists():
        raise UserError(f"--out {out}: already holds an evaluation; choose a new folder")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be >= 1")
    plan = plan_evaluation(
        args.data,
        args.model,
        patients=args.patients,
        fold=args.fold,
        folds=args.folds,
        seed=args.seed,
        n_values=args.n,
        lams=args.lam,
        baselines=args.baselines,
        metabolites=args.metabolites,
        reference=args.reference,
        lpips=not args.no_lpips,
        device=args.device,
        images={name: IMAGE_CHOICES[name] for name in args.images},
    )
    truth = None
    if args.truth == "noiseless":
        truth = NoiselessTruth(args.data)
        mets = [m.value for m in plan.dataset.metabolites]
        missing = truth.missing(plan.patients, mets)
        if missing:
            raise UserError(
                f"--truth noiseless: {missing[0]} is missing ({len(missing)} noiseless maps in "
                "all); only simulated cohorts have them"
            )
    rows = evaluate(
        plan.dataset, plan.methods, plan.lams, plan.settings, args.batch_size, truth=truth
    )
    record = {
        "command": ["mrsisr", *sys.argv[1:]],
        **plan.record(),
        "machine": machine_info(),
        "code": code,
        "wall_seconds": time.perf_counter() - start,
    }
    record["truth"] = args.truth
    write_report(out, rows, plan.settings.describe(), record, plan.reference)
    write_result_record(
        out,
        "mrsisr evaluate: " + ", ".join(m.name for m in plan.methods),
        models=[i.path for i in plan.infos],
        data=args.data,
        patients=plan.patients,
        seeds={"split_seed": args.seed, "fold": args.fold, "folds": args.folds},
        code=code,
    )
    print(f"evaluated {len(rows)} maps in {record['wall_seconds']:.1f} s; results in {out}")
    print((out / "summary.md").read_text(encoding="utf-8").split("## PSNR by")[0].rstrip())
    return 0
