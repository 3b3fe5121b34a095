"""``mrsisr demo``: super-resolve an in-silico patient and draw a Fig. 3-style panel.

Makes one phantom patient (:func:`mrsisr.sim.cohort.make_phantom_cohort`), simulates its
low-resolution acquisitions at several ``n`` (:func:`mrsisr.kspace.degrade`, written as NIfTI
with the low-resolution affine), super-resolves them at several λ through the same code path
as ``mrsisr predict`` (with the mask it derives from T1 and FLAIR, as a user without a
quality mask gets), and draws zero-filling, the network at each λ, the ground truth and
FLAIR for a few metabolites through the tumour, with PSNR / SSIM inside the phantom's
quality mask (where the ground truth is defined) under each map, and writes ``report.html``
(``mrsisr report``) of the smallest ``n`` with test-time augmentation SD maps. Everything
goes to ``--out`` (default ``./demo_out``), replacing a previous demo there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mrsisr.commands._arguments import MODEL_FLAGS, add_model_arguments

HELP = "super-resolve an in-silico patient at several n and λ and draw a Fig. 3-style panel"
FLAGS = {**MODEL_FLAGS, "out": "--out", "ns": "--n", "sharpness": "--sharpness"}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""

DEMO_N = (16, 24, 32)
DEMO_SHARPNESS = (0.0, 0.03, 0.06, 0.09)


DEMO_SEED = 2026
"""Seed of the demo patient: not the seed of the shipped model's training cohort (0)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``demo`` options to ``parser``."""
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("demo_out"), help="output folder")
    parser.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        help="seed of the in-silico patient (default: one the shipped model never saw; the "
        "training cohort is `mrsisr phantom --seed 0`)",
    )
    parser.add_argument(
        "--n", type=int, nargs="+", default=list(DEMO_N), help="acquisition sizes to simulate"
    )
    parser.add_argument(
        "--sharpness",
        type=float,
        nargs="+",
        default=list(DEMO_SHARPNESS),
        metavar="LAMBDA",
        help="sharpness weights λ (the columns of the figure)",
    )
    parser.add_argument("--slices", type=int, default=None, help="slices of the phantom")


def run(args: argparse.Namespace) -> int:
    """Make the phantom, super-resolve it, draw the figure and print where everything is."""
    from mrsisr.demo import run_demo  # torch: loaded when run

    result = run_demo(
        model=args.model,
        out=args.out,
        seed=args.seed,
        ns=tuple(args.n),
        sharpness=tuple(args.sharpness),
        slices=args.slices,
        device=args.device,
        threads=args.threads,
    )
    print(f"phantom patient:       {result.phantom}")
    print(f"low-resolution inputs: {result.inputs}")
    print(f"super-resolved maps:   {result.outputs}")
    print(f"figure:                {result.figure}")
    print(f"report (open offline): {result.report}")
    return 0
