"""``mrsisr calibrate``: measure the SD maps' calibration and bf16 against float32.

Example::

    mrsisr calibrate --data cohort/ --fold 0 --n 16 24 32 --out results/uncertainty

Writes ``calibration.json`` (every number, the machine, the date and the git commit when run
from a git checkout) and ``calibration.md`` (the tables). See
:mod:`mrsisr.evaluation.calibration` for what is measured and docs/uncertainty.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.commands._arguments import MODEL_FLAGS, add_model_arguments
from mrsisr.errors import UserError
from mrsisr.provenance import write_result_record
from mrsisr.weights import DEFAULT_MODEL

HELP = "measure the calibration of the uncertainty maps and bf16 vs float32 on held-out patients"
FLAGS = MODEL_FLAGS
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr calibrate``."""
    add_model_arguments(parser)
    parser.add_argument("--data", required=True, type=Path, metavar="DIR", help="cohort folder")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--fold", type=int, metavar="K", help="the test patients of fold K")
    which.add_argument("--patients", nargs="+", metavar="ID", help="these patients")
    parser.add_argument("--folds", type=int, default=5, help="folds of the split (default 5)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--n", nargs="+", type=int, default=[16, 24, 32], help="acquisition sizes")
    parser.add_argument("--draws", type=int, default=16, help="Monte Carlo draws of 'fit'")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated fit noise")
    parser.add_argument("--no-precision", action="store_true", help="skip bf16 vs float32")
    parser.add_argument("--out", required=True, type=Path, help="output folder")


def run(args: argparse.Namespace) -> int:
    """Run the measurement and print where the tables are."""
    from mrsisr.data.cohort import Cohort
    from mrsisr.data.splits import fold_split  # numpy
    from mrsisr.evaluation.calibration import calibrate, source_commit, write_calibration
    from mrsisr.machine import source_state
    from mrsisr.predict import load_predictor

    commit = source_commit()  # of the code that runs, even if the tree changes meanwhile
    code = source_state()
    cohort = Cohort.open(args.data)
    if args.fold is not None:
        if not 0 <= args.fold < args.folds:
            raise UserError(f"--fold: must be in 0..{args.folds - 1}, got {args.fold}")
        patients = fold_split(cohort.patients, args.folds, args.split_seed, args.fold).test
    else:
        unknown = sorted(set(args.patients) - set(cohort.patients))
        if unknown:
            raise UserError(f"--patients: not in {args.data}: {', '.join(unknown)}")
        patients = tuple(args.patients)
    if args.draws < 2:
        raise UserError(f"--draws: must be >= 2, got {args.draws}")
    predictor = load_predictor(args.model, args.device, threads=args.threads)
    for n in args.n:
        if not 2 <= n <= min(predictor.grid):
            raise UserError(f"--n: {n} is outside 2..{min(predictor.grid)}")
    result = calibrate(
        predictor,
        cohort,
        patients,
        args.n,
        draws=args.draws,
        seed=args.seed,
        precision_check=not args.no_precision,
    )
    for path in write_calibration(
        result, args.out, model=args.model, data=args.data, commit=commit
    ):
        print(path)
    print(
        write_result_record(
            args.out,
            "mrsisr calibrate: uncertainty calibration and bf16 against float32",
            models=[args.model or DEFAULT_MODEL],
            data=args.data,
            patients=list(patients),
            seeds={"draws": args.seed, "split_seed": args.split_seed, "fold": args.fold},
            code=code,
        )
    )
    return 0
