"""``mrsisr reproduce``: Table 1 or Figs. 2-4 of Dong et al. (MICCAI 2022), with one command each.

Examples::

    mrsisr reproduce table1 --data cohort/ --out results/table1          # 5 folds, 100 epochs
    mrsisr reproduce table1 --data cohort/ --out results/table1 --max-folds 1 --epochs 5
    mrsisr reproduce fig2 --data cohort/ --out results/fig2 --runs results/table1/runs
    mrsisr reproduce fig4 --data cohort/ --out results/fig4 --model full.safetensors
    mrsisr reproduce ncond --data cohort/ --out results/ncond --epochs 8 --max-steps 100
    mrsisr reproduce tests --out results/ncond    # the tests again, from the folder's outputs

Training runs are cached by configuration in ``--runs`` (default ``OUT/runs``) and reused;
an interrupted run is resumed. Every experiment writes ``protocol.json`` (command, options,
machine, wall time, runs and their configurations) next to its tables and figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.commands._arguments import add_overrides_argument
from mrsisr.errors import UserError

HELP = "reproduce the paper's Table 1 or Figs. 2-4 (trains, caches and evaluates the runs)"
FLAGS = {
    "models": "--model",
    "model_files": "--model",
    "data": "--data",
    "lpips": "--no-lpips",
    "source": "--config",
    "overrides": "--set",
    "show_config": "--show-config",  # the hint names `mrsisr train --show-config`
}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""

EXPERIMENTS = ("table1", "fig2", "fig3", "fig4", "ncond", "tests")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr reproduce``."""
    parser.add_argument(
        "experiment",
        choices=EXPERIMENTS,
        help="what to reproduce; tests: recompute the statistical tests of the result folder "
        "--out from its own outputs (per seed or per patient, Holm-adjusted; no --data)",
    )
    parser.add_argument("--data", metavar="DIR", help="cohort folder (all but tests)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the results")
    parser.add_argument(
        "--runs", metavar="DIR", help="folder of cached training runs (default OUT/runs)"
    )
    parser.add_argument(
        "--config",
        metavar="TOML",
        help="base training configuration (default: paper_noadv for table1/fig2, paper for "
        "fig3/fig4)",
    )
    add_overrides_argument(parser)
    parser.add_argument("--folds", type=int, default=5, help="folds of the split (default 5)")
    parser.add_argument(
        "--max-folds", type=int, metavar="K", help="run only the first K folds (default all)"
    )
    parser.add_argument("--epochs", type=int, metavar="E", help="epochs per run (default 100)")
    parser.add_argument(
        "--max-steps", type=int, metavar="S", help="optimisation steps per epoch (default all)"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="table1: the rows to run (default the six and full); ncond: the variant "
        "(default full)",
    )
    parser.add_argument(
        "--designs",
        nargs="+",
        metavar="NAME",
        help="ncond: the n-conditioning designs to run (default all)",
    )
    parser.add_argument(
        "--seeds",
        nargs="+",
        type=int,
        default=[0, 1, 2],
        metavar="S",
        help="table1/ncond: training seeds, one network per row (or design) and seed "
        "(default 0 1 2)",
    )
    parser.add_argument(
        "--model",
        nargs="+",
        default=[],
        metavar="PATH",
        help="fig2/fig3/fig4: model file(s) to use instead of training (each is evaluated "
        "on the test patients it records)",
    )
    parser.add_argument(
        "--n",
        dest="sizes",
        nargs="+",
        type=int,
        metavar="N",
        help="fig2: input sizes and n conditions (default the trained ones)",
    )
    parser.add_argument("--lam", nargs="+", type=float, metavar="L", help="fig3/fig4: λ values")
    parser.add_argument("--no-lpips", action="store_true", help="skip LPIPS")


def _check(args: argparse.Namespace) -> None:
    if args.data is None:
        raise UserError(f"--data: required for {args.experiment}")
    from mrsisr.data.check import check_cohort
    from mrsisr.experiments.reproduce import TABLE1_EXTRA, TABLE1_VARIANTS  # numpy

    problems = check_cohort(args.data)
    if problems:
        raise UserError(f"--data {args.data}: invalid cohort: {problems[0]}")
    for name, value, low in (
        ("--folds", args.folds, 3),
        ("--max-folds", args.max_folds, 1),
        ("--epochs", args.epochs, 1),
        ("--max-steps", args.max_steps, 1),
    ):
        if value is not None and value < low:
            raise UserError(f"{name} {value}: must be >= {low}")

    from mrsisr.experiments.ncond import DESIGNS  # torch

    valid = (*TABLE1_VARIANTS, *TABLE1_EXTRA)
    unknown = [v for v in args.variants or [] if v not in valid]
    if unknown:
        raise UserError(f"--variants {' '.join(unknown)}: not Table 1 rows; use {', '.join(valid)}")
    bad = [d for d in args.designs or [] if d not in DESIGNS]
    if bad:
        raise UserError(f"--designs {' '.join(bad)}: unknown; use {', '.join(DESIGNS)}")
    if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
        raise UserError(f"--seeds {args.seeds}: distinct integers >= 0")
    if args.model and args.experiment not in ("fig2", "fig3", "fig4"):
        raise UserError("--model: only fig2, fig3 and fig4 take model files")
    if args.sizes is not None and (args.experiment != "fig2" or min(args.sizes) < 2):
        raise UserError(f"--n {args.sizes}: fig2 only, sizes >= 2")
    if args.lam is not None and any(v < 0 for v in args.lam):
        raise UserError(f"--lam {args.lam}: sharpness weights must be >= 0")


def run(args: argparse.Namespace) -> int:
    """Check the options and the configuration, then run the experiment."""
    if args.experiment == "tests":
        from mrsisr.experiments.retest import retest  # numpy, scipy

        for path in retest(args.out):
            print(path)
        return 0
    from mrsisr.experiments import ncond, reproduce, sharpness  # torch

    _check(args)
    out = Path(args.out)
    protocol = reproduce.Protocol(
        data=Path(args.data),
        out=out,
        runs=Path(args.runs) if args.runs else out / "runs",
        config=args.config,
        overrides=tuple(args.overrides),
        epochs=args.epochs,
        max_steps=args.max_steps,
        folds=args.folds,
        max_folds=args.max_folds,
        variants=tuple(args.variants) if args.variants else None,
        seeds=tuple(args.seeds),
        lpips=not args.no_lpips,
    )
    default = "paper" if args.experiment in ("fig3", "fig4") else "paper_noadv"
    config = protocol.train_config(default)  # a bad --config or --set fails before any output
    if config.threads > 0:  # evaluation too runs (and is recorded) with the threads asked for
        import torch

        torch.set_num_threads(config.threads)
    if args.experiment == "table1":
        path = reproduce.reproduce_table1(protocol)
    elif args.experiment == "fig2":
        path = reproduce.reproduce_fig2(protocol, [Path(m) for m in args.model], args.sizes)
    elif args.experiment == "ncond":
        path = ncond.reproduce_ncond(protocol, args.designs)
    else:
        models = [Path(m) for m in args.model]
        figure = sharpness.reproduce_fig3 if args.experiment == "fig3" else sharpness.reproduce_fig4
        lams = {} if args.lam is None else {"lams": args.lam}
        path = figure(protocol, models, **lams)
    print(f"{args.experiment}: {path}")
    if path.suffix == ".md":
        print(path.read_text(encoding="utf-8"))
    return 0
