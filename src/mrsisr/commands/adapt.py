"""``mrsisr adapt``: fine-tune a model on a cohort's own maps and write it as a model file.

The inputs are those of ``mrsisr predict`` (maps and images, ``--manifest`` or ``--from
PIPELINE DIR``), read and checked the same way. Every fourth slice of each map is held out;
the self-check on those slices before and after is printed and recorded in the new file's
header with the base model's and the data's SHA-256 (docs/adapt.md)::

    mrsisr adapt --from mrsiprep derivatives/ --t1 t1.nii.gz --flair flair.nii.gz \\
        --out adapted.safetensors
    mrsisr predict --model adapted.safetensors --from mrsiprep derivatives/ ... --out sr/

An interrupted run started again with the same arguments resumes from its last state
(``<out>.state``, every 10 steps).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tqdm import tqdm

from mrsisr.commands._arguments import MODEL_FLAGS, add_model_arguments, check_model_out
from mrsisr.commands.predict import INPUT_FLAGS, add_input_arguments, grid_choice, scan_inputs
from mrsisr.errors import UserError

HELP = "fine-tune a model on a cohort's own maps (self-supervised) and write it"
FLAGS = {**INPUT_FLAGS, **MODEL_FLAGS}
"""The flags of ``mrsisr predict``'s inputs, which adapt reads, and of the model."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr adapt``."""
    add_input_arguments(parser)
    add_model_arguments(parser)
    how = parser.add_argument_group("adaptation (docs/adapt.md)")
    how.add_argument("--steps", type=int, default=60, help="optimiser steps (60)")
    how.add_argument("--lr", type=float, default=1e-5, help="Adam learning rate (1e-5)")
    how.add_argument(
        "--trainable",
        choices=("all", "conditioning"),
        default="all",
        help="all weights (default), or all but the convolution kernels",
    )
    how.add_argument("--seed", type=int, default=0, help="seed of every draw (0)")
    how.add_argument(
        "--no-probe",
        dest="probe",
        action="store_false",
        help="skip the probe adapted one octave down (half the time; the held-out check alone "
        "does not tell a harmful adaptation, docs/adapt.md)",
    )
    parser.add_argument(
        "--out", required=True, metavar="FILE", help="the adapted model (.safetensors)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")


def run(args: argparse.Namespace) -> int:
    """Check every input, adapt, write the model file, print what the self-check found."""
    from mrsisr.adapt import AdaptSettings, adapt, save_adapted
    from mrsisr.predict import adaptation_scans, load_predictor, plan_jobs
    from mrsisr.predict.checks import check_threads, model_limits, read_inputs

    out = check_model_out(args.out, args.overwrite)
    try:
        settings = AdaptSettings(
            steps=args.steps,
            lr=args.lr,
            trainable=args.trainable,
            seed=args.seed,
            probe=args.probe,
        )
    except ValueError as err:
        raise UserError(f"--steps/--lr/--seed: {err}") from None
    check_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:  # predict's outputs: never written
        jobs = plan_jobs(**scan_inputs(args), out=Path(scratch))
    limits = model_limits(args.model)
    grid = grid_choice(args)
    patients = read_inputs(
        jobs,
        grid,
        acquired_n=args.acquired_n,
        trained_n=limits.trained_n,
        trained=limits.trained,
    )
    predictor = load_predictor(limits.path, args.device, threads=args.threads)
    scans = adaptation_scans(patients, predictor, args.register, grid)
    with tqdm(total=settings.steps, unit="step", desc="adapting") as bar:

        def progress(step: int, loss: float) -> None:
            bar.n = step
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.refresh()

        state = out.with_name(out.name + ".state")
        result = adapt(predictor, scans, settings, progress=progress, resume=state)
    save_adapted(out, result, limits.path, scans)
    print(out)
    print(
        f"adapted on {len(scans)} map(s) in {result.seconds:.0f} s; held-out self-check "
        f"{result.before_db:+.2f} -> {result.after_db:+.2f} dB over zero-filling, probe "
        f"{result.probe_db:+.2f} dB "
        f"({'improved' if result.improved else 'not improved: predict with the base model'})"
    )
    return 0
