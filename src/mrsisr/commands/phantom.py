"""``mrsisr phantom``: write the in-silico glioma cohort, and/or a preview picture of one."""

from __future__ import annotations

import argparse
import os
import time

from mrsisr.errors import UserError
from mrsisr.sim.final_test import FINAL_TEST_DIGEST, FINAL_TEST_PATIENTS, FINAL_TEST_SEED
from mrsisr.sim.simulators import Simulator

HELP = "generate an in-silico cohort (the paper's glioma phantom, or the randomised simulator)"
FLAGS = {"overwrite": "--force"}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the cohort size, grid, seed and preview options."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", metavar="DIR", help="folder of the cohort to create")
    where.add_argument(
        "--cohort", metavar="DIR", help="an existing cohort to preview (with --preview)"
    )
    parser.add_argument(
        "--simulator",
        choices=Simulator.choices(),
        default=Simulator.paper.value,
        help="paper: the glioma phantom of the reproduction (default); randomised: drawn "
        "anatomy, contrast, lesions and metabolism (training data); shifted: the same "
        "simulator with settings training never uses (a shifted test set); real-like: the "
        "shifted set with maps like real ones (weak tissue contrast, non-anatomical variation, "
        "a rim at the brain edge, heavy-tailed noise; a test set); realistic: training data, "
        "the randomised simulator with each of those effects drawn per patient and metabolite "
        "from none to strong (docs/data-pipeline.md); final: the final test set "
        f"(--patients {FINAL_TEST_PATIENTS} --seed {FINAL_TEST_SEED}, scored once per "
        "shipped model; docs/evaluation.md)",
    )
    parser.add_argument(
        "--patients", type=int, help=f"number of patients (15; final: {FINAL_TEST_PATIENTS})"
    )
    parser.add_argument("--seed", type=int, help=f"random seed (0; final: {FINAL_TEST_SEED})")
    parser.add_argument(
        "--first-patient",
        type=int,
        default=1,
        metavar="K",
        help="number of the first patient (1): patients K, K+1, ... of the cohort of --seed, "
        "so that two cohorts of one simulator (e.g. on two grids) hold different patients and "
        "can be merged",
    )
    parser.add_argument(
        "--grid", type=int, default=64, help="in-plane MRSI matrix over 217.6 mm (64: 3.4 mm)"
    )
    parser.add_argument(
        "--slices", type=int, default=None, help="3.4 mm axial slices (36, the whole brain)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="parallel processes (default: CPU count, at most 4)",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing cohort")
    parser.add_argument(
        "--preview", metavar="PNG", help="also write a picture of one slice of one patient"
    )
    parser.add_argument(
        "--patient",
        metavar="ID",
        nargs="+",
        help="patient to preview (the first); several IDs: one row each, with T1, mask and "
        "the NAA, tCr, tCho and Glu maps over the whole field of view",
    )
    parser.add_argument(
        "--slice", type=int, default=None, help="slice to preview (the one through the tumour)"
    )


def _check(args: argparse.Namespace) -> None:
    """Refuse bad arguments before writing anything."""
    final = args.simulator == Simulator.final
    if args.patients is None:
        args.patients = FINAL_TEST_PATIENTS if final else 15
    if args.seed is None:
        args.seed = FINAL_TEST_SEED if final else 0
    if final and (args.seed, args.patients, args.first_patient) != (
        FINAL_TEST_SEED,
        FINAL_TEST_PATIENTS,
        1,
    ):
        raise UserError(
            f"--simulator final: the final test set is --patients {FINAL_TEST_PATIENTS} "
            f"--seed {FINAL_TEST_SEED}, nothing else (docs/evaluation.md)"
        )
    for name, low in (("patients", 1), ("grid", 8), ("workers", 1), ("first_patient", 1)):
        if getattr(args, name) < low:
            flag = name.replace("_", "-")
            raise UserError(f"--{flag}: must be an integer >= {low}, got {getattr(args, name)}")
    if args.slices is not None and args.slices < 1:
        raise UserError(f"--slices: must be an integer >= 1, got {args.slices}")
    if args.preview is not None and not args.preview.lower().endswith(".png"):
        raise UserError(f"--preview: {args.preview}: give a .png file name")
    if args.cohort is not None and args.preview is None:
        raise UserError("--cohort: only previews an existing cohort; add --preview PNG")


def run(args: argparse.Namespace) -> int:
    """Generate the cohort (``--out``) and/or write the preview."""
    _check(args)
    from mrsisr.data.cohort import Cohort
    from mrsisr.sim.cohort import make_phantom_cohort
    from mrsisr.sim.preview import save_preview

    root = args.cohort
    if args.out is not None:
        start = time.perf_counter()
        root = make_phantom_cohort(
            args.out,
            patients=args.patients,
            seed=args.seed,
            grid=args.grid,
            slices=args.slices,
            workers=args.workers,
            overwrite=args.force,
            simulator=args.simulator,
            first=args.first_patient,
        )
        seconds = time.perf_counter() - start
        noun = "patient" if args.patients == 1 else "patients"
        print(f"wrote {args.patients} {noun} to {root} in {seconds:.1f} s")
        if args.simulator == Simulator.final:
            from mrsisr.sim.cohort import cohort_digest

            digest = cohort_digest(root)
            if digest == FINAL_TEST_DIGEST:
                same = "the final test set as generated on 2026-12-07"
            else:
                same = (
                    f"NOT the digest of 2026-12-07 ({FINAL_TEST_DIGEST[:12]}...): another "
                    "platform or simulator version; record it with the scores"
                )
            print(f"content SHA-256 {digest}: {same}")
    if args.preview is not None:
        cohort = Cohort.open(root)
        for pid in args.patient or ():
            if pid not in cohort.patients:
                raise UserError(f"--patient: {pid!r} is not in {root}")
        if args.patient is not None and len(args.patient) > 1:
            from mrsisr.sim.preview import save_patients_preview

            save_patients_preview(root, args.preview, args.patient, slice_index=args.slice)
        else:
            first = None if args.patient is None else args.patient[0]
            save_preview(root, args.preview, patient_id=first, slice_index=args.slice)
        print(f"wrote {args.preview}")
    return 0
