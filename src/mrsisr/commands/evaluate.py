"""``mrsisr evaluate``: score models and classical baselines on held-out patients of a cohort.

Examples::

    mrsisr evaluate --model runs/full-f0/best.safetensors --data cohort/ --fold 0 --out eval/
    mrsisr evaluate --model a.safetensors b.safetensors --data cohort/ --patients P03 P07 \\
        --n 16 24 32 --lam 0 0.03 0.06 --baselines zero_fill bicubic guided --out eval/

Writes ``samples.csv`` (one line per patient, slice, metabolite, n, λ and method),
``summary.md`` (mean ± std, per-n means, paired Wilcoxon p-values), ``evaluation.json``
(what was run, how each metric is defined, machine, wall time) and per-n plots.
"""

from __future__ import annotations

import argparse
import sys
import time

HELP = "score models and baselines on held-out patients (PSNR, SSIM, MS-SSIM, NRMSE, LPIPS)"


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
    parser.add_argument("--metabolites", nargs="+", metavar="MET", help="default: all")
    parser.add_argument(
        "--reference",
        metavar="ENTRY",
        help="entry the Wilcoxon tests compare against, e.g. zero_fill or full@0 "
        "(default: the first model, else the first baseline)",
    )
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS")
    parser.add_argument("--batch-size", type=int, default=32, help="maps per batch (default 32)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")


def _patients(args: argparse.Namespace, cohort: object) -> list[str]:
    from mrsisr.data.splits import kfold_splits
    from mrsisr.errors import UserError

    ids = list(cohort.patients)  # type: ignore[attr-defined]
    if args.all_patients:
        return ids
    if args.patients:
        unknown = [p for p in args.patients if p not in ids]
        if unknown:
            raise UserError(
                f"--patients: unknown {', '.join(unknown)}; the cohort has {', '.join(ids)}"
            )
        return list(args.patients)
    if not 0 <= args.fold < args.folds:
        raise UserError(
            f"--fold {args.fold}: must be in 0..{args.folds - 1} (--folds {args.folds})"
        )
    try:
        return list(kfold_splits(ids, args.folds, args.seed)[args.fold].test)
    except ValueError as err:
        raise UserError(f"--folds {args.folds}: cannot split the cohort ({err})") from None


def run(args: argparse.Namespace) -> int:
    """Check everything, evaluate, then write the results."""
    from pathlib import Path

    from mrsisr.data.check import check_cohort
    from mrsisr.data.cohort import Cohort
    from mrsisr.data.dataset import DEFAULT_N_CHOICES
    from mrsisr.errors import UserError
    from mrsisr.evaluation.baselines import Baseline
    from mrsisr.evaluation.evaluate import MetricSettings, evaluate, evaluation_dataset
    from mrsisr.evaluation.methods import BaselineMethod, check_held_out, load_model_methods
    from mrsisr.evaluation.report import machine_info, write_report
    from mrsisr.inference import model_grid, resolve_device

    start = time.perf_counter()
    out = Path(args.out)
    if (out / "samples.csv").exists():
        raise UserError(f"--out {out}: already holds an evaluation; choose a new folder")
    problems = check_cohort(Path(args.data))
    if problems:
        raise UserError(f"--data {args.data}: invalid cohort: {problems[0]}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be >= 1")
    if any(v < 0 for v in args.lam):
        raise UserError(f"--lam {args.lam}: sharpness weights must be >= 0")
    try:
        baselines = [Baseline.parse(b) for b in args.baselines]
        device = str(resolve_device(args.device))
    except ValueError as err:
        raise UserError(f"--baselines/--device: {err}") from None
    cohort = Cohort.open(args.data)
    patients = _patients(args, cohort)
    methods = load_model_methods(args.model, device=device)
    if not methods and not baselines:
        raise UserError("--model/--baselines: nothing to evaluate; give a model or a baseline")
    check_held_out(methods, patients)
    infos = [info for m in methods for info in m.infos]
    trained_n = {tuple(info.metadata.get("n_choices") or ()) for info in infos}
    single_n = [k for m in methods for k in m.models if k is not None]
    default_n = next(iter(trained_n)) if len(trained_n) == 1 and not single_n else ()
    n_values = list(args.n or default_n or sorted(single_n) or DEFAULT_N_CHOICES)
    try:
        dataset = evaluation_dataset(cohort, patients, n_values, args.metabolites)
    except ValueError as err:
        raise UserError(f"--data/--n/--metabolites: {err}") from None
    for info in infos:
        if tuple(model_grid(info.config)) != tuple(dataset.grid):
            raise UserError(
                f"--model {info.path}: its grid {model_grid(info.config)} is not the cohort's "
                f"{dataset.grid}"
            )
    for method in methods:
        for n in n_values:
            try:
                method.model_for(n)
            except ValueError as err:
                raise UserError(f"--n: {err}") from None
    settings = MetricSettings.for_grid(dataset.grid, lpips=not args.no_lpips)
    all_methods = [*methods, *(BaselineMethod(b) for b in baselines)]
    names = [
        m.name + suffix
        for m in all_methods
        for suffix in ([f"@{lam:g}" for lam in args.lam] if m.lam_conditioned else [""])
    ]
    reference = args.reference or names[0]
    if reference not in names:
        raise UserError(f"--reference {reference}: not an entry; entries: {', '.join(names)}")
    rows = evaluate(dataset, all_methods, args.lam, settings, args.batch_size)
    record = {
        "command": ["mrsisr", *sys.argv[1:]],
        "data": str(Path(args.data).resolve()),
        "patients": patients,
        "fold": args.fold,
        "folds": args.folds if args.fold is not None else None,
        "split_seed": args.seed,
        "n": n_values,
        "lam": args.lam,
        "models": [
            {"path": str(i.path), "variant": i.variant, "fold": i.metadata.get("fold")}
            for i in infos
        ],
        "baselines": [b.value for b in baselines],
        "reference": reference,
        "machine": machine_info(),
        "wall_seconds": time.perf_counter() - start,
    }
    write_report(out, rows, settings.describe(), record, reference)
    print(f"evaluated {len(rows)} maps in {record['wall_seconds']:.1f} s; results in {out}")
    print((out / "summary.md").read_text(encoding="utf-8").split("## PSNR by")[0].rstrip())
    return 0
