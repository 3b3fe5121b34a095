"""``mrsisr cohort check DIR``: validate a cohort folder and list every problem.
``mrsisr cohort merge A B --out DIR``: merge cohorts into a new one (docs/cohort-format.md)."""

from __future__ import annotations

import argparse
import time
from collections import Counter

from mrsisr.errors import UserError

HELP = "validate a cohort folder (NIfTI maps, masks, T1/FLAIR, cohort.json), or merge cohorts"
FLAGS = {
    "sources": "COHORT",
    "out": "--out",
    "overwrite": "--force",
    "folds": "--folds",
    "fold": "--fold",
    "split_seed": "--split-seed",
}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` and ``merge`` actions and their arguments."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="report every problem of a cohort, one line each (never modifies it)",
        description="Validate a cohort: exit 0 with a one-line summary if it is valid, "
        "else exit 2 with one line per problem, each naming its file. See docs/cohort-format.md.",
    )
    check.add_argument("dir", metavar="DIR", help="the cohort folder (holding cohort.json)")
    merge = actions.add_parser(
        "merge",
        help="merge cohorts into a new one, e.g. two simulators' cohorts to train on together",
        description="Merge cohorts that agree on metabolites, units, field strength, "
        "anatomy_upsample and in-plane field of view (their grids may differ), and share no "
        "patient id, into a new cohort: "
        "their patients in the order given, and a provenance naming each cohort, the SHA-256 "
        "of its cohort.json and what was left out. Written whole or not at all. "
        "See docs/cohort-format.md.",
    )
    merge.add_argument(
        "sources", metavar="COHORT", nargs="+", help="the cohort folders, at least two"
    )
    merge.add_argument(
        "--out", required=True, metavar="DIR", help="the merged cohort (a new or empty folder)"
    )
    merge.add_argument(
        "--leave-out-test",
        action="store_true",
        help="leave out of each cohort the test patients of fold --fold of its own split "
        "(--folds, --split-seed): the split training and evaluation make on that cohort "
        "alone, so that they stay its test set",
    )
    merge.add_argument(
        "--folds", type=int, metavar="K", help="folds of the split (with --leave-out-test)"
    )
    merge.add_argument(
        "--fold",
        type=int,
        metavar="F",
        help="the fold whose test patients to leave out (with --leave-out-test)",
    )
    merge.add_argument(
        "--split-seed",
        type=int,
        metavar="S",
        help="seed of the split (with --leave-out-test; default 0, as training's data.split_seed)",
    )
    merge.add_argument(
        "--link",
        action="store_true",
        help="link the patient folders instead of copying them: fast and small, but not "
        "portable: absolute links into the cohorts merged, which break or change with them, "
        "and are not copied by every tool",
    )
    merge.add_argument("--force", action="store_true", help="replace an existing cohort at --out")


def run(args: argparse.Namespace) -> int:
    """Run the action."""
    return _merge(args) if args.action == "merge" else _check(args)


def _check(args: argparse.Namespace) -> int:
    """Check the cohort and print the summary or the problems."""
    from mrsisr.data.check import check_cohort
    from mrsisr.data.cohort import Cohort

    problems = check_cohort(args.dir)
    if problems:
        for problem in problems:
            print(problem)
        return 2
    cohort = Cohort.open(args.dir)
    m = cohort.manifest
    shapes = Counter(cohort.map_shapes().values())
    if len(shapes) == 1:
        grids = f"grid {'x'.join(map(str, next(iter(shapes))))}"
    else:  # a merged cohort of several grids
        grids = "grids " + ", ".join(
            f"{'x'.join(map(str, shape))} ({count} patients)"
            for shape, count in sorted(shapes.items())
        )
    print(
        f"{cohort.root}: OK: {len(m.patients)} patients, {len(m.metabolites)} metabolites "
        f"({', '.join(x.value for x in m.metabolites)}), {grids}, units {m.units}"
    )
    return 0


def _merge(args: argparse.Namespace) -> int:
    """Merge the cohorts and print a one-line summary."""
    from mrsisr.data.merge import LeaveOut, plan_merge, write_merge

    split = {"--folds": args.folds, "--fold": args.fold, "--split-seed": args.split_seed}
    leave_out = None
    if args.leave_out_test:
        missing = [flag for flag in ("--folds", "--fold") if split[flag] is None]
        if missing:
            raise UserError(
                f"--leave-out-test: give {' and '.join(missing)}, the split whose test "
                "patients to leave out (as the training on each cohort alone: data.folds)"
            )
        leave_out = LeaveOut(args.folds, args.fold, args.split_seed or 0)
    elif any(value is not None for value in split.values()):
        given = ", ".join(flag for flag, value in split.items() if value is not None)
        raise UserError(f"{given}: only with --leave-out-test")
    start = time.perf_counter()
    plan = plan_merge(
        args.sources, args.out, leave_out=leave_out, link=args.link, overwrite=args.force
    )
    write_merge(plan)
    seconds = time.perf_counter() - start
    left = f", left out {len(plan.left_out)} ({leave_out})" if leave_out is not None else ""
    print(
        f"{'linked' if args.link else 'copied'} {len(plan.manifest.patients)} patients of "
        f"{len(plan.sources)} cohorts to {plan.out}{left} in {seconds:.1f} s"
    )
    return 0
