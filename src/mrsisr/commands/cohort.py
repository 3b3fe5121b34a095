"""``mrsisr cohort check DIR``: validate a cohort folder and list every problem."""

from __future__ import annotations

import argparse

from mrsisr.data.manifest import MASK_FILE

HELP = "validate a cohort folder (NIfTI maps, masks, T1/FLAIR, cohort.json)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` action and its folder argument."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="report every problem of a cohort, one line each (never modifies it)",
        description="Validate a cohort: exit 0 with a one-line summary if it is valid, "
        "else exit 2 with one line per problem, each naming its file. See docs/cohort-format.md.",
    )
    check.add_argument("dir", metavar="DIR", help="the cohort folder (holding cohort.json)")


def run(args: argparse.Namespace) -> int:
    """Check the cohort and print the summary or the problems."""
    from mrsisr.data.check import check_cohort
    from mrsisr.data.cohort import Cohort

    problems = check_cohort(args.dir)
    if problems:
        for problem in problems:
            print(problem)
        return 2
    from mrsisr.data.nifti import read_shape  # nibabel

    cohort = Cohort.open(args.dir)
    m = cohort.manifest
    grid = read_shape(cohort.root / m.patients[0] / MASK_FILE)
    print(
        f"{cohort.root}: OK: {len(m.patients)} patients, {len(m.metabolites)} metabolites "
        f"({', '.join(x.value for x in m.metabolites)}), grid {'x'.join(map(str, grid))}, "
        f"units {m.units}"
    )
    return 0
